"""Text of the "grd verdicts" terminal summary (pure)."""

from __future__ import annotations

from typing import Any

from .record import HypothesisResult
from .verdict import Verdict

__all__ = ["summary_lines", "format_stats"]

_MARKUP: dict[str, dict[str, bool]] = {
    Verdict.VALIDATED.value: {"green": True, "bold": True},
    Verdict.REJECTED.value: {"red": True, "bold": True},
    Verdict.INCONCLUSIVE.value: {"yellow": True, "bold": True},
}


def format_stats(stats: dict[str, Any] | None) -> str:
    """``p = 0.004, 95% CI [0.011, 0.031], n = 10 vs 10`` from a stats dict."""
    if not stats:
        return ""
    parts = []
    p = stats.get("p_adjusted", stats.get("p_value"))
    if p is not None:
        label = "p_adj" if "p_adjusted" in stats else "p"
        parts.append(f"{label} = {p:.3g}")
    ci = stats.get("ci")
    if ci and len(ci) == 2 and ci[0] is not None:
        level = stats.get("confidence", 0.95)
        parts.append(f"{level:.0%} CI [{ci[0]:.4g}, {ci[1]:.4g}]")
    n = stats.get("n")
    if n:
        parts.append("n = " + " vs ".join(str(x) for x in n) if isinstance(n, list) else f"n = {n}")
    test = stats.get("test")
    if test:
        parts.append(str(test))
    return ", ".join(parts)


def summary_lines(
    results: list[HypothesisResult], verbose: bool = False
) -> list[tuple[str, dict[str, bool]]]:
    """One line per hypothesis (id, verdict, counts, claim), then its reason
    when it is not VALIDATED, and statistics when it has them."""
    lines: list[tuple[str, dict[str, bool]]] = []
    width = max((len(r.id) for r in results), default=0)
    for r in results:
        counts = r.counts
        count_text = ", ".join(
            f"{counts[v.value]} {v.value.lower()}" for v in Verdict if counts.get(v.value)
        )
        claim = f" - {r.claim}" if r.claim else ""
        lines.append(
            (f"{r.id:<{width}}  {r.verdict:<12} ({count_text}){claim}", _MARKUP[r.verdict])
        )
        stats_text = format_stats(r.stats)
        if stats_text:
            lines.append((f"{'':<{width}}  stats: {stats_text}", {}))
        if (r.verdict != Verdict.VALIDATED.value or verbose) and r.reason:
            lines.append((f"{'':<{width}}  reason: {r.reason}", {}))
    return lines
