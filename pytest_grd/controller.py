"""The controller's side of verdicts: records in, hypothesis results out.

:class:`VerdictController` is registered on the xdist controller or the only
process (never on a worker).  It receives every case's record from the test
reports, accounts for cases whose worker crashed or that an interrupt cut
short, decides each hypothesis once every case has reported (roll-up,
statistics, completeness), reports a pytest result of its own for each
hypothesis decided across cases (:mod:`pytest_grd.claim_results`), and prints
the "grd verdicts" summary.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .claim_results import DECISION_ATTR, emit_decision_results
from .evidence import flag_optional_stopping, mark_partial, settle_partial
from .record import CaseRecord, HypothesisResult, group_by_hypothesis, junit_properties
from .session import settled_dir
from .text import one_line
from .verdict import LETTERS, Verdict

if TYPE_CHECKING:
    from .session import GrdSession

__all__ = ["VerdictController"]

_VERDICT_MARKUP = {
    Verdict.VALIDATED: {"green": True},
    Verdict.REJECTED: {"red": True},
    Verdict.INCONCLUSIVE: {"yellow": True},
    Verdict.MEASURED: {"cyan": True},
}


def _category(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.passed:
        return "passed"
    if report.skipped:
        return "skipped"
    return "failed" if report.when == "call" else "error"


class VerdictController:
    """Records, results and the decisions' own test results (see module doc)."""

    def __init__(self, session: GrdSession) -> None:
        self.session = session
        self.config = session.config
        self._positions: dict[str, int] = {}
        #: The records by hypothesis, kept as they arrive (sequential
        #: decisions look at them after every record of theirs).
        self._by_hypothesis: dict[str, list[CaseRecord]] = {}
        #: Partial records of cases whose setup was reported, by node id: what
        #: a crashed worker or an interrupt leaves behind.
        self.started: dict[str, dict[str, Any] | CaseRecord] = {}
        self.decided = False
        #: Sequential hypotheses whose further seeds are not needed -> why.
        self.settled: dict[str, str] = {}
        self.stop_path: Path | None = None

    @property
    def records(self) -> list[CaseRecord]:
        return self.session.records

    # -- records -------------------------------------------------------------

    # tryfirst: JUnit XML reads the teardown report's properties in its own hook.
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # The partial record is this controller's alone, until the verdict
        # arrives: the report pytest keeps to the end need not hold it too.
        started = report.__dict__.pop("grd_case", None)
        if started is not None:
            self.started[report.nodeid] = started
        data = getattr(report, "grd_record", None)
        if data is None:
            # xdist reports a crashed worker's case with ``when == "???"``.
            if str(report.when) == "???" and report.nodeid in self.started:
                self._cut_short(report.nodeid, f"worker crashed: {report.longrepr}", report)
        else:
            self.started.pop(report.nodeid, None)
            self._receive(CaseRecord.from_dict(data))
        if report.when == "teardown":
            self._label(report)

    def _label(self, report: pytest.TestReport) -> None:
        """A case's JUnit properties, on its teardown report (where JUnit XML
        reads them), from its latest record: one place for serial, xdist and
        Ray cases, and nothing more for a worker to send."""
        position = self._positions.get(report.nodeid)
        if position is None:
            return
        report.user_properties = [
            *report.user_properties,
            *junit_properties(self.records[position]),
        ]

    def _cut_short(self, nodeid: str, reason: str, report: pytest.TestReport | None = None) -> None:
        """A case started and never reached its verdict (its worker died, or
        the session was interrupted): INCONCLUSIVE, with its record kept."""
        started = self.started.pop(nodeid)
        if isinstance(started, CaseRecord):  # a case run in this process: a copy
            started = started.to_dict()
        record = CaseRecord.from_dict(started)
        record.verdict = Verdict.INCONCLUSIVE
        record.reason = one_line(reason)
        record.outcome = "failed"
        record.is_error = True
        record.extra["crashed" if report is not None else "interrupted"] = True
        if report is not None:
            report.grd_record = record.to_dict()  # type: ignore[attr-defined]
        self._receive(record)

    def _receive(self, record: CaseRecord) -> None:
        # A case's record arrives again when its teardown failed: the later wins.
        position = self._positions.get(record.nodeid)
        same = self._by_hypothesis.setdefault(record.hypothesis, [])
        if position is None:
            self._positions[record.nodeid] = len(self.records)
            self.records.append(record)
            same.append(record)
        else:
            self.records[position] = record
            same[:] = [record if r.nodeid == record.nodeid else r for r in same]
        self.config.hook.pytest_grd_case_record(record=record, config=self.config)
        if record.sequential:
            self._signal_not_needed()

    def _signal_not_needed(self) -> None:
        """Mark every sequential hypothesis whose further seeds are not
        needed, for the processes that run them (see pytest_grd.stopping)."""
        from .stopping import sequential_settled

        folder = settled_dir(self.session.session_id)
        settled = sequential_settled(self._by_hypothesis, self.session.settings.seed_base)
        for hid, reason in settled.items():
            path = folder / hid
            if hid in self.settled:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(reason, encoding="utf-8")
            self.settled[hid] = reason

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        data = getattr(report, "grd_record", None) or getattr(report, DECISION_ATTR, None)
        if data is None or (report.when != "call" and report.passed):
            return None
        if data.get("not_needed"):
            # Neither passed, failed nor skipped for a reason: a seed that a
            # sequential decision made unnecessary ("3 not needed").
            return "not needed", "n", ("NOT NEEDED", {"cyan": True})
        verdict = Verdict(data["verdict"])
        return _category(report), LETTERS[verdict], (verdict.value, _VERDICT_MARKUP[verdict])

    # -- decisions -------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        """Every case has reported (or the run stopped at -x / --maxfail):
        decide, and report each decision as a test of its own."""
        try:
            outcome = yield
        except (session.Failed, session.Interrupted):
            self._decide_and_report(session, stopped=self._stop_reason(session))
            raise
        except KeyboardInterrupt as exc:
            if type(exc).__module__.startswith("xdist"):
                # xdist ended the loop itself (-x / --maxfail, a worker's
                # Ctrl-C): the records that arrived are all there is.
                self._decide_and_report(session, stopped=f"stopped ({exc})")
            else:
                self._stop_workers()  # Ctrl-C on the controller
            raise
        self._decide_and_report(session, stopped=self._stop_reason(session))
        return outcome

    def _stop_workers(self) -> None:
        """Ctrl-C on the controller alone: tell the xdist workers to start no
        new case (they would run what is queued to them)."""
        from .session import stop_file

        dsession = self.config.pluginmanager.getplugin("dsession")
        if dsession is not None:
            path = stop_file(self.session.session_id)
            path.touch()
            self.stop_path = path
            self._drain(getattr(dsession, "queue", None))

    def _drain(self, queue: Any) -> None:
        """The reports workers sent before they were told, still queued
        (Ctrl-C ended xdist's loop): a case they started is then recorded
        as interrupted, not lost.  Briefly: until nothing comes for 0.3 s."""
        import queue as queues

        if queue is None:
            return
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                name, kwargs = queue.get(timeout=0.3)
            except queues.Empty:
                return
            report = kwargs.get("rep") if name == "testreport" else None
            if report is not None:
                self.config.hook.pytest_runtest_logreport(report=report)

    @staticmethod
    def _stop_reason(session: pytest.Session) -> str | None:
        reason = session.shouldfail or session.shouldstop
        return f"stopped ({reason})" if reason else None

    def _decide_and_report(self, session: pytest.Session, stopped: str | None) -> None:
        if not self.records:
            return
        self.session.results = self.finalize(stopped)
        self.decided = True
        emit_decision_results(self.config, session, self.session.results)

    def finalize(self, stopped: str | None = None) -> list[HypothesisResult]:
        """Roll records up per hypothesis, decide the ones with a rule by
        statistics (imported only then), and make partial ones safe."""
        results = group_by_hypothesis(self.records)
        mark_partial(results, stopped)
        if any(r.decided for r in results):
            try:
                from .stats.decide import apply_decisions
            except ImportError as exc:  # scipy/statsmodels: the optional [stats] extra
                for result in results:
                    if result.decided:
                        result.verdict = Verdict.INCONCLUSIVE
                        result.reason = (
                            f"cannot decide statistically ({exc}): pip install 'pytest-grd[stats]'"
                        )
            else:
                settings = self.session.settings
                apply_decisions(results, settings.correction, settings.seed_base)
                flag_optional_stopping(results, self._recorded())
        settle_partial(results)
        return results

    def _recorded(self) -> dict[str, dict[str, object]]:
        """The baseline's hypotheses at this scale, if the project has one."""
        path = self.session.settings.baseline_file
        if path is None or not path.is_file():
            return {}
        from .baseline.format import BaselineError, load_baseline

        try:
            data = load_baseline(path)
        except BaselineError:
            return {}  # --grd-baseline reports a bad file; nothing to flag here
        scale = data["scales"].get(self.session.settings.scale) or {}
        return dict(scale.get("hypotheses") or {})

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.stop_path is not None:
            self.stop_path.unlink(missing_ok=True)
        if self.settled:
            shutil.rmtree(settled_dir(self.session.session_id), ignore_errors=True)
        interrupted = session.exitstatus == pytest.ExitCode.INTERRUPTED
        for nodeid in list(self.started):
            self._cut_short(nodeid, "interrupted: the session stopped during this case")
        if not self.records:
            return
        if not self.decided or interrupted:
            self.session.results = self.finalize("interrupted" if interrupted else None)
        self.config.hook.pytest_grd_session_results(
            results=self.session.results, config=self.config, session=session
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.session.results:
            return
        from .summary import summary_lines

        tr = terminalreporter
        tr.write_sep("=", "grd verdicts")
        for line, markup in summary_lines(self.session.results, verbose=tr.verbosity > 0):
            tr.write_line(line, **markup)
