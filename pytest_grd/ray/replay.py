"""Worker events replayed on the controller, and the reports of cases that
never came back.

Replaying calls the same hooks xdist's controller calls
(``pytest_runtest_logstart`` / ``logreport`` / ``logfinish``) with reports
rebuilt by ``pytest_report_from_serializable``, so the terminal, JUnit, the
verdict controller, reports and baselines see ordinary test reports.  A case
lost for good is reported as xdist reports a crashed worker's case
(``when == "???"``), carrying the partial record the verdict controller turns
into an INCONCLUSIVE one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from ..keys import CASE_KEY

__all__ = ["replay", "report_interrupted", "report_lost"]


def replay(config: pytest.Config, events: Sequence[Sequence[Any]]) -> None:
    """Feed one case's worker events to the controller's hooks."""
    hook = config.hook
    for event in events:
        kind = event[0]
        if kind == "report":
            report = hook.pytest_report_from_serializable(config=config, data=event[1])
            hook.pytest_runtest_logreport(report=report)
        elif kind == "logstart":
            hook.pytest_runtest_logstart(nodeid=event[1], location=tuple(event[2]))
        elif kind == "logfinish":
            hook.pytest_runtest_logfinish(nodeid=event[1], location=tuple(event[2]))


def _partial_record(item: pytest.Item, ray_info: dict[str, Any]) -> dict[str, Any] | None:
    case = item.stash.get(CASE_KEY, None)
    if case is None:
        return None
    data: dict[str, Any] = case.record.to_dict()
    data["extra"] = {**data.get("extra", {}), "ray": ray_info}
    return data


def _report(item: pytest.Item, when: str, outcome: str, longrepr: str | None) -> pytest.TestReport:
    return pytest.TestReport(
        nodeid=item.nodeid,
        location=item.location,
        keywords={k: 1 for k in item.keywords},
        outcome=outcome,  # type: ignore[arg-type]
        longrepr=longrepr,
        when=when,  # type: ignore[arg-type]
        user_properties=list(item.user_properties),
    )


def report_lost(
    config: pytest.Config, item: pytest.Item, reason: str, info: dict[str, Any]
) -> None:
    """A case that never finished on any worker: failed, INCONCLUSIVE (reason)."""
    hook = config.hook
    hook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    report = _report(item, "???", "failed", reason)
    partial = _partial_record(item, info)
    if partial is not None:
        report.grd_case = partial  # type: ignore[attr-defined]
    hook.pytest_runtest_logreport(report=report)
    hook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)


def report_interrupted(config: pytest.Config, item: pytest.Item, info: dict[str, Any]) -> None:
    """A case running when the session was interrupted: its setup is
    reported, so the verdict controller records it as interrupted."""
    partial = _partial_record(item, info)
    if partial is None:
        return
    config.hook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    report = _report(item, "setup", "passed", None)
    report.grd_case = partial  # type: ignore[attr-defined]
    config.hook.pytest_runtest_logreport(report=report)
