"""Key metrics: which direction is good and how far a metric may move.

A baseline holds each key metric of a case with a *rule*: its value, the
direction that is good (``higher``, ``lower`` or ``equal``) and the absolute
tolerance of a move in the bad direction.  A tolerance comes from, in this
order: the marker's ``baseline=``, the ini key ``grd_baseline_tolerances``
(absolute, or relative to the recorded value), the number the baseline file
holds, then :func:`default_tolerance`.  Pure logic: no pytest import.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeGuard

if TYPE_CHECKING:
    from ..record import CaseRecord

__all__ = [
    "ABSOLUTE_TOLERANCE_FLOOR",
    "DEFAULT_ABSOLUTE_TOLERANCE",
    "DEFAULT_RELATIVE_TOLERANCE",
    "LEGACY_RELATIVE_TOLERANCE",
    "LOWER_IS_BETTER",
    "Tolerances",
    "configured_tolerance",
    "default_direction",
    "default_tolerance",
    "effective_rule",
    "is_worse",
    "metric_rules",
]

#: Ini ``grd_baseline_tolerances`` as settings resolve it: metric name ->
#: (amount, relative); a relative amount is a fraction of the recorded value.
Tolerances = Mapping[str, tuple[float, bool]]

#: Without a declared tolerance, a metric recorded within [-1, 1] (accuracy,
#: AUC, F1, a fraction: values whose unit is the "point") may drop half a
#: point; a larger one (a loss, a perplexity, a time, a count: values in their
#: own units) may move 1 % of its recorded value.
DEFAULT_ABSOLUTE_TOLERANCE = 0.005
DEFAULT_RELATIVE_TOLERANCE = 0.01
#: The default of pytest-grd 0.2 and earlier: 5 % of the value.  A file
#: tolerance equal to it is a default the file recorded, not a choice: the
#: current default applies instead.
LEGACY_RELATIVE_TOLERANCE = 0.05
#: A relative tolerance is never below this (zero-valued metrics stay comparable).
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
    """The tolerance of a metric that declares none: 0.005 for a value within
    [-1, 1], 1 % of the value beyond."""
    if abs(value) <= 1.0:
        return DEFAULT_ABSOLUTE_TOLERANCE
    return abs(value) * DEFAULT_RELATIVE_TOLERANCE


def configured_tolerance(spec: tuple[float, bool], value: float) -> float:
    """An ini tolerance ``(amount, relative)`` for a metric recorded as ``value``."""
    amount, relative = spec
    return max(abs(value) * amount, ABSOLUTE_TOLERANCE_FLOOR) if relative else amount


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def metric_rules(
    record: CaseRecord, tolerances: Tolerances | None = None
) -> dict[str, dict[str, Any]]:
    """The key metrics of a case with their resolved direction and absolute
    tolerance: the metrics declared with ``baseline=`` on the marker when it
    declares any, otherwise every logged metric with the defaults
    (``tolerances``: the ini's, between the marker's and the default)."""
    declared = record.baseline or {}
    names = list(declared) if declared else sorted(record.metrics)
    configured = tolerances or {}
    return {
        name: _rule(name, record.metrics.get(name), declared.get(name) or {}, configured.get(name))
        for name in names
    }


def _rule(
    name: str, value: Any, declared: Mapping[str, Any], configured: tuple[float, bool] | None
) -> dict[str, Any]:
    direction = declared.get("direction") or default_direction(name)
    tolerance = declared.get("tolerance")
    if not _is_number(value) or not math.isfinite(value):
        # Not logged (or not a number): saved without a value, so that a
        # later run is not held to it.
        return {"value": None, "direction": direction, "tolerance": tolerance}
    if tolerance is None and configured is not None:
        tolerance = configured_tolerance(configured, float(value))
    return {
        "value": float(value),
        "direction": direction,
        "tolerance": float(tolerance) if tolerance is not None else default_tolerance(float(value)),
    }


def _recorded_tolerance(saved: Mapping[str, Any]) -> float | None:
    """The file's tolerance, unless it is the 5 % default of older versions."""
    tolerance, base = saved.get("tolerance"), saved.get("value")
    if not _is_number(tolerance):
        return None
    if _is_number(base):
        legacy = max(abs(base) * LEGACY_RELATIVE_TOLERANCE, ABSOLUTE_TOLERANCE_FLOOR)
        if math.isclose(tolerance, legacy, rel_tol=1e-9):
            return None
    return float(tolerance)


def effective_rule(
    saved: Mapping[str, Any],
    declared: Mapping[str, Any] | None,
    configured: tuple[float, bool] | None = None,
) -> tuple[str, float]:
    """The direction and tolerance a recorded metric is held to now.

    The marker's declaration at comparison time wins, then the ini's
    tolerance (``configured``), then the file's rule, then the default: the
    project's code and configuration are where a researcher changes how a
    metric is judged; the file keeps what a reviewer wrote into it.
    """
    declared = declared or {}
    base = saved.get("value")
    direction = declared.get("direction") or saved.get("direction", "higher")
    tolerance = declared.get("tolerance")
    if tolerance is None and configured is not None and _is_number(base):
        tolerance = configured_tolerance(configured, base)
    if tolerance is None:
        tolerance = _recorded_tolerance(saved)
    if tolerance is None:
        tolerance = default_tolerance(base) if _is_number(base) else 0.0
    return direction, float(tolerance)


def is_worse(delta: float, direction: str, tolerance: float) -> bool:
    """Whether a move of ``delta`` from the baseline value goes beyond
    ``tolerance`` in the bad ``direction`` (a move of exactly ``tolerance``,
    up to float rounding, is within it)."""
    limit = tolerance * (1 + 1e-9) + 1e-12
    return (
        (direction == "higher" and delta < -limit)
        or (direction == "lower" and delta > limit)
        or (direction == "equal" and abs(delta) > limit)
    )
