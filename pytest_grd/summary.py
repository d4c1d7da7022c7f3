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
    Verdict.MEASURED.value: {"cyan": True, "bold": True},
}


def format_stats(stats: dict[str, Any] | None) -> str:
    """``p = 0.004 (holm-adjusted 0.012), 90% CI [0.011, 0.031], n = 10 vs 10,
    hedges_g = 1.3, P(improvement) = 0.86, welch`` from a stats dict (the keys
    :mod:`pytest_grd.stats` writes; missing ones are left out)."""
    if not stats:
        return ""
    parts = []
    p = stats.get("p_value")
    p_adj = stats.get("p_adjusted")
    if p is not None:
        text = f"p = {p:.3g}"
        correction = stats.get("correction")
        if (
            p_adj is not None
            and correction not in (None, "none")
            and (stats.get("family_size") or 1) > 1
        ):
            text += f" ({correction}-adjusted {p_adj:.3g})"
        parts.append(text)
    elif p_adj is not None:
        parts.append(f"p_adj = {p_adj:.3g}")
    ci = stats.get("ci")
    if ci and len(ci) == 2 and ci[0] is not None:
        level = stats.get("confidence", 0.95)
        kind = "anytime-valid CS" if stats.get("sequential") else "CI"
        parts.append(f"{level:.0%} {kind} [{ci[0]:.4g}, {ci[1]:.4g}]")
    elif stats.get("estimate") is not None:
        parts.append(f"effect = {stats['estimate']:.4g}")
    n = stats.get("n")
    if n:
        parts.append("n = " + " vs ".join(str(x) for x in n) if isinstance(n, list) else f"n = {n}")
    effect = stats.get("effect_size")
    if isinstance(effect, dict) and effect.get("value") is not None:
        parts.append(f"{effect.get('name', 'effect size')} = {effect['value']:.3g}")
    prob = stats.get("prob_improvement")
    if prob is not None:
        parts.append(f"P(improvement) = {prob:.2f}")
    test = stats.get("test")
    if test and not stats.get("sequential"):
        parts.append(str(test))
    if stats.get("suggested_n") and not stats.get("sequential"):
        parts.append(f"suggested n = {stats['suggested_n']}")
    if stats.get("sequential"):
        parts.append(
            f"sequential: {stats.get('seeds_used')} of at most {stats.get('max_seeds')} seeds "
            f"({stats.get('seeds_saved', 0)} not needed)"
        )
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
        count_text = ", ".join(f"{n} {word.lower()}" for word, n in counts.items() if n)
        claim = f" - {r.claim}" if r.claim else ""
        lines.append(
            (f"{r.id:<{width}}  {r.verdict:<12} ({count_text}){claim}", _MARKUP[r.verdict])
        )
        stats_text = format_stats(r.stats)
        if stats_text:
            lines.append((f"{'':<{width}}  stats: {stats_text}", {}))
        if (r.verdict != Verdict.VALIDATED.value or verbose) and r.reason:
            lines.append((f"{'':<{width}}  reason: {r.reason}", {}))
        elif r.stats and r.stats.get("optional_stopping"):
            lines.append(
                (f"{'':<{width}}  warning: {r.stats['optional_stopping']}", {"yellow": True})
            )
    return lines
