"""The per-test side of hypotheses, where cases run: verdicts and records.

:class:`CaseRunner` is registered by :class:`~pytest_grd.session.GrdSession`
only in a process that collected a hypothesis (a serial session or an xdist
worker): it opens each case (seeding, tracking, a sequential seed that is not
needed), decides the case's verdict from its reports and ships the
:class:`~pytest_grd.record.CaseRecord` on the test report, so xdist workers
and a serial run produce the same records.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from .case import Case, set_current_case
from .keys import CASE_KEY
from .outcomes import Inconclusive
from .record import jsonable
from .session import settled_dir
from .text import one_line
from .verdict import CaseVerdict, Outcome, Verdict, as_evidence, decide_case

if TYPE_CHECKING:
    from .session import GrdSession

__all__ = ["CaseRunner"]


class CaseRunner:
    """The hooks every hypothesis case goes through (see module docstring)."""

    def __init__(self, session: GrdSession) -> None:
        self.config = session.config
        self.session_id = session.session_id
        self.worker_id = session.worker_id
        self.is_worker = session.is_worker
        workerinput: dict[str, Any] | None = getattr(self.config, "workerinput", None)
        self.stop_file: str | None = workerinput.get("grd_stop_file") if workerinput else None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> bool | None:
        """A worker starts no new case once the controller was interrupted
        (xdist lets a worker run the cases already queued to it)."""
        if self._interrupted(item):
            return True
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        """Checked again just before the test body: the signal may have come
        while this case's fixtures were set up (seconds, for a model)."""
        if self._interrupted(item):
            pytest.skip("interrupted on the controller before this case ran")

    def _interrupted(self, item: pytest.Item) -> bool:
        if self.stop_file and os.path.exists(self.stop_file):
            item.session.shouldstop = "interrupted on the controller"
            return True
        return False

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        case = item.stash.get(CASE_KEY, None)
        if case is None:
            return
        if case.record.sequential:
            self._skip_if_not_needed(case)
        case.record.started_at = time.time()
        case.record.worker = self.worker_id
        set_current_case(case)
        item.ihook.pytest_grd_case_started(item=item, case=case)

    def _skip_if_not_needed(self, case: Case) -> None:
        """A seed of a sequential hypothesis already decided is not run."""
        path = settled_dir(self.session_id) / case.record.hypothesis
        try:
            reason = path.read_text(encoding="utf-8")
        except OSError:
            return
        case.record.not_needed = True
        pytest.skip(f"not needed: {reason}")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        case = item.stash.get(CASE_KEY, None)
        if case is None:
            return report
        if report.when == "setup" and report.passed:
            # The partial record lets the controller account for a case whose
            # worker dies (or whose session is interrupted) before the verdict.
            # In the controller's own process, the record itself: the
            # controller takes it off the report first (see VerdictController).
            report.grd_case = case.record if not self.is_worker else case.record.to_dict()  # type: ignore[attr-defined]
            return report
        if report.when == "teardown":
            set_current_case(None)
            if (
                report.failed
                and case.record.outcome
                and case.record.verdict is not Verdict.INCONCLUSIVE
            ):
                self._teardown_failed(item, case, call, report)
            return report
        if getattr(report, "grd_record", None):
            return report
        self._decide(item, case, call, report)
        return report

    def _decide(
        self, item: pytest.Item, case: Case, call: pytest.CallInfo[None], report: pytest.TestReport
    ) -> None:
        exc = call.excinfo.value if call.excinfo is not None else None
        message = ""
        if exc is not None:
            message = str(getattr(exc, "msg", None) or exc) if report.skipped else str(exc)
            if not message and report.longrepr is not None and not report.skipped:
                message = str(report.longrepr).strip().splitlines()[-1]
        elif report.skipped and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2])
        wasxfail = hasattr(report, "wasxfail")
        if wasxfail and not message:
            message = str(getattr(report, "wasxfail", ""))
        stats = getattr(exc, "stats", None)
        if stats:
            case.record.stats = jsonable(stats)
        outcome = Outcome(
            phase=report.when,
            status=report.outcome,
            message=message.split("\n")[0] if isinstance(exc, AssertionError) else message,
            exc_type=type(exc).__name__ if exc is not None else None,
            is_assertion=isinstance(exc, AssertionError),
            inconclusive_reason=exc.reason if isinstance(exc, Inconclusive) else None,
            forced_reason=case.forced_reason,
            wasxfail=wasxfail,
        )
        ihook = item.ihook  # looked up once: it filters conftest plugins by path
        decided = ihook.pytest_grd_case_verdict(item=item, case=case, outcome=outcome)
        if case.spec.decide is not None:
            decided = as_evidence(decided)  # the decision across cases is the claim's
        record = case.record
        record.verdict = decided.verdict
        record.reason = decided.reason
        if record.not_needed:
            record.reason = message.split("\n")[0]
        record.is_error = decided.is_error
        record.outcome = report.outcome
        record.duration = time.time() - record.started_at if record.started_at else report.duration
        if decided.verdict is Verdict.VALIDATED and report.passed is False:
            record.verdict = Verdict.INCONCLUSIVE  # never VALIDATED on a failed report
        if record.verdict is not Verdict.VALIDATED and report.passed and decided.is_error:
            # A forced doubt on a passing body: pytest must see a failure too.
            report.outcome = "failed"
            report.longrepr = f"INCONCLUSIVE: {record.reason}"
        ihook.pytest_grd_case_finished(item=item, case=case)
        # JUnit's properties come from the record too: the controller adds
        # them to the teardown report (see VerdictController).
        report.grd_record = record.to_dict()  # type: ignore[attr-defined]

    @pytest.hookimpl(trylast=True)
    def pytest_grd_case_verdict(
        self, item: pytest.Item, case: Case, outcome: Outcome
    ) -> CaseVerdict:
        """The default mapping from outcome to verdict (a conftest may answer first)."""
        return decide_case(outcome)

    def _teardown_failed(
        self, item: pytest.Item, case: Case, call: pytest.CallInfo[None], report: pytest.TestReport
    ) -> None:
        """The verdict was decided, then teardown failed (a checkpoint upload, a
        fixture's own check): the evidence is no longer trustworthy."""
        exc = call.excinfo.value if call.excinfo is not None else None
        what = f"{type(exc).__name__}: {exc}" if exc is not None else "failed"
        record = case.record
        record.verdict = Verdict.INCONCLUSIVE
        record.reason = one_line(f"teardown error: {what}")
        record.is_error = True
        record.extra["teardown_error"] = True
        item.ihook.pytest_grd_case_finished(item=item, case=case)
        report.grd_record = record.to_dict()  # type: ignore[attr-defined]
