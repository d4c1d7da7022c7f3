"""Key metrics: which direction is good and how far a metric may move.

A baseline holds each key metric of a case with a *rule*: its value, the
direction that is good (``higher``, ``lower`` or ``equal``) and the absolute
tolerance of a move in the bad direction.  Pure logic: no pytest import.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..record import CaseRecord

__all__ = [
    "ABSOLUTE_TOLERANCE_FLOOR",
    "DEFAULT_RELATIVE_TOLERANCE",
    "LOWER_IS_BETTER",
    "default_direction",
    "default_tolerance",
    "effective_rule",
    "is_worse",
    "metric_rules",
]

#: Without a declared tolerance a metric may move 5% of its baseline value in
#: the bad direction (an absolute floor keeps zero-valued metrics comparable).
DEFAULT_RELATIVE_TOLERANCE = 0.05
ABSOLUTE_TOLERANCE_FLOOR = 1e-9
#: Metric names that are better when lower, unless the marker says otherwise.
LOWER_IS_BETTER = re.compile(
    r"(loss|error|err$|mse|mae|rmse|perplexity|latency|seconds|duration|time)", re.I
)


def default_direction(metric: str) -> str:
    """``"lower"`` for names that read like a loss, an error or a time,
    ``"higher"`` for everything else."""
    return "lower" if LOWER_IS_BETTER.search(metric) else "higher"


def default_tolerance(value: float) -> float:
    """The tolerance of a metric that declares none: 5% of its value."""
    return max(abs(value) * DEFAULT_RELATIVE_TOLERANCE, ABSOLUTE_TOLERANCE_FLOOR)


def metric_rules(record: CaseRecord) -> dict[str, dict[str, Any]]:
    """The key metrics of a case with their resolved direction and absolute
    tolerance: the metrics declared with ``baseline=`` on the marker when it
    declares any, otherwise every logged metric with the defaults."""
    declared = record.baseline or {}
    names = list(declared) if declared else sorted(record.metrics)
    return {name: _rule(name, record.metrics.get(name), declared.get(name) or {}) for name in names}


def _rule(name: str, value: Any, declared: Mapping[str, Any]) -> dict[str, Any]:
    direction = declared.get("direction") or default_direction(name)
    tolerance = declared.get("tolerance")
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        # Not logged (or not a number): saved without a value, so that a
        # later run is not held to it.
        return {"value": None, "direction": direction, "tolerance": tolerance}
    return {
        "value": float(value),
        "direction": direction,
        "tolerance": float(tolerance) if tolerance is not None else default_tolerance(float(value)),
    }


def effective_rule(
    saved: Mapping[str, Any], declared: Mapping[str, Any] | None
) -> tuple[str, float]:
    """The direction and tolerance a recorded metric is held to now.

    The marker's declaration at comparison time wins over the saved rule:
    the test code is where a researcher changes how a metric is judged.
    """
    declared = declared or {}
    direction = declared.get("direction") or saved.get("direction", "higher")
    tolerance = declared.get("tolerance")
    if tolerance is None:
        tolerance = saved.get("tolerance")
    if tolerance is None:
        base = saved.get("value")
        tolerance = default_tolerance(base) if isinstance(base, (int, float)) else 0.0
    return direction, tolerance


def is_worse(delta: float, direction: str, tolerance: float) -> bool:
    """Whether a move of ``delta`` from the baseline value goes beyond
    ``tolerance`` in the bad ``direction``."""
    return (
        (direction == "higher" and delta < -tolerance)
        or (direction == "lower" and delta > tolerance)
        or (direction == "equal" and abs(delta) > tolerance)
    )
