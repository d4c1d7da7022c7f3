"""The MLflow side of tracking: the store, its experiment, and the calls
that replay a journal into it.

Imports mlflow; used by the session's one writer (:mod:`.writer_process`),
by ``grd sync``, and by a case whose test reaches for live MLflow objects
(:mod:`.live`).  Every MLflow call goes through :meth:`TrackingStore.call`,
which turns a failure into a problem string instead of an exception, and
tells two failures apart:

* the store cannot be reached (connection refused or reset, a timeout,
  "database is locked", a 5xx from the server after its retries, an OSError
  writing artifacts): :attr:`TrackingStore.error` is set and nothing more is
  sent until the writer, after a pause, calls :meth:`TrackingStore.retry`;
  what was not sent stays in the journal;
* the store refused one request (an invalid value, a param changed, any 4xx):
  only that run is marked, and replay goes on.

A test's own bad call (a bad name, an over-long param, an artifact path out of
the run) never gets here: :class:`~pytest_grd.tracking.run.GrdRun` raises it
at the call.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repo import verify_artifact_path
from mlflow.tracking import MlflowClient

from .faults import refused, short, unreachable
from .preparation import initialized, quiet_store_setup
from .query import search_all_runs
from .registry import LockTimeout, locked
from .run import MetricPoint
from .settings import (
    TrackingSettings,
    TrackingUnavailable,
    check_reachable,
    is_http,
    lock_path,
    redact_uri,
    sqlite_path,
)
from .writer import METRICS_PER_BATCH, PARAMS_TAGS_PER_BATCH

__all__ = ["RunStatusName", "TrackingStore", "TrackingUnavailable"]

T = TypeVar("T")

#: MLflow's limit of entities in one ``log_batch`` (see also .writer).
_ENTITIES_PER_BATCH = 1000
_INPUT_TAG_VALUE = 500
_DIGEST = 36

RunStatusName = str  # "FINISHED" | "FAILED" | "KILLED"


class TrackingStore:
    """One per process: the MLflow client, the experiment, the parent runs of
    this session, and the runs this process has open."""

    def __init__(self, settings: TrackingSettings, timeout: float = 10.0) -> None:
        self.settings = settings
        self.uri = settings.uri
        self.experiment_id: str | None = None
        #: Why the store cannot be reached (the last such failure); while set,
        #: nothing is sent (see module doc) until :meth:`retry` clears it.
        #: A refused request is not here.
        self.error: str | None = None
        if is_http(self.uri):
            # MLflow retries a failing request 7 times with exponential backoff
            # (minutes); the writer retries itself, later, from the journal.
            for name, value in (
                ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1"),
                ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
                ("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, round(timeout)))),
                # Else every ended run prints a "View run" link (and costs one
                # more request).
                ("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true"),
            ):
                os.environ.setdefault(name, value)
        self._client: MlflowClient | None = None

    def retry(self) -> None:
        """Forget the last outage: the next call is sent again."""
        self.error = None

    # -- plumbing ------------------------------------------------------------

    @property
    def client(self) -> MlflowClient:
        """The MLflow client for this store (created on first use)."""
        if self._client is None:
            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    @property
    def shown_uri(self) -> str:
        return redact_uri(self.uri)

    def call(
        self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> tuple[T | None, str | None]:
        """Run one MLflow call: ``(result, None)``, or ``(None, problem)`` on
        failure (tracking must never change a verdict).  A store that cannot
        be reached sets :attr:`error`, and every later call is ``(None,
        error)`` without being sent; a refused request only returns
        ``"<what> refused: ..."`` for the caller's record."""
        if self.error is not None:
            return None, self.error
        try:
            return fn(*args, **kwargs), None
        except Exception as exc:  # any store/server failure: keep the session going
            down = self.unreachable(exc)
            if down is not None:
                self.error = f"{down}: {what}: {short(exc)}"
                return None, self.error
            return None, f"{what} refused: {refused(exc)}"

    def unreachable(self, exc: BaseException) -> str | None:
        """See :func:`pytest_grd.tracking.faults.unreachable`."""
        return unreachable(exc, is_http(self.uri))

    def not_logged(self) -> str:
        return f"not logged to {self.shown_uri}: {self.error or 'tracking unavailable'}"

    # -- session start -------------------------------------------------------

    def prepare(self, timeout: float, creating: Callable[[], None] | None = None) -> str:
        """Create (or migrate) the store and the experiment, once, under an
        inter-process lock held at most ``timeout`` seconds; the experiment id.
        Raises :class:`TrackingUnavailable` (one line) when that fails.
        ``creating`` is called once this process holds the lock to make a
        new SQLite store (seconds of work, not a wait)."""
        if self.experiment_id is not None:
            return self.experiment_id
        check_reachable(self.uri)
        db = sqlite_path(self.uri)
        if db is not None and not db.parent.is_dir():
            raise TrackingUnavailable(
                f"grd: cannot create the MLflow store {self.shown_uri}: "
                f"directory {db.parent} does not exist"
            )
        if db is not None and initialized(db):
            # An existing store: open it (engine, schema check: most of the
            # cost) under a shared lock, so that workers do this in parallel
            # but never while another process is still creating the schema.
            # Anything odd is retried below, under the exclusive lock.
            try:
                with (
                    locked(lock_path(self.uri), timeout, shared=True),
                    warnings.catch_warnings(),
                ):
                    warnings.simplefilter("ignore", DeprecationWarning)
                    found = self.client.get_experiment_by_name(self.settings.experiment)
                if found is not None and found.lifecycle_stage != "deleted":
                    self.experiment_id = str(found.experiment_id)
                    return self.experiment_id
            except LockTimeout as exc:
                raise TrackingUnavailable(f"grd: cannot prepare the MLflow store: {exc}") from None
            except Exception:
                self._client = None
        try:
            with (
                locked(lock_path(self.uri), timeout),
                warnings.catch_warnings(),
                quiet_store_setup(),
            ):
                # SQLAlchemy/alembic deprecation noise from MLflow's store
                # setup is not the user's to act on.
                warnings.simplefilter("ignore", DeprecationWarning)
                if creating is not None and db is not None and not initialized(db):
                    creating()
                self.experiment_id = self._experiment_locked()
        except LockTimeout as exc:
            raise TrackingUnavailable(f"grd: cannot prepare the MLflow store: {exc}") from None
        except TrackingUnavailable:
            raise
        except Exception as exc:
            raise TrackingUnavailable(
                f"grd: cannot prepare the MLflow store {self.shown_uri}: {short(exc)}"
            ) from None
        return self.experiment_id

    def _experiment_locked(self) -> str:
        client = self.client
        name = self.settings.experiment
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            location = None
            db = sqlite_path(self.uri)
            if db is not None:
                # Next to the database, not MLflow's ./mlruns (whose presence
                # would make a later `mlflow ui` read the file store instead).
                safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
                location = (db.parent / "mlartifacts" / safe).as_uri()
            return str(client.create_experiment(name, artifact_location=location))
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return str(experiment.experiment_id)

    # -- runs ----------------------------------------------------------------

    def create_run(self, tags: Mapping[str, str], name: str, start_ms: int | None) -> str:
        """A new RUNNING run in the experiment (raises: the caller decides)."""
        if self.experiment_id is None:
            raise RuntimeError("TrackingStore.prepare() must come first")
        run = self.client.create_run(
            self.experiment_id, start_time=start_ms, tags=dict(tags), run_name=name
        )
        return str(run.info.run_id)

    def runs_by_key(self, session_id: str) -> dict[str, str]:
        """Run keys of a session's runs already in the store (``grd.run_key``)."""
        if self.experiment_id is None:
            return {}
        found: dict[str, str] = {}
        for run in search_all_runs(
            self.client, self.experiment_id, f"tags.`grd.session_id` = '{session_id}'"
        ):
            key = run.data.tags.get("grd.run_key")
            if key:
                found.setdefault(key, run.info.run_id)
        return found

    def terminate(self, run_id: str, status: str, end_ms: int | None) -> str | None:
        """End a run with ``status``; the problem, or ``None``."""
        return self.call("end run", self.client.set_terminated, run_id, status, end_time=end_ms)[1]

    def log_lineage(self, run_id: str, lineage: list[dict[str, Any]]) -> str | None:
        """Log a case's data inputs; the problem, or ``None``."""
        return self.call("log data lineage", self._log_lineage, run_id, lineage)[1]

    def _log_lineage(self, run_id: str, lineage: list[dict[str, Any]]) -> None:
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.sources import LocalArtifactDatasetSource  # type: ignore[attr-defined]

        datasets = []
        # MLflow keeps one input per dataset name and digest (the first): its
        # context names every use of those bytes in the case, in order.
        contexts: dict[tuple[str, str], list[str]] = {}
        for entry in lineage:
            md5 = entry.get("md5")
            path = str(entry.get("path") or entry.get("target") or "")
            dataset = MetaDataset(  # type: ignore[abstract]
                LocalArtifactDatasetSource(path),
                name=str(entry.get("target") or path)[:500],
                # The digest column is String(36): an md5 or "<md5>.dir" fits.
                digest=str(md5)[:_DIGEST] if md5 else "unversioned",
            )
            # How the case used the data (training, evaluation, ...);
            # entries recorded before the context existed: training.
            context = str(entry.get("context") or "training")
            uses = contexts.setdefault((dataset.name, dataset.digest), [])
            if context not in uses:
                uses.append(context)
            datasets.append((entry, dataset, uses))
        inputs = []
        for entry, dataset, uses in datasets:
            input_tags = [
                InputTag(key="mlflow.data.context", value=", ".join(uses)[:_INPUT_TAG_VALUE])
            ]
            for key in ("rev_requested", "rev_resolved", "source", "versioned", "schema"):
                value = entry.get(key)
                if value is not None:
                    input_tags.append(
                        InputTag(key=f"grd.{key}", value=str(value)[:_INPUT_TAG_VALUE])
                    )
            if entry.get("validation") is not None:
                input_tags.append(InputTag(key="grd.validation", value=str(entry["validation"])))
            inputs.append(DatasetInput(dataset=dataset._to_mlflow_entity(), tags=input_tags))
        self.client.log_inputs(run_id, datasets=inputs)

    def write(
        self,
        run_id: str,
        metrics: list[MetricPoint],
        params: Mapping[str, str],
        tags: Mapping[str, str],
    ) -> str | None:
        """Send a buffer with as few ``log_batch`` calls as MLflow's limits
        allow (1000 entities, 100 params or tags per call); the first problem,
        or ``None``.  A refused batch does not stop the next; a lost store does."""
        metric_entities = [Metric(k, v, ts, step) for k, v, ts, step in metrics]
        param_entities = [Param(k, v) for k, v in params.items()]
        tag_entities = [RunTag(k, v) for k, v in tags.items()]
        first: str | None = None
        while metric_entities or param_entities or tag_entities:
            batch_params = param_entities[:PARAMS_TAGS_PER_BATCH]
            batch_tags = tag_entities[:PARAMS_TAGS_PER_BATCH]
            room = _ENTITIES_PER_BATCH - len(batch_params) - len(batch_tags)
            batch_metrics = metric_entities[: min(room, METRICS_PER_BATCH)]
            del param_entities[: len(batch_params)]
            del tag_entities[: len(batch_tags)]
            del metric_entities[: len(batch_metrics)]
            problem = self._log_batch(run_id, batch_metrics, batch_params, batch_tags)
            if problem is not None and self.error is None:
                # One refused entry refuses the whole batch: send each kind
                # alone, so that a refused param does not cost the run its
                # metrics or its verdict tags.
                kinds = [k for k in (batch_metrics, batch_params, batch_tags) if k]
                if len(kinds) > 1:
                    self._log_batch(run_id, batch_metrics, [], [])
                    self._log_batch(run_id, [], batch_params, [])
                    self._log_batch(run_id, [], [], batch_tags)
            first = first or problem
            if self.error is not None:
                return self.error
        return first

    def _log_batch(
        self, run_id: str, metrics: list[Metric], params: list[Param], tags: list[RunTag]
    ) -> str | None:
        if not (metrics or params or tags):
            return None
        _, problem = self.call(
            "log batch",
            self.client.log_batch,
            run_id,
            metrics=metrics,
            params=params,
            tags=tags,
            synchronous=True,
        )
        return problem

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None) -> str | None:
        """Upload one file now; the problem, or ``None``."""
        return self._upload(
            "log artifact", self.client.log_artifact, run_id, local_path, artifact_path
        )

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None) -> str | None:
        """Upload a directory now; the problem, or ``None``."""
        return self._upload(
            "log artifacts", self.client.log_artifacts, run_id, local_dir, artifact_path
        )

    def _upload(
        self,
        what: str,
        fn: Callable[[str, str, str | None], None],
        run_id: str,
        local: str,
        artifact_path: str | None,
    ) -> str | None:
        # MLflow raises a bad artifact path as an INTERNAL_ERROR, which from a
        # server would read as an outage: refuse it here, as the request it is.
        try:
            verify_artifact_path(artifact_path)  # type: ignore[no-untyped-call]
        except MlflowException as exc:
            return f"{what} refused: {refused(exc)}"
        return self.call(what, fn, run_id, local, artifact_path)[1]
