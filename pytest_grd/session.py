"""The pytest side of hypotheses where cases run: collection and case verdicts.

:class:`GrdSession` is registered as a plugin in every session (it is cheap);
it turns ``@pytest.mark.hypothesis`` tests into cases, decides each case's
verdict and ships the :class:`~pytest_grd.record.CaseRecord` on the test
report, so xdist workers and a serial run produce the same records.  What the
controller makes of the records is :mod:`pytest_grd.controller`'s.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from .case import Case, set_current_case
from .claims import HypothesisRegistry, location
from .evidence import evidence_of_failed, plan_evidence, unknown_references
from .gitinfo import git_state
from .keys import CASE_KEY, SEED_PARAM, SESSION_KEY
from .marker import MarkerError
from .outcomes import Inconclusive
from .record import CaseRecord, HypothesisResult, case_name, jsonable
from .settings import get_settings, seed_values
from .text import one_line
from .verdict import CaseVerdict, Outcome, Verdict, as_evidence, decide_case

__all__ = ["GrdSession", "get_session"]


#: Folders pytest-grd and MLflow write into a project, never test code.
NEVER_COLLECTED = frozenset({"mlartifacts", "mlruns", ".grd"})


def stop_file(session_id: str) -> Path:
    """Where the xdist controller of session ``session_id`` signals its
    workers to stop (see :meth:`GrdSession.pytest_runtest_protocol`)."""
    return Path(tempfile.gettempdir()) / f"pytest-grd-stop-{session_id}"


def settled_dir(session_id: str) -> Path:
    """Where the controller marks sequential hypotheses whose remaining seeds
    are not needed (one file per hypothesis id, holding the reason)."""
    return Path(tempfile.gettempdir()) / f"pytest-grd-settled-{session_id}"


def get_session(config: pytest.Config) -> GrdSession:
    """The process's :class:`GrdSession`."""
    session: GrdSession = config.stash[SESSION_KEY]
    return session


def _case_params(item: pytest.Item) -> dict[str, Any]:
    getter = getattr(item, "grd_case_params", None)
    if callable(getter):
        return dict(getter())
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return {}
    return {k: jsonable(v) for k, v in callspec.params.items()}


def _seed_major(items: list[pytest.Item]) -> None:
    """Run the seeds of sequential hypotheses in waves, seed by seed (both
    arms of a comparison together), in the slots their items already hold."""

    def sequential(item: pytest.Item) -> bool:
        return CASE_KEY in item.stash and item.stash[CASE_KEY].record.sequential

    slots = [i for i, item in enumerate(items) if sequential(item)]
    group = [items[i] for i in slots]
    order = sorted(range(len(group)), key=lambda k: (group[k].stash[CASE_KEY].record.seed or 0, k))
    for slot, k in zip(slots, order, strict=True):
        items[slot] = group[k]


