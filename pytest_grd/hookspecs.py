"""Hooks pytest-grd adds to pytest (added through ``pytest_addhooks``).

Implement them in a ``conftest.py`` or a plugin.  Each docstring is the
documentation of its hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .case import Case
    from .record import CaseRecord, HypothesisResult


def pytest_grd_case_started(item: pytest.Item, case: Case) -> None:
    """A hypothesis case is about to run its setup, in the process that runs it
    (an xdist worker, or the only process).

    ``case.record`` already holds the hypothesis, claim, name and parameters;
    implementations may add to it (pytest-grd's tracking opens the case's
    MLflow run here and sets ``case.record.run_id``).
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
    controller, from ``pytest_sessionfinish``.  pytest-grd's report, baseline
    and tracking parent runs are written here."""


def pytest_grd_report_metadata(config: pytest.Config) -> dict[str, Any] | None:
    """Return extra key/value pairs for the report header (merged in order)."""
