"""What a baseline keeps of a statistical decision, and how far it moved.

A hypothesis decided by statistics (``decide=``, ``grd.assert_greater``,
``seeds="auto"``) is recorded with the numbers behind its verdict: the
effect (``estimate`` and its interval ``ci``), the p-values (``p_value``,
``p_adjusted``) and, for a sequential decision, ``seeds_used`` and the
bounds ``lower`` / ``upper``.  A later run is not failed when they move (the
verdict and the key metrics decide that); :func:`decision_notes` only says
when they moved a lot.  Pure logic: no pytest import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DECISION_KEYS",
    "P_FACTOR",
    "P_NEGLIGIBLE",
    "decision_notes",
    "decision_problem",
    "decision_stats",
]

#: The numbers of a decision a baseline keeps (those the stats have).
DECISION_KEYS = ("estimate", "ci", "p_value", "p_adjusted", "seeds_used", "lower", "upper")
#: A p-value that moved by this factor or more, either way, is noted ...
P_FACTOR = 10.0
#: ... unless both values are below this one (overwhelming evidence both times).
P_NEGLIGIBLE = 1e-6


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def decision_stats(stats: Mapping[str, Any] | None) -> dict[str, Any]:
    """The numbers of a decision a baseline keeps (empty without a decision).
    Non-finite numbers are kept as ``None``: the file is strict JSON."""
    kept: dict[str, Any] = {}
    for key in DECISION_KEYS:
        if not stats or key not in stats:
            continue
        value = stats[key]
        if key == "ci":
            if isinstance(value, (list, tuple)) and len(value) == 2:
                kept[key] = [_number(v) for v in value]
            continue
        if value is None or _number(value) is not None:
            kept[key] = _number(value)
    return kept


def decision_problem(stats: Any) -> str | None:
    """Why a baseline's ``stats`` entry is malformed, or ``None``."""
    if not isinstance(stats, dict):
        return "'stats' must be an object"
    for key, value in stats.items():
        if key == "ci":
            ok = value is None or (
                isinstance(value, list)
                and len(value) == 2
                and all(v is None or _number(v) is not None for v in value)
            )
        else:
            ok = value is None or _number(value) is not None
        if not ok:
            return f"stats {key} must be a number" + (" pair" if key == "ci" else "")
    return None


def _p_of(stats: Mapping[str, Any]) -> tuple[str, float | None]:
    """The p-value that decides: adjusted when there is one."""
    adjusted = _number(stats.get("p_adjusted"))
    if adjusted is not None:
        return "p (adjusted)", adjusted
    return "p", _number(stats.get("p_value"))


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _bound(value: float | None, unbounded: str) -> str:
    return unbounded if value is None else _fmt(value)


def decision_notes(
    hypothesis: str, recorded: Mapping[str, Any], current: Mapping[str, Any] | None
) -> list[str]:
    """Lines saying how far a decision's numbers moved from the recorded
    ones: a p-value that changed by a factor of :data:`P_FACTOR` or more (not
    when both are below :data:`P_NEGLIGIBLE`), an effect estimate outside
    the recorded interval.  Not changes: notes for the reader."""
    if not recorded or not current:
        return []
    notes: list[str] = []
    label, before = _p_of(recorded)
    _, after = _p_of(current)
    if before is not None and after is not None and max(before, after) >= P_NEGLIGIBLE:
        low, high = sorted((before, after))
        if low <= 0 or high / low >= P_FACTOR:
            notes.append(f"{hypothesis}: {label} moved {_fmt(before)} -> {_fmt(after)}")
    estimate = _number(current.get("estimate"))
    ci = recorded.get("ci")
    if estimate is not None and isinstance(ci, (list, tuple)) and len(ci) == 2:
        lo, hi = (_number(v) for v in ci)
        if (lo is not None and estimate < lo) or (hi is not None and estimate > hi):
            was = _number(recorded.get("estimate"))
            move = f"{_fmt(was)} -> {_fmt(estimate)}" if was is not None else _fmt(estimate)
            interval = f"[{_bound(lo, '-inf')}, {_bound(hi, 'inf')}]"
            notes.append(f"{hypothesis}: effect {move}, outside the recorded interval {interval}")
    return notes
