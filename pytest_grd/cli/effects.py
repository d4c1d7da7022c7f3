"""The numbers a verdict rests on, as ``grd`` prints them.

A hypothesis decided by statistics rests on its statistic: the p-value (the
adjusted one when there was a correction) and the effect on the deciding
metric with its interval.  A verdict rolled up from its cases rests on what
they measured: the mean of each metric over the cases.  Pure logic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..record import HypothesisResult
from ..tracking.query import MetricSummary

__all__ = [
    "case_metrics",
    "evidence_text",
    "metric_text",
    "number",
    "p_text",
    "p_value",
    "pick_metrics",
    "stat_text",
]

#: Metrics shown at most, after those a claim names.
SHOWN_METRICS = 3


def number(value: Any) -> float | None:
    """``value`` as a finite float, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def p_value(stats: Mapping[str, Any] | None) -> float | None:
    """The p-value a decision used: adjusted when it was, else raw."""
    if not stats:
        return None
    for key in ("p_adjusted", "p_value_adjusted", "p_value", "pvalue", "p"):
        value = number(stats.get(key))
        if value is not None:
            return value
    return None


def p_text(stats: Mapping[str, Any] | None) -> str:
    """``p = 0.004``, ``p < 0.001`` or ``""``."""
    p = p_value(stats)
    if p is None:
        return ""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _g(x: float) -> str:
    return f"{x:.4g}"


def stat_text(stats: Mapping[str, Any] | None) -> str:
    """``auc effect +0.018, 90% CI [0.006, 0.031]`` (``""`` without an
    effect): the estimate on the deciding metric and its interval."""
    if not stats:
        return ""
    metric = stats.get("metric")
    estimate = number(stats.get("estimate"))
    parts = []
    if estimate is not None:
        parts.append(f"{metric + ' ' if metric else ''}effect {estimate:+.4g}")
    ci = stats.get("ci")
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        low, high = number(ci[0]), number(ci[1])
        if low is not None and high is not None:
            level = number(stats.get("confidence"))
            kind = "CS" if stats.get("sequential") else "CI"
            label = f"{level:.0%} {kind}" if level is not None else kind
            parts.append(f"{label} [{_g(low)}, {_g(high)}]")
    return ", ".join(parts)


def metric_text(summary: MetricSummary) -> str:
    """``0.243`` for one case, ``0.243 ± 0.012`` (standard deviation) for more."""
    if summary.n > 1:
        return f"{_g(summary.mean)} ± {summary.sd:.2g}"
    return _g(summary.mean)


def case_metrics(cases: Iterable[Any]) -> dict[str, MetricSummary]:
    """Per metric, over ``cases`` (records): the last value each logged."""
    values: dict[str, list[float]] = {}
    for case in cases:
        for key, value in case.metrics.items():
            finite = number(value)
            if finite is not None:
                values.setdefault(key, []).append(finite)
    return {k: MetricSummary.of(v) for k, v in values.items()}


def pick_metrics(
    metrics: Mapping[str, MetricSummary],
    preferred: Iterable[str] = (),
    limit: int = SHOWN_METRICS,
) -> list[str]:
    """The metrics to show: those named (a decision's metric, a baseline's
    metrics) first, then the others alphabetically, ``limit`` at most."""
    named = [m for m in dict.fromkeys(preferred) if m in metrics]
    rest = sorted(m for m in metrics if m not in named and not m.startswith("grd."))
    return (named + rest)[:limit]


def evidence_text(result: HypothesisResult) -> str:
    """What ``result`` rests on, for ``grd commit``'s Result line:
    ``p = 0.011; auc effect +0.018, 90% CI [0.006, 0.031]`` when decided by
    statistics, else ``mae = 0.243 ± 0.012, rmse = 0.31 ± 0.02 over 3 cases``."""
    stats = result.stats
    if stats and p_value(stats) is not None:
        return "; ".join(part for part in (p_text(stats), stat_text(stats)) if part)
    metrics = case_metrics(result.evidence)
    preferred = [str(stats.get("metric"))] if stats and stats.get("metric") else []
    for case in result.cases:
        preferred += list(case.baseline)
    names = pick_metrics(metrics, preferred)
    if not names:
        return ""
    shown = ", ".join(f"{name} = {metric_text(metrics[name])}" for name in names)
    more = len([m for m in metrics if not m.startswith("grd.")]) - len(names)
    if more > 0:
        shown += f" (and {more} more)"
    n = max(metrics[name].n for name in names)
    return shown + (f" over {n} cases" if n > 1 else "")
