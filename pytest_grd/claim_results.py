"""A hypothesis decided across cases gets a pytest result of its own.

When a verdict is made across cases (a ``decide=`` rule, or the roll-up of a
hypothesis with several cases), no single test's outcome carries it: pytest,
JUnit, ``--lf`` and CI would see only the cases.  So the controller reports
one more test per such hypothesis, after its last case, with the node id
``<file of its cases>::<hypothesis id>`` (``experiments/test_x.py::hyp_003``):
passed when VALIDATED, failed with the reason and statistics as the failure
text when REJECTED or INCONCLUSIVE.  Its reports go through pytest's own
``pytest_runtest_logreport`` hook, so the terminal, the exit status, the
short summary, ``--junitxml``, ``--lf`` and ``-x`` see an ordinary test.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from .verdict import Verdict

if TYPE_CHECKING:
    from .record import HypothesisResult

__all__ = ["DECISION_ATTR", "decision_nodeid", "emit_decision_results"]

#: Attribute of a decision's reports: the hypothesis result as a dict.
DECISION_ATTR = "grd_decision"


def decision_nodeid(result: HypothesisResult) -> str:
    """``<file>::<hypothesis id>``, the file being that of the hypothesis's
    first case (its cases are declared in one place)."""
    return f"{_location(result)[0]}::{result.id}"


def _location(result: HypothesisResult) -> tuple[str, int | None, str]:
    """pytest's ``(file, 0-based line, name)`` of a decision: its first case's."""
    first = min(result.cases, key=lambda c: c.nodeid)
    line = first.location.rpartition(":")[2]
    lineno = int(line) - 1 if line.isdigit() else None
    return first.nodeid.split("::", 1)[0], lineno, result.id


@dataclass(frozen=True)
class _Crash:
    """What pytest's short summary and JUnit read off a failure (``reprcrash``)."""

    path: str
    lineno: int
    message: str


class DecisionFailure:
    """The failure text of a REJECTED or INCONCLUSIVE decision: its verdict,
    reason and statistics, as pytest prints a failure."""

    def __init__(self, result: HypothesisResult, path: str, lineno: int, stats_text: str) -> None:
        self.lines = [f"{result.verdict}: {result.id} - {result.claim}".rstrip(" -")]
        self.lines.append(f"reason: {result.reason}")
        if stats_text:
            self.lines.append(f"stats: {stats_text}")
        self.reprcrash = _Crash(path, lineno, f"{result.verdict}: {result.reason}")

    def toterminal(self, tw: Any) -> None:
        for line in self.lines:
            tw.line(line, red=True)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def _reports(result: HypothesisResult, stats_text: str) -> list[pytest.TestReport]:
    location = _location(result)
    nodeid = f"{location[0]}::{result.id}"
    now = time.time()
    passed = result.verdict is Verdict.VALIDATED
    longrepr = (
        None if passed else DecisionFailure(result, location[0], (location[1] or 0) + 1, stats_text)
    )
    properties = [
        ("grd.hypothesis", result.id),
        ("grd.verdict", result.verdict.value),
        ("grd.reason", result.reason),
        ("grd.cases", str(len(result.cases))),
        ("grd.collected", str(result.collected)),
    ]
    if result.stats:
        for key in ("p_value", "p_adjusted", "correction", "family", "family_size"):
            if result.stats.get(key) is not None:
                properties.append((f"grd.{key}", str(result.stats[key])))
    reports = []
    for when, outcome, repr_ in (
        ("setup", "passed", None),
        ("call", "passed" if passed else "failed", longrepr),
        ("teardown", "passed", None),
    ):
        report = pytest.TestReport(
            nodeid=nodeid,
            location=location,
            keywords={result.id: 1, "grd_decision": 1},
            outcome=outcome,  # type: ignore[arg-type]
            longrepr=repr_,  # type: ignore[arg-type]
            when=when,  # type: ignore[arg-type]
            duration=0.0,
            start=now,
            stop=now,
            user_properties=list(properties),
        )
        setattr(report, DECISION_ATTR, result.to_dict())
        reports.append(report)
    return reports


def emit_decision_results(
    config: pytest.Config, session: pytest.Session, results: list[HypothesisResult]
) -> int:
    """Report one test per hypothesis decided across cases; returns how many."""
    from .summary import format_stats

    own = [r for r in results if r.has_own_result and r.cases]
    if not own:
        return 0
    # The terminal's progress counts reported node ids against the collected.
    session.testscollected += len(own)
    hook = config.hook
    for result in own:
        reports = _reports(result, format_stats(result.stats))
        hook.pytest_runtest_logstart(nodeid=reports[0].nodeid, location=reports[0].location)
        for report in reports:
            hook.pytest_runtest_logreport(report=report)
        hook.pytest_runtest_logfinish(nodeid=reports[0].nodeid, location=reports[0].location)
    return len(own)
