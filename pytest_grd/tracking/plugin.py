"""Tracking plugin: opens and closes the MLflow run of every case.

Registered in every session but cheap: mlflow is imported (through
:mod:`pytest_grd.tracking.store`) only once the session has collected a
hypothesis, or, on an xdist controller, once a worker reports a tracked run.

Life of a session's runs:

* ``pytest_collection_finish`` (each process that collected hypotheses, before
  xdist hears that collection is done): the store, the experiment and one
  parent run per hypothesis are prepared under an inter-process lock;
* ``pytest_grd_case_started`` / ``pytest_grd_case_finished`` (where the case
  runs): the case's child run is opened, then flushed, tagged with its verdict
  and ended;
* on the controller, ``pytest_grd_case_record`` fails the run of a case whose
  worker crashed and ``pytest_grd_session_results`` ends the parents with the
  rolled-up verdict;
* ``pytest_sessionfinish``: runs still open (an interrupted session) are KILLED.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any

import pytest

from ..keys import CASE_KEY
from ..session import get_session
from ..settings import get_settings
from ..verdict import Verdict

if TYPE_CHECKING:
    from ..case import Case
    from ..record import CaseRecord, HypothesisResult
    from .settings import TrackingSettings
    from .store import TrackingStore

__all__ = ["TrackingPlugin"]

_FINISHED, _FAILED, _KILLED = "FINISHED", "FAILED", "KILLED"


class TrackingPlugin:
    """pytest hooks of the tracking concern (one instance per process)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.grd_settings = get_settings(config)
        self.enabled: bool = self.grd_settings.tracking
        self.is_worker = self.grd_settings.is_worker
        #: Set once this process tracks (prepared a store, or, on an xdist
        #: controller, needs one to close runs).
        self.store: TrackingStore | None = None
        #: Parent runs prepared by xdist workers (from ``workeroutput``).
        self.worker_parents: dict[str, str] = {}
        #: Parent runs already ended on this controller.
        self._ended: set[str] = set()
        #: Parent runs that could not be ended (for the terminal line).
        self._parent_errors: list[str] = []
        #: Background import of MLflow on an xdist controller.
        self._warmup: threading.Thread | None = None

    # -- settings and store --------------------------------------------------

    def settings(self) -> TrackingSettings:
        """Where runs go, resolved in the documented order."""
        from .settings import TrackingSettings

        s = self.grd_settings
        return TrackingSettings(
            uri=s.tracking_uri,
            source=s.tracking_uri_source,
            experiment=s.experiment,
            env_allowlist=s.env_allowlist,
        )

    def _new_store(self) -> TrackingStore:
        from .store import TrackingStore

        grd = get_session(self.config)
        return TrackingStore(
            self.settings(), self.config.rootpath, self.grd_settings.worker_id, grd.session_id
        )

    def _controller_store(self) -> TrackingStore:
        if self.store is None:
            self.store = self._new_store()
        return self.store

    def _session_meta(self) -> str:
        """The session's report header (command, git state, machine,
        packages) as JSON, kept on each parent run so that ``grd report``
        built from the store shows the session's provenance, not its own."""
        import json

        from ..report.meta import collect_meta
        from ..tracking.tags import MAX_TAG_VALUE

        meta = collect_meta(
            self.config.invocation_params.args,
            self.config.rootpath,
            scale=self.grd_settings.scale,
            session_id=get_session(self.config).session_id,
        )
        text = json.dumps(meta, sort_keys=True, default=str)
        if len(text) > MAX_TAG_VALUE:  # the package list is what grows
            meta.pop("packages", None)
            text = json.dumps(meta, sort_keys=True, default=str)
        return text if len(text) <= MAX_TAG_VALUE else ""

    # -- session start -------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Prepare the store and this session's parent runs before any case
        runs (and, under xdist, before the worker reports its collection)."""
        if not self.enabled or self.config.option.collectonly:
            return
        hypotheses: dict[str, str] = {}
        for item in session.items:
            case: Case | None = item.stash.get(CASE_KEY, None)
            if case is not None:
                hypotheses.setdefault(case.record.hypothesis, case.record.claim)
        if not hypotheses:
            return  # no hypothesis: no mlflow import, no store
        from .settings import TrackingUnavailable, check_reachable

        try:
            # A dead server is reported before the ~2 s of importing mlflow.
            check_reachable(self.settings().uri)
            store = self._new_store()
            store.session_meta = self._session_meta()
            store.prepare(hypotheses, self.grd_settings.scale)
        except TrackingUnavailable as exc:
            if not self.is_worker:
                raise pytest.UsageError(str(exc)) from None
            # A worker cannot end the session with a usage error: it runs
            # nothing and asks the controller to stop, which prints the reason
            # once (xdist turns a worker's shouldstop into the session's).
            session.shouldstop = str(exc)
            session.items[:] = []
            return
        self.store = store

    # -- cases ---------------------------------------------------------------

    def pytest_grd_case_started(self, item: pytest.Item, case: Case) -> None:
        """Open the case's run under its hypothesis's parent run."""
        if self.store is None:
            return
        from .run import run_for_case

        writer = self.store.open_case(case.record)
        if writer is not None:
            run_for_case(case).attach(writer)

    def pytest_grd_case_finished(self, item: pytest.Item, case: Case) -> None:
        """Flush the case's buffer, tag its verdict, log its data lineage, end its run."""
        store = self.store
        if store is None or case.record.run_id is None:
            return
        writer = store.open_runs.get(case.record.run_id)
        if writer is None:
            # Already closed: a teardown error turned a decided case
            # INCONCLUSIVE afterwards; the run follows its record.
            if case.record.extra.get("teardown_error"):
                store.fail_run(case.record)
            return
        record = case.record
        status = (
            _FAILED if record.verdict is Verdict.INCONCLUSIVE and record.is_error else _FINISHED
        )
        store.close_case(writer, status)

    # -- controller ----------------------------------------------------------

    def pytest_grd_case_record(self, record: CaseRecord, config: pytest.Config) -> None:
        """A worker died during this case: its run is FAILED, INCONCLUSIVE.

        On an xdist controller, the first record also means runs must be
        closed at the end: MLflow is imported now, in the background while the
        workers run the other cases, instead of on the session's critical path."""
        if not self.enabled:
            return
        if not self.is_worker and self.store is None and self._warmup is None:
            self._warmup = threading.Thread(
                target=importlib.import_module,
                args=("pytest_grd.tracking.store",),
                name="grd-mlflow-import",
                daemon=True,
            )
            self._warmup.start()
        if not record.extra.get("crashed") or not record.run_id:
            return
        self._controller_store().fail_run(record)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Collect the parent runs a worker prepared (even if none of its
        cases finished, the controller must end them)."""
        output = getattr(node, "workeroutput", None) or {}
        data = output.get("grd_tracking") or {}
        for hypothesis, run_id in (data.get("parents") or {}).items():
            self.worker_parents.setdefault(str(hypothesis), str(run_id))

    def pytest_grd_session_results(
        self, results: list[HypothesisResult], config: pytest.Config, session: pytest.Session
    ) -> None:
        """End each hypothesis's parent run with its verdict, counts and stats."""
        if not self.enabled:
            return
        parents = self._known_parents()
        for result in results:
            run_id = result.parent_run_id or parents.get(result.id)
            if run_id is None or run_id in self._ended:
                continue
            self._end_parent(run_id, result, _KILLED if _interrupted(session) else _FINISHED)

    def _known_parents(self) -> dict[str, str]:
        parents = dict(self.worker_parents)
        if self.store is not None:
            parents.update(self.store.parents)
        return parents

    def _end_parent(self, run_id: str, result: HypothesisResult | None, status: str) -> None:
        self._ended.add(run_id)
        store = self._controller_store()
        if not store.end_parent(run_id, result, status):
            name = result.id if result is not None else run_id
            self._parent_errors.append(f"{name} (parent)")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """KILL runs left open; end parents that got no verdict; tell the
        controller which parents a worker prepared."""
        if not self.enabled:
            return
        store = self.store
        if store is not None and store.open_runs:
            store.kill_open_runs()
        if self.is_worker:
            if store is not None:
                self.config.workeroutput["grd_tracking"] = {  # type: ignore[attr-defined]
                    "parents": dict(store.parents),
                    "error": store.error,
                }
            return
        # Parents no result ended: no case of theirs finished (interrupted,
        # -x, or every case lost with a crashed worker).
        for run_id in self._known_parents().values():
            if run_id not in self._ended:
                self._end_parent(run_id, None, _KILLED)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """One line naming the runs that did not reach the store."""
        if not self.enabled or self.is_worker:
            return
        records = get_session(self.config).records
        lost = [r for r in records if r.extra.get("tracking_error")]
        names = [r.name for r in lost] + self._parent_errors
        if not names:
            return
        first = str(lost[0].extra["tracking_error"]) if lost else self._store_error()
        shown = ", ".join(names[:20]) + (
            f", ... ({len(names) - 20} more)" if len(names) > 20 else ""
        )
        terminalreporter.write_line(
            f"grd tracking: {len(names)} run(s) {first}; verdicts are in this summary and "
            f"the report: {shown}",
            yellow=True,
            bold=True,
        )

    def _store_error(self) -> str:
        store = self.store
        return store.not_logged() if store is not None else "not logged"


def _interrupted(session: pytest.Session) -> bool:
    return int(getattr(session, "exitstatus", 0) or 0) == int(pytest.ExitCode.INTERRUPTED)
