"""Hooks pytest-grd adds to pytest (added through ``pytest_addhooks``).

Implement them in a ``conftest.py`` or a plugin.  Each docstring is the
documentation of its hook.  Two kinds:

* **observers** (``pytest_grd_case_started``, ``_case_finished``,
  ``_case_record``, ``_session_results``): every implementation is called;
* **single answers** (``firstresult``: ``pytest_grd_case_verdict``): the first
  implementation that returns something other than ``None`` wins, so a
  conftest overrides pytest-grd's default by returning a value (pytest-grd's
  own implementation is ``trylast``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .case import Case
    from .record import CaseRecord, HypothesisResult
    from .verdict import CaseVerdict, Outcome


def pytest_grd_case_started(item: pytest.Item, case: Case) -> None:
    """A hypothesis case is about to run its setup, in the process that runs it
    (an xdist worker, or the only process).

    ``case.record`` already holds the hypothesis, claim, name and parameters;
    implementations may add to it (pytest-grd's tracking opens the case's
    MLflow run here and sets ``case.record.run_id``).
    """


@pytest.hookspec(firstresult=True)
def pytest_grd_case_verdict(item: pytest.Item, case: Case, outcome: Outcome) -> CaseVerdict | None:
    """Map a case's outcome (phase, status, message, exception type, forced
    doubts) to its :class:`~pytest_grd.verdict.CaseVerdict`, where the case ran.

    ``firstresult``: return a ``CaseVerdict`` to decide, ``None`` to leave it
    to the next implementation; pytest-grd's default
    (:func:`pytest_grd.verdict.decide_case`) runs last.  A verdict returned
    here is still never VALIDATED when pytest reports the case failed::

        def pytest_grd_case_verdict(item, case, outcome):
            if outcome.exc_type == "TimeoutError":
                return CaseVerdict(Verdict.INCONCLUSIVE, "timed out", True)
    """


def pytest_grd_case_finished(item: pytest.Item, case: Case) -> None:
    """A case's verdict is decided, in the process that ran it, before its
    record travels to the controller.  Implementations may add to
    ``case.record`` (pytest-grd's tracking flushes and closes the run here)."""


def pytest_grd_case_record(record: CaseRecord, config: pytest.Config) -> None:
    """A case record arrived, on the controller (or the only process).

    This is where plugins and conftests observe results as they come in::

        def pytest_grd_case_record(record, config):
            print(record.hypothesis, record.verdict, record.metrics)
    """


def pytest_grd_session_results(
    results: list[HypothesisResult], config: pytest.Config, session: pytest.Session
) -> None:
    """All cases are done: ``results`` has one entry per hypothesis with its
    rolled-up (or statistically decided) verdict.  Called once, on the
    controller, from ``pytest_sessionfinish``.  pytest-grd's tracking ends the
    parent runs here; the report and the baseline are written right after."""


def pytest_grd_report_metadata(config: pytest.Config) -> dict[str, Any] | None:
    """Return extra key/value pairs for the report header (merged in order)."""
