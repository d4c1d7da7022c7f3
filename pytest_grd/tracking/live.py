"""A case's run made in the store while the case runs, for MLflow's own API.

Most cases never need this: what they log goes to the journal.  A case needs
its run live when the test reaches for ``grd_run.client`` / ``.mlflow`` /
``.run``, or when its process has imported MLflow (the test, or the training
code it calls, may use ``mlflow.log_metric``, ``mlflow.log_model`` or
``mlflow.<flavor>.autolog()``).  Then this process makes the case's run (once
per run key: :class:`~.registry.RunRegistry`, shared with the session's
writer), makes it MLflow's active run, so that MLflow's fluent calls land in
it without the test starting a run, and ends it with the case.  The journal
still gets everything grd logged; the writer, finding the run made, sends it
there (sending twice changes nothing).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .journal import parent_key
from .registry import RunRegistry
from .settings import TrackingSettings, TrackingUnavailable
from .tags import parent_tags, shared_tags

if TYPE_CHECKING:
    from .store import TrackingStore
    from .writer import CaseRunWriter

__all__ = ["LiveRun", "LiveRunError"]

_STORES: dict[str, TrackingStore] = {}
_URI_ENV = "MLFLOW_TRACKING_URI"


class LiveRunError(RuntimeError):
    """The case's run could not be made in the store (one line)."""


def _store(writer: CaseRunWriter) -> TrackingStore:
    from .store import TrackingStore

    target = writer.target
    store = _STORES.get(target.uri)
    if store is None:
        settings = TrackingSettings(uri=target.uri, source="", experiment=target.experiment)
        store = TrackingStore(settings, target.timeout)
        _STORES[target.uri] = store
    store.retry()
    store.prepare(target.timeout)
    return store


class LiveRun:
    """The store side of one case whose run is live."""

    def __init__(
        self, store: TrackingStore, run_id: str, started: bool, previous_uri: str | None
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.started = started
        #: ``MLFLOW_TRACKING_URI`` before the case: :func:`mlflow.set_tracking_uri`
        #: exports its argument to the environment, which every process the
        #: session starts later (a notebook kernel, a nested pytest) inherits.
        self.previous_uri = previous_uri

    @property
    def client(self) -> Any:
        return self.store.client

    @classmethod
    def start(cls, writer: CaseRunWriter) -> LiveRun:
        try:
            store = _store(writer)
        except TrackingUnavailable as exc:
            raise LiveRunError(str(exc)) from None
        target = writer.target
        entry = writer.open_entry
        registry = RunRegistry(target.journal.directory, target.uri, timeout=target.timeout)
        hyp = str(entry["hyp"])

        def make_parent() -> str:
            tags = parent_tags(hyp, str(entry["claim"]), str(entry["scale"]))
            shared = shared_tags(entry["tags"])
            key = parent_key(target.session_id, hyp)
            return store.create_run({**shared, **tags, "grd.run_key": key}, hyp, entry["start"])

        parent_id, _ = registry.ensure(parent_key(target.session_id, hyp), make_parent)

        def make_run() -> str:
            tags = {**entry["tags"], "mlflow.parentRunId": parent_id, "grd.run_key": writer.key}
            run_id = store.create_run(tags, str(entry["name"]), entry["start"])
            store.client.log_batch(run_id, params=_params(entry.get("params") or {}))
            return run_id

        run_id, _ = registry.ensure(writer.key, make_run)
        target.journal.append({"op": "bound", "key": writer.key, "run_id": run_id})
        record = writer.record
        record.run_id, record.parent_run_id = run_id, parent_id
        record.experiment_id = store.experiment_id
        previous_uri = os.environ.get(_URI_ENV)
        started = _activate(store, run_id)
        return cls(store, run_id, started, previous_uri)

    def send(self, metrics: list[Any], params: dict[str, str], tags: dict[str, str]) -> None:
        self.store.retry()
        self.store.write(self.run_id, metrics, params, tags)

    def upload(self, local: Path, artifact_path: str | None, is_dir: bool) -> None:
        send = self.store.log_artifacts if is_dir else self.store.log_artifact
        send(self.run_id, str(local), artifact_path)

    def end(self, taken: dict[str, Any], status: str) -> None:
        """The case is over: send the rest now and leave MLflow's active run."""
        self.send(taken["metrics"], taken["params"], taken["tags"])
        import mlflow

        active = mlflow.active_run()
        if active is not None and active.info.run_id == self.run_id:
            mlflow.end_run(status)
        else:
            self.store.terminate(self.run_id, status, None)
        os.environ.pop("MLFLOW_RUN_ID", None)
        # None unsets it again (MLflow's code handles it; its hint omits it).
        mlflow.set_tracking_uri(self.previous_uri)  # type: ignore[arg-type]


def _params(params: dict[str, str]) -> list[Any]:
    from mlflow.entities import Param

    return [Param(k, v) for k, v in params.items()]


def _activate(store: TrackingStore, run_id: str) -> bool:
    """Make ``run_id`` MLflow's active run in this process (fluent API,
    autologging); ``False`` when another run is active already."""
    import mlflow

    mlflow.set_tracking_uri(store.uri)
    if mlflow.active_run() is not None:
        return False
    mlflow.start_run(run_id=run_id)
    return True
