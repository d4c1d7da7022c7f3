"""The state of one running case: its record, its forced doubts, its run.

Pure logic: the pytest layer keeps a :class:`Case` in ``item.stash``; fixtures
and the concern plugins (tracking, data, sweep) write to it.
"""

from __future__ import annotations

import math
from typing import Any

from .marker import HypothesisSpec
from .record import CaseRecord

__all__ = ["Case", "current_case", "set_current_case"]


class Case:
    """One case (sweep point x seed) of a hypothesis while it runs."""

    def __init__(self, spec: HypothesisSpec, record: CaseRecord) -> None:
        self.spec = spec
        self.record = record
        self.forced_reason: str | None = None
        #: Per-metric history ``[(step, value), ...]`` for plots and MLflow.
        self.history: dict[str, list[tuple[int, float]]] = {}
        #: Set by the tracking plugin: the case's buffered MLflow run, if any.
        self.run: Any = None
        #: Generators the sweep plugin seeded before setup, with which seed,
        #: so that ``grd_seed`` does not seed them a second time.
        self.seeded: tuple[int | None, tuple[str, ...]] = (None, ())

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Record a metric value: the last value per key goes in the record."""
        number = float(value)
        if not math.isfinite(number) and not self.spec.allow_nonfinite:
            # A diverged run is no evidence for or against the claim.
            shown = "NaN" if math.isnan(number) else ("inf" if number > 0 else "-inf")
            self.force_inconclusive(f"metric {key} is {shown}")
        points = self.history.setdefault(key, [])
        points.append((step if step is not None else len(points), number))
        self.record.metrics[key] = number

    def force_inconclusive(self, reason: str) -> None:
        """Make sure this case cannot end VALIDATED or REJECTED (first reason wins)."""
        if self.forced_reason is None:
            self.forced_reason = reason


_current: Case | None = None


def current_case() -> Case | None:
    """The case running in this process right now (``None`` outside a
    hypothesis).  Lets library code such as ``pytest_grd.assert_greater``
    put its statistics into the record without a fixture."""
    return _current


def set_current_case(case: Case | None) -> None:
    """Set by the pytest layer around each case's setup, call and teardown."""
    global _current
    _current = case
