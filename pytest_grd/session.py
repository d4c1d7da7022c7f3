"""The pytest side of hypotheses: collection, verdicts, records, summary.

:class:`GrdSession` is registered as a plugin in every session (it is cheap);
it turns ``@pytest.mark.hypothesis`` tests into cases, decides each case's
verdict, ships the :class:`~pytest_grd.record.CaseRecord` on the test report
(so xdist workers and a serial run produce the same records), and prints the
"grd verdicts" summary on the controller.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator
from typing import Any

import pytest

from .case import Case, set_current_case
from .gitinfo import git_state
from .marker import HypothesisSpec, MarkerError, is_experiment_marker, parse_marker
from .outcomes import Inconclusive
from .record import CaseRecord, HypothesisResult, case_name, group_by_hypothesis, jsonable
from .verdict import LETTERS, Outcome, Verdict, decide_case

__all__ = ["GrdSession", "CASE_KEY", "SESSION_KEY", "experiment_spec", "get_session"]

CASE_KEY = pytest.StashKey[Case]()
SESSION_KEY = pytest.StashKey["GrdSession"]()
#: Parameter name of the seed axis that ``seeds=`` adds to a sweep.
SEED_PARAM = "grd_seed"

_VERDICT_MARKUP = {
    Verdict.VALIDATED.value: {"green": True},
    Verdict.REJECTED.value: {"red": True},
    Verdict.INCONCLUSIVE.value: {"yellow": True},
}


def get_session(config: pytest.Config) -> GrdSession:
    return config.stash[SESSION_KEY]


def _location(node: Any) -> str:
    path, lineno, _ = node.location if hasattr(node, "location") else (None, None, None)
    if path is None:
        return str(getattr(node, "nodeid", node))
    fspath = getattr(node, "path", None)
    shown = str(fspath) if fspath is not None else path
    try:
        obj = getattr(node, "obj", None)
        code = getattr(obj, "__code__", None)
        if code is not None:
            return f"{shown}:{code.co_firstlineno}"
    except Exception:  # an object whose attributes raise: fall back to pytest's location
        pass
    return f"{shown}:{(lineno or 0) + 1}"


def experiment_spec(node: Any) -> tuple[HypothesisSpec, Any] | None:
    """The hypothesis declared on ``node`` (closest marker wins) and the node
    that declared it; ``None`` for plain tests and bare Hypothesis-library
    markers.  Raises :class:`MarkerError` for a malformed marker."""
    for owner, mark in node.iter_markers_with_node("hypothesis"):
        if is_experiment_marker(mark.args, mark.kwargs):
            return parse_marker(mark.args, mark.kwargs), owner
    return None


def _case_params(item: pytest.Item) -> dict[str, Any]:
    getter = getattr(item, "grd_case_params", None)
    if callable(getter):
        return dict(getter())
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return {}
    return {k: jsonable(v) for k, v in callspec.params.items()}


class GrdSession:
    """Per-session state and the core hooks (one instance per pytest process)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        workerinput = getattr(config, "workerinput", None)
        self.is_worker = workerinput is not None
        # From workerinput, not PYTEST_XDIST_WORKER: that variable leaks into
        # pytest sessions started from inside a worker.
        self.worker_id: str | None = workerinput.get("workerid") if workerinput else None
        self.session_id: str = (
            workerinput.get("grd_session_id") if workerinput else None
        ) or uuid.uuid4().hex
        self.scale: str = (
            config.getoption("grd_scale", None) or config.getini("grd_scale") or "full"
        )
        self.seeds_override: int | None = config.getoption("grd_seeds", None)
        #: hypothesis id -> (declaring node id, "file:line") for duplicate detection.
        self._owners: dict[str, tuple[str, str]] = {}
        #: Records received on the controller (or the only process).
        self.records: list[CaseRecord] = []
        self._positions: dict[str, int] = {}
        #: Partial records of cases whose setup was reported, by node id: what
        #: a crashed worker leaves behind.
        self.started: dict[str, dict[str, Any]] = {}
        self.results: list[HypothesisResult] = []
        self.hypothesis_items = 0
        # The code this session runs may differ from a previous session's in
        # the same process (pytest.main twice, a commit in between).
        git_state.cache_clear()

    # -- collection --------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist controller: every worker shares this session's id."""
        node.workerinput["grd_session_id"] = self.session_id

    def _claim_owner(self, spec: HypothesisSpec, owner: Any) -> None:
        key = owner.nodeid
        where = _location(owner)
        seen = self._owners.get(spec.id)
        if seen is None:
            self._owners[spec.id] = (key, where)
        elif seen[0] != key:
            raise MarkerError(
                f"duplicate hypothesis id {spec.id!r}: declared at {seen[1]} and at {where}"
            )

    # trylast: after the parametrize markers, so the seed comes last in ids
    # (``test_x[0.1-seed3]``), as in case names and notebook ids.
    @pytest.hookimpl(trylast=True)
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        definition = metafunc.definition
        try:
            found = experiment_spec(definition)
            if found is None:
                return
            spec, owner = found
            self._claim_owner(spec, owner)
        except MarkerError as exc:
            raise pytest.Collector.CollectError(f"{_location(definition)}: {exc}") from None
        seeds = self.seeds_override or spec.seeds
        if seeds:
            if SEED_PARAM not in metafunc.fixturenames:
                metafunc.fixturenames.append(SEED_PARAM)
            base = int(self.config.getini("grd_seed_base") or 0)
            values = [base + i for i in range(seeds)]
            metafunc.parametrize(
                SEED_PARAM, values, ids=[f"seed{v}" for v in values], indirect=True
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_itemcollected(self, item: pytest.Item) -> None:
        try:
            found = experiment_spec(item)
        except MarkerError:
            return  # reported as a collection error by pytest_generate_tests
        if found is None:
            return
        spec, _owner = found
        # ``-k`` matches names, not marker arguments: make the id a keyword.
        item.extra_keyword_matches.add(spec.id)
        params = _case_params(item)
        seed = params.pop(SEED_PARAM, None)
        record = CaseRecord(
            hypothesis=spec.id,
            claim=spec.claim,
            nodeid=item.nodeid,
            name=case_name(spec.id, params, seed),
            kind=getattr(item, "grd_kind", "function"),
            params=params,
            seed=seed,
            decide=spec.decide,
            baseline=spec.baseline,
            scale=self.scale,
            session_id=self.session_id,
            worker=self.worker_id,
            location=_location(item),
        )
        item.stash[CASE_KEY] = Case(spec, record)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.hypothesis_items = sum(1 for i in items if CASE_KEY in i.stash)

    # -- running -------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        case = item.stash.get(CASE_KEY, None)
        if case is None:
            return
        case.record.started_at = time.time()
        case.record.worker = self.worker_id
        set_current_case(case)
        item.ihook.pytest_grd_case_started(item=item, case=case)

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
            # worker dies before the verdict.
            report.grd_case = case.record.to_dict()  # type: ignore[attr-defined]
            return report
        if report.when == "teardown":
            set_current_case(None)
            if report.failed and case.record.outcome and case.record.verdict != "INCONCLUSIVE":
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
        decided = decide_case(outcome)
        record = case.record
        record.verdict = decided.verdict.value
        record.reason = decided.reason
        record.is_error = decided.is_error
        record.outcome = report.outcome
        record.duration = time.time() - record.started_at if record.started_at else report.duration
        if decided.verdict is Verdict.VALIDATED and report.passed is False:
            record.verdict = Verdict.INCONCLUSIVE.value  # never VALIDATED on a failed report
        if record.verdict != Verdict.VALIDATED.value and report.passed and decided.is_error:
            # A forced doubt on a passing body: pytest must see a failure too.
            report.outcome = "failed"
            report.longrepr = f"INCONCLUSIVE: {record.reason}"
        item.ihook.pytest_grd_case_finished(item=item, case=case)
        report.grd_record = record.to_dict()  # type: ignore[attr-defined]
        # JUnit XML reads properties from the teardown report, which copies them
        # from the item: they travel under xdist too.
        for key, value in (
            ("grd.hypothesis", record.hypothesis),
            ("grd.verdict", record.verdict),
            ("grd.reason", record.reason),
            ("grd.run_id", record.run_id or ""),
        ):
            item.user_properties.append((key, value))

    def _teardown_failed(
        self, item: pytest.Item, case: Case, call: pytest.CallInfo[None], report: pytest.TestReport
    ) -> None:
        """The verdict was decided, then teardown failed (a checkpoint upload, a
        fixture's own check): the evidence is no longer trustworthy."""
        exc = call.excinfo.value if call.excinfo is not None else None
        what = f"{type(exc).__name__}: {exc}" if exc is not None else "failed"
        record = case.record
        record.verdict = Verdict.INCONCLUSIVE.value
        record.reason = " ".join(f"teardown error: {what}".split())[:300]
        record.is_error = True
        record.extra["teardown_error"] = True
        item.ihook.pytest_grd_case_finished(item=item, case=case)
        report.grd_record = record.to_dict()  # type: ignore[attr-defined]
        report.user_properties = [
            (k, record.verdict if k == "grd.verdict" else record.reason if k == "grd.reason" else v)
            for k, v in report.user_properties
        ]

    # -- controller ----------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        started = getattr(report, "grd_case", None)
        if started is not None:
            self.started[report.nodeid] = started
        data = getattr(report, "grd_record", None)
        if data is None:
            # xdist reports a crashed worker's case with ``when == "???"``.
            if str(report.when) == "???" and report.nodeid in self.started:
                self._crashed(report)
            return
        self.started.pop(report.nodeid, None)
        self._receive(CaseRecord.from_dict(data))

    def _crashed(self, report: pytest.TestReport) -> None:
        """The worker running this case died before its verdict."""
        record = CaseRecord.from_dict(self.started.pop(report.nodeid))
        record.verdict = Verdict.INCONCLUSIVE.value
        record.reason = "worker crashed: " + " ".join(str(report.longrepr).split())[:200]
        record.outcome = "failed"
        record.is_error = True
        record.extra["crashed"] = True
        report.grd_record = record.to_dict()  # type: ignore[attr-defined]
        self._receive(record)

    def _receive(self, record: CaseRecord) -> None:
        # A case's record arrives again when its teardown failed: the later wins.
        position = self._positions.get(record.nodeid)
        if position is None:
            self._positions[record.nodeid] = len(self.records)
            self.records.append(record)
        else:
            self.records[position] = record
        self.config.hook.pytest_grd_case_record(record=record, config=self.config)

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        data = getattr(report, "grd_record", None)
        if data is None:
            return None
        verdict = data["verdict"]
        if hasattr(report, "wasxfail"):
            category = "xfailed" if report.skipped else "xpassed"
        elif report.passed:
            category = "passed"
        elif report.skipped:
            category = "skipped"
        else:
            category = "failed" if report.when == "call" else "error"
        return category, LETTERS[Verdict(verdict)], (verdict, _VERDICT_MARKUP[verdict])

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker or not self.records:
            return
        self.results = self.finalize(self.records)
        self.config.hook.pytest_grd_session_results(
            results=self.results, config=self.config, session=session
        )

    def finalize(self, records: list[CaseRecord]) -> list[HypothesisResult]:
        """Roll records up per hypothesis; hypotheses that declared a decision
        rule are decided by statistics (imported only then)."""
        results = group_by_hypothesis(records)
        if any(case.decide for r in results for case in r.cases):
            try:
                from .stats.decide import apply_decisions
            except ImportError as exc:  # scipy/statsmodels: the optional [stats] extra
                for result in results:
                    if any(case.decide for case in result.cases):
                        result.verdict = Verdict.INCONCLUSIVE.value
                        result.reason = (
                            f"cannot decide statistically ({exc}): pip install 'pytest-grd[stats]'"
                        )
                return results
            apply_decisions(results, correction=self.config.getini("grd_correction") or "holm")
        return results

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not self.results:
            return
        from .summary import summary_lines

        tr = terminalreporter
        tr.write_sep("=", "grd verdicts")
        for line, markup in summary_lines(self.results, verbose=tr.verbosity > 0):
            tr.write_line(line, **markup)