class GrdSession:
    """Per-session state and the core hooks (one instance per pytest process)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = settings = get_settings(config)
        self.is_worker = settings.is_worker
        self.worker_id = settings.worker_id
        workerinput = getattr(config, "workerinput", None)
        self.session_id: str = (
            workerinput.get("grd_session_id") if workerinput else None
        ) or uuid.uuid4().hex
        self.scale = settings.scale
        self._stop_file: str | None = workerinput.get("grd_stop_file") if workerinput else None
        #: Which node declares which hypothesis (markers parsed once).
        self.registry = HypothesisRegistry()
        #: Records received on the controller (or the only process), and the
        #: hypothesis results made of them (see pytest_grd.controller).
        self.records: list[CaseRecord] = []
        self.results: list[HypothesisResult] = []
        # The code this session runs may differ from a previous session's in
        # the same process (pytest.main twice, a commit in between).
        git_state.cache_clear()

    # -- collection --------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist controller: every worker shares this session's id, and the
        file whose existence tells it to start no new case."""
        node.workerinput["grd_session_id"] = self.session_id
        node.workerinput["grd_stop_file"] = str(stop_file(self.session_id))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> bool | None:
        """A worker starts no new case once the controller was interrupted
        (xdist lets a worker run the cases already queued to it)."""
        if self._stop_file and os.path.exists(self._stop_file):
            item.session.shouldstop = "interrupted on the controller"
            return True
        return None

    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        """Never collect what tracking and notebooks write: MLflow keeps the
        executed notebooks of every run under ``mlartifacts/`` (a second run
        would collect them and stop on duplicate ids), and ``.grd/``."""
        if collection_path.name in NEVER_COLLECTED and collection_path.is_dir():
            return True
        return None

    # trylast: after the parametrize markers, so the seed comes last in ids
    # (``test_x[0.1-seed3]``), as in case names and notebook ids.
    @pytest.hookimpl(trylast=True)
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        definition = metafunc.definition
        try:
            found = self.registry.spec_of(definition)
            if found is None:
                return
            spec, owner = found
            self.registry.claim(spec.id, owner.nodeid, location(owner))
        except MarkerError as exc:
            raise pytest.Collector.CollectError(f"{location(definition)}: {exc}") from None
        values = seed_values(self.settings, spec.seeds)
        if values:
            if SEED_PARAM not in metafunc.fixturenames:
                metafunc.fixturenames.append(SEED_PARAM)
            metafunc.parametrize(
                SEED_PARAM, values, ids=[f"seed{v}" for v in values], indirect=True
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_itemcollected(self, item: pytest.Item) -> None:
        try:
            found = self.registry.spec_of(item)
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
            sequential=spec.sequential,
            min_seeds=spec.min_seeds,
            scale=self.scale,
            session_id=self.session_id,
            worker=self.worker_id,
            location=location(item),
        )
        item.stash[CASE_KEY] = Case(spec, record)

    # tryfirst: before -k / -m / --lf deselection, which must not change how
    # many cases a hypothesis has nor which family it is corrected in.
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, items: list[pytest.Item]
    ) -> None:
        records = [item.stash[CASE_KEY].record for item in items if CASE_KEY in item.stash]
        plan_evidence(records, self.settings.families)
        if any(r.sequential for r in records):
            _seed_major(items)
        if self.settings.last_failed:
            lfplugin = self.config.pluginmanager.get_plugin("lfplugin")
            if lfplugin is not None:
                # The keys pytest compares items with (NodeId objects since pytest 9).
                key = {item.nodeid: getattr(item, "id", item.nodeid) for item in items}
                needed = evidence_of_failed(records, lfplugin.lastfailed)
                lfplugin.lastfailed.update({key[nodeid]: True for nodeid in needed})
        problems = unknown_references(records)
        if not problems:
            return
        message = "grd: " + problems[0]
        if not self.is_worker:
            raise pytest.UsageError(message)
        # A worker cannot end the session with a usage error: it runs nothing
        # and asks the controller to stop, which prints the reason once.
        session.shouldstop = message
        items[:] = []

    # -- running -------------------------------------------------------------

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
            # worker dies before the verdict.
            report.grd_case = case.record.to_dict()  # type: ignore[attr-defined]
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
        decided = item.ihook.pytest_grd_case_verdict(item=item, case=case, outcome=outcome)
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
        item.ihook.pytest_grd_case_finished(item=item, case=case)
        report.grd_record = record.to_dict()  # type: ignore[attr-defined]
        # JUnit XML reads properties from the teardown report, which copies them
        # from the item: they travel under xdist too.
        for key, value in (
            ("grd.hypothesis", record.hypothesis),
            ("grd.verdict", record.verdict.value),
            ("grd.reason", record.reason),
            ("grd.run_id", record.run_id or ""),
        ):
            item.user_properties.append((key, value))

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
        report.user_properties = [
            (
                k,
                record.verdict.value
                if k == "grd.verdict"
                else record.reason
                if k == "grd.reason"
                else v,
            )
            for k, v in report.user_properties
        ]
