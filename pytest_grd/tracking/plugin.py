"""Tracking plugin: every case's run goes to a local journal first, and one
writer per session sends the journal to MLflow.

Registered in every session but cheap: nothing is imported or written until
the session has collected a hypothesis.  Life of a session's runs:

* ``pytest_collection_finish`` (each process that collected hypotheses): a
  server URI is checked (one line if it does not answer), and the process's
  journal is opened under ``.grd/journal/<session>/``; the controller (the
  only process, or the xdist controller once a worker has collected) takes
  the session's lock and starts the writer process (:mod:`.background`);
* ``pytest_grd_case_started`` / ``pytest_grd_case_finished`` (where the case
  runs): the case's ``open`` and ``close`` lines, with what the test logged in
  between, no MLflow import (unless the test uses MLflow itself: :mod:`.live`);
* on the controller, ``pytest_grd_case_record`` journals the end of a case
  whose worker crashed, and ``pytest_grd_session_results`` the end of each
  hypothesis's parent run, then waits (at most ``grd_tracking_timeout``) for
  the writer, fills the run ids into the records for the report, and prunes
  the journal once the store has all of it;
* ``pytest_terminal_summary``: one line when runs are left in the journal,
  with how to send them (``grd sync``).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest

from ..keys import CASE_KEY
from ..session import get_session
from ..settings import get_settings
from ..text import one_line
from ..verdict import Verdict
from .journal import MAIN, Journal, SessionLock, parent_key, run_key, session_dir, write_json
from .settings import redact_uri

if TYPE_CHECKING:
    from pathlib import Path

    from ..case import Case
    from ..record import CaseRecord, HypothesisResult
    from .background import BackgroundWriter, WriterOutcome
    from .writer import CaseRunWriter, RunTarget

__all__ = ["TrackingPlugin"]

_FINISHED, _FAILED, _KILLED = "FINISHED", "FAILED", "KILLED"


class TrackingPlugin:
    """pytest hooks of the tracking concern (one instance per process)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.grd_settings = get_settings(config)
        self.enabled: bool = self.grd_settings.tracking
        self.is_worker = self.grd_settings.is_worker
        self.uri = self.grd_settings.tracking_uri
        #: Set once this process runs cases to track.
        self.target: RunTarget | None = None
        self.common_tags: dict[str, str] = {}
        #: Cases open in this process, by node id; the last one closed.
        self.open: dict[str, CaseRunWriter] = {}
        self.last_closed: CaseRunWriter | None = None
        #: Controller: the session's journal folder, lock, writer, outcome.
        self.directory: Path | None = None
        self.lock: SessionLock | None = None
        self.writer: BackgroundWriter | None = None
        self.outcome: WriterOutcome | None = None
        self._main_journal: Journal | None = None
        self._finished = False

    @property
    def session_id(self) -> str:
        return get_session(self.config).session_id

    # -- session start -------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Open this process's journal (and, on the controller, start the
        writer) before any case runs and before xdist hears of the collection."""
        if not self.enabled or self.config.option.collectonly:
            return
        if not any(CASE_KEY in item.stash for item in session.items):
            return  # no hypothesis: no journal, no writer
        from .settings import TrackingUnavailable, check_reachable

        if not self.grd_settings.tracking_offline:
            try:
                check_reachable(self.uri)
            except TrackingUnavailable as exc:
                if not self.is_worker:
                    raise pytest.UsageError(f"{exc}, or --grd-offline") from None
                # A worker asks the controller to stop, which prints the
                # reason once (xdist turns a worker's shouldstop into the session's).
                session.shouldstop = str(exc)
                session.items[:] = []
                return
        self._open_journal()
        if not self.is_worker:
            self._start_session()

    def _open_journal(self) -> None:
        from .tags import env_tags, git_tags, process_tags
        from .writer import RunTarget

        s = self.grd_settings
        directory = session_dir(s.rootpath, self.session_id)
        directory.mkdir(parents=True, exist_ok=True)
        journal = Journal(directory, s.worker_id or MAIN)
        if not self.is_worker:
            self._main_journal = journal
        self.target = RunTarget(
            journal, self.uri, s.experiment, self.session_id, s.tracking_timeout
        )
        self.common_tags = {
            **process_tags(s.worker_id, self.session_id),
            **git_tags(s.rootpath),
            **env_tags(s.env_allowlist, os.environ),
        }

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """xdist controller: a worker that collected hypotheses made the
        session's journal folder; start the writer now, while cases run."""
        root = self.grd_settings.rootpath
        if self.enabled and self.directory is None and session_dir(root, self.session_id).is_dir():
            self._start_session()

    def _start_session(self) -> None:
        from .background import BackgroundWriter

        s = self.grd_settings
        self.directory = session_dir(s.rootpath, self.session_id)
        self.lock = SessionLock(self.directory)
        self.lock.acquire()
        write_json(
            self.directory / "session.json",
            {
                "session_id": self.session_id,
                "uri": redact_uri(self.uri),
                "experiment": s.experiment,
                "started": time.time(),
                "meta": self._session_meta(),
            },
        )
        if not s.tracking_offline:
            self.writer = BackgroundWriter(
                self.directory,
                self.session_id,
                self.uri,
                s.experiment,
                s.tracking_timeout,
                s.tracking_writer_idle,
            )

    def _session_meta(self) -> str:
        """The session's report header (command, git state, machine,
        packages) as JSON, kept on each parent run so that ``grd report``
        built from the store shows the session's provenance, not its own."""
        import json

        from ..report.meta import collect_meta
        from .tags import MAX_TAG_VALUE

        meta = collect_meta(
            self.config.invocation_params.args,
            self.config.rootpath,
            scale=self.grd_settings.scale,
            session_id=self.session_id,
        )
        text = json.dumps(meta, sort_keys=True, default=str)
        if len(text) > MAX_TAG_VALUE:  # the package list is what grows
            meta.pop("packages", None)
            text = json.dumps(meta, sort_keys=True, default=str)
        return text if len(text) <= MAX_TAG_VALUE else ""

    # -- cases ---------------------------------------------------------------

    def pytest_grd_case_started(self, item: pytest.Item, case: Case) -> None:
        """Journal the case's ``open`` line; give ``grd_run`` its writer."""
        target = self.target
        if target is None:
            return
        from .run import run_for_case
        from .tags import case_params, case_tags
        from .writer import CaseRunWriter

        record = case.record
        record.tracking_uri = redact_uri(self.uri)
        key = run_key(self.session_id, item.nodeid)
        record.extra["run_key"] = key
        entry: dict[str, Any] = {
            "op": "open",
            "key": key,
            "hyp": record.hypothesis,
            "claim": record.claim,
            "scale": record.scale,
            "name": record.name,
            "start": int((record.started_at or time.time()) * 1000),
            "tags": {**self.common_tags, **case_tags(record)},
            "params": case_params(record),
        }
        writer = CaseRunWriter(target, record, key, entry)
        run_for_case(case).attach(writer)
        self.open[item.nodeid] = writer
        if "mlflow" in sys.modules and not self.grd_settings.tracking_offline:
            # The test or its training code may log through MLflow's own API:
            # the case's run must exist and be active before it does.
            try:
                writer.bind()
            except Exception as exc:
                record.extra["tracking_error"] = one_line(f"live run not made: {exc}", 300)

    def pytest_grd_case_finished(self, item: pytest.Item, case: Case) -> None:
        """Journal the case's ``close`` line: the rest of its buffer, its
        verdict, its record and data lineage (fsync'd)."""
        writer = self.open.pop(item.nodeid, None)
        if writer is None:
            # Closed already: a teardown error turned a decided case
            # INCONCLUSIVE afterwards; the run follows its record.
            last = self.last_closed
            if (
                last is not None
                and last.record is case.record
                and case.record.extra.get("teardown_error")
            ):
                self._close(last, _FAILED)
            return
        record = case.record
        failed = record.verdict is Verdict.INCONCLUSIVE and record.is_error
        self._close(writer, _FAILED if failed else _FINISHED)

    def _close(self, writer: CaseRunWriter, status: str) -> None:
        from .tags import verdict_tags

        record = writer.record
        try:
            writer.close(status, verdict_tags(record.verdict, record.reason))
        except OSError as exc:  # a full disk: the verdict stands, the run is lost
            record.extra["tracking_error"] = one_line(f"not journaled: {exc}", 300)
        self.last_closed = writer

    def _close_open(self, reason: str) -> None:
        """Cases still open (an interrupted session): INCONCLUSIVE, KILLED."""
        for writer in list(self.open.values()):
            writer.record.verdict = Verdict.INCONCLUSIVE
            writer.record.reason = reason
            self._close(writer, _KILLED)
        self.open.clear()

    # -- controller ----------------------------------------------------------

    def _journal(self) -> Journal | None:
        if self.directory is None:
            return None
        if self._main_journal is None:
            self._main_journal = Journal(self.directory, MAIN)
        return self._main_journal

    def pytest_grd_case_record(self, record: CaseRecord, config: pytest.Config) -> None:
        """A worker died during this case: its run ends FAILED, INCONCLUSIVE."""
        journal = self._journal() if self.enabled else None
        if journal is None or not record.extra.get("crashed"):
            return
        from .tags import case_tags, record_tags, verdict_tags

        journal.append(
            {
                "op": "fail",
                "key": run_key(self.session_id, record.nodeid),
                "hyp": record.hypothesis,
                "claim": record.claim,
                "scale": record.scale,
                "name": record.name,
                "status": _FAILED,
                "end": int(time.time() * 1000),
                "create_tags": {**self.common_tags, **case_tags(record)},
                "tags": {**verdict_tags(record.verdict, record.reason), **record_tags(record)},
            }
        )

    def pytest_grd_session_results(
        self, results: list[HypothesisResult], config: pytest.Config, session: pytest.Session
    ) -> None:
        """Journal the end of each parent run, then let the writer finish."""
        if not self.enabled:
            return
        self._close_open("session interrupted")
        journal = self._journal()
        if journal is not None:
            from .tags import result_tags

            status = _KILLED if _interrupted(session) else _FINISHED
            now = int(time.time() * 1000)
            for result in results:
                metrics, tags = result_tags(result)
                journal.append(
                    {
                        "op": "end_parent",
                        "hyp": result.id,
                        "claim": result.claim,
                        "scale": self.grd_settings.scale,
                        "status": status,
                        "end": now,
                        "metrics": [[k, v, now, 0] for k, v in metrics.items()],
                        "tags": tags,
                    }
                )
        self._finish(results)

    def _finish(self, results: list[HypothesisResult]) -> None:
        """Close the journal, wait for the writer, fill in run ids, prune."""
        if self._finished:
            return
        self._finished = True
        journal = self._journal()
        if journal is None or self.directory is None:
            return
        journal.append({"op": "session_end"}, sync=True)
        if self.writer is not None:
            self.outcome = self.writer.finish()
            self._fill_ids(results)
        if self.lock is not None:
            self.lock.release()
        if self.outcome is not None and self.outcome.pending == 0:
            journal.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    def _fill_ids(self, results: list[HypothesisResult]) -> None:
        """Records and results learn the run ids the writer made (for the report)."""
        from .registry import RunRegistry

        if self.directory is None or self.outcome is None:
            return
        registry = RunRegistry(self.directory, self.uri)
        registry.refresh()
        notes = self.outcome.notes
        shown = redact_uri(self.uri)
        for result in results:
            parent = registry.runs.get(parent_key(self.session_id, result.id))
            result.parent_run_id = result.parent_run_id or parent
            for record in result.cases:
                key = run_key(self.session_id, record.nodeid)
                record.run_id = record.run_id or registry.runs.get(key)
                record.parent_run_id = record.parent_run_id or parent
                record.experiment_id = record.experiment_id or self.outcome.experiment_id
                record.tracking_uri = record.tracking_uri or shown
                if key in notes:
                    done = "partly logged" if record.run_id else "not logged"
                    record.extra.setdefault("tracking_error", f"{done} to {shown}: {notes[key]}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Close what is still open; on the controller, finish the journal
        even when no result was rolled up (nothing ran, or interrupted early)."""
        if not self.enabled:
            return
        self._close_open("session interrupted")
        if self.target is not None and self.is_worker:
            self.target.journal.close()
            return
        self._finish(get_session(self.config).results)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """One line when runs are left in the journal, or were refused."""
        if not self.enabled or self.is_worker or self.directory is None:
            return
        tr = terminalreporter
        records = get_session(self.config).records
        refused = [r.name for r in records if r.extra.get("tracking_error")]
        if self.grd_settings.tracking_offline:
            tr.write_line(
                f"grd tracking: offline; runs journaled in {self._shown_dir()}: "
                f"send them with `grd sync`",
                yellow=True,
            )
            return
        outcome = self.outcome
        if outcome is not None and outcome.pending:
            tr.write_line(
                f"grd tracking: {outcome.pending} run(s) pending, not yet in "
                f"{redact_uri(self.uri)} ({outcome.error}); they are kept in "
                f"{self._shown_dir()}: send them with `grd sync`; verdicts are in this "
                "summary and the report",
                yellow=True,
                bold=True,
            )
        if refused:
            first = next(str(r.extra["tracking_error"]) for r in records if r.name == refused[0])
            shown = ", ".join(refused[:20]) + (
                f", ... ({len(refused) - 20} more)" if len(refused) > 20 else ""
            )
            tr.write_line(f"grd tracking: {len(refused)} run(s) {first}: {shown}", yellow=True)

    def _shown_dir(self) -> str:
        if self.directory is None:
            return ""
        try:
            return str(self.directory.relative_to(self.config.invocation_params.dir))
        except ValueError:
            return str(self.directory)


def _interrupted(session: pytest.Session) -> bool:
    return int(getattr(session, "exitstatus", 0) or 0) == int(pytest.ExitCode.INTERRUPTED)
