"""What a decision says besides its verdict: sentences, effect sizes, seeds.

:func:`reason_text` writes the ``reason`` of a :class:`StatsResult` (the
verdict, the p-value, the interval, the sample sizes, and for INCONCLUSIVE
what would decide it); :func:`rule_text` writes its ``decision_rule``;
:func:`measure_effect` computes the effect, its standardized size (Hedges' g
or Cohen's d) and the probability of improvement; :func:`suggest_n` runs the
power analysis (statsmodels, imported on first use) behind "about N seeds
per arm would decide".
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..verdict import Verdict
from .rules import TEST_NAMES

if TYPE_CHECKING:
    from .result import StatsResult

__all__ = [
    "MAX_SUGGESTED_N",
    "POWER_TARGET",
    "Effect",
    "measure_effect",
    "reason_text",
    "rule_text",
    "suggest_n",
]

#: Power the suggested number of seeds aims for.
POWER_TARGET = 0.8
#: Above this, "add seeds" is not practical advice: the reason says so instead.
MAX_SUGGESTED_N = 10000

Array = npt.NDArray[np.float64]


# -- sentences -----------------------------------------------------------------


def _g(x: float) -> str:
    return f"{x:.3g}"


def _p(x: float) -> str:
    return "< 0.0001" if x < 1e-4 else f"= {x:.2g}"


def _numbers(r: StatsResult) -> str:
    parts = []
    if r.p_value is not None:
        rejected = r.verdict == Verdict.REJECTED.value
        raw = r.p_value_against if rejected else r.p_value
        adj = r.p_against_adjusted if rejected else r.p_adjusted
        parts.append(f"{'p against the claim' if rejected else 'p'} {_p(raw or 0.0)}")
        if adj is not None and r.correction != "none" and r.family_size > 1:
            parts.append(f"{r.correction}-adjusted {_p(adj)} over {r.family_size} hypotheses")
    if r.ci is not None:
        parts.append(f"{r.confidence:.0%} CI [{_g(r.ci[0])}, {_g(r.ci[1])}]")
    elif r.estimate is not None:
        parts.append(f"effect {_g(r.estimate)}")
    sizes = " vs ".join(str(k) for k in r.n)
    parts.append(f"n = {sizes} {r.unit}")
    return ", ".join(parts)


def _boundary_text(r: StatsResult) -> str:
    sign = ">" if r.alternative == "greater" else "<"
    bound = (r.min_effect if r.alternative == "greater" else -r.min_effect) + 0.0
    return f"effect {sign} {bound:g}"


def reason_text(r: StatsResult) -> str:
    """The ``reason`` of a decided (not refused) result: its verdict and why."""
    head = f"{r.verdict} ({_numbers(r)})"
    if r.verdict == Verdict.REJECTED.value:
        return f"{head}: the evidence excludes the claimed {_boundary_text(r)}"
    if r.verdict == Verdict.INCONCLUSIVE.value:
        p_adj = r.p_adjusted
        if (
            r.p_value is not None
            and r.p_value < r.alpha
            and p_adj is not None
            and p_adj >= r.alpha
            and r.correction != "none"
        ):
            tail = f"significant alone, not after the {r.correction} correction"
        else:
            tail = "the evidence cannot decide the claimed " + _boundary_text(r)
        if r.suggested_n is not None:
            tail += (
                f"; about {r.suggested_n} {r.unit} per arm would decide an effect of this size "
                f"with {POWER_TARGET:.0%} power"
            )
        else:
            tail += (
                "; the observed effect sits too close to the boundary for any practical "
                f"number of {r.unit} to decide it"
            )
        return f"{head}: {tail}"
    return head


def rule_text(test: str, alternative: str, boundary: float, alpha: float, has_ci: bool) -> str:
    """The ``decision_rule`` sentence: when ``test`` validates or rejects."""
    name = TEST_NAMES[test]
    sign, other = (">", "<") if alternative == "greater" else ("<", ">")
    level = f"{1 - 2 * alpha:.0%}"
    if has_ci:
        return (
            f"VALIDATED if the {level} CI of the effect lies entirely {sign} {boundary:g} "
            f"(one-sided {name} at alpha = {alpha:g}); REJECTED if it lies entirely "
            f"{other} {boundary:g}; otherwise INCONCLUSIVE"
        )
    return (
        f"VALIDATED if the one-sided {name} rejects 'effect {other}= {boundary:g}' at "
        f"alpha = {alpha:g}; REJECTED if the opposite one-sided test rejects 'effect "
        f"{sign}= {boundary:g}'; otherwise INCONCLUSIVE"
    )


# -- effect sizes --------------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    """The observed effect of new samples over a baseline sample or threshold."""

    #: mean(new) - mean(baseline), or mean(new) - threshold.
    estimate: float
    #: The standard deviation the effect is measured in: pooled over both
    #: arms (two samples) or that of the new samples (one sample).
    spread: float
    #: ``{"name": "hedges_g" | "cohens_d", "value": float | None}``.
    effect_size: dict[str, Any]
    #: P(a new sample beats a baseline sample), ties counting half; two samples only.
    prob_improvement: float | None
    #: ``mean_new`` and ``sd_new`` for the stats record.
    new_summary: dict[str, float]
    #: ``mean_baseline`` and ``sd_baseline``, or ``threshold``, for the stats record.
    reference_summary: dict[str, float]


def measure_effect(new: Array, base: Array | None, threshold: float, alternative: str) -> Effect:
    """The effect of ``new`` over ``base`` (``None``: over ``threshold``)."""
    mean_new = float(np.mean(new))
    sd_new = float(np.std(new, ddof=1))
    new_summary = {"mean_new": mean_new, "sd_new": sd_new}
    if base is None:
        estimate = mean_new - threshold
        return Effect(
            estimate=estimate,
            spread=sd_new,
            effect_size={"name": "cohens_d", "value": estimate / sd_new if sd_new > 0 else None},
            prob_improvement=None,
            new_summary=new_summary,
            reference_summary={"threshold": threshold},
        )
    mean_base = float(np.mean(base))
    sd_base = float(np.std(base, ddof=1))
    estimate = mean_new - mean_base
    n1, n2 = len(new), len(base)
    pooled = math.sqrt(((n1 - 1) * sd_new**2 + (n2 - 1) * sd_base**2) / (n1 + n2 - 2))
    # Hedges' small-sample correction of Cohen's d.
    correction = 1 - 3 / (4 * (n1 + n2) - 9)
    diff = new[:, None] - base[None, :]
    wins = diff > 0 if alternative == "greater" else diff < 0
    return Effect(
        estimate=estimate,
        spread=pooled,
        effect_size={
            "name": "hedges_g",
            "value": estimate / pooled * correction if pooled > 0 else None,
        },
        prob_improvement=float(np.mean(wins) + 0.5 * np.mean(diff == 0)),
        new_summary=new_summary,
        reference_summary={"mean_baseline": mean_base, "sd_baseline": sd_base},
    )


# -- power analysis ------------------------------------------------------------


def suggest_n(
    estimate: float,
    boundary: float,
    sd: float,
    alpha: float,
    two_sample: bool,
    current: int,
) -> int | None:
    """Seeds per arm for a one-sided t-test to decide (either way) with
    :data:`POWER_TARGET` power if the true effect were the observed one."""
    if not (sd > 0 and math.isfinite(sd)):
        return None
    d = abs(estimate - boundary) / sd
    if d < 1e-3:
        return None  # the observed effect sits on the boundary: no finite n
    # Imported first on purpose: importing sm_exceptions installs an "always"
    # filter for its warnings, which would override the "ignore" below.
    import statsmodels.tools.sm_exceptions  # noqa: F401
    from statsmodels.stats.power import TTestIndPower, TTestPower

    analysis = TTestIndPower() if two_sample else TTestPower()
    try:
        with warnings.catch_warnings():
            # Very large effects make the root finder complain below n = 2.
            warnings.simplefilter("ignore")
            n = float(
                analysis.solve_power(
                    effect_size=d, alpha=alpha, power=POWER_TARGET, alternative="larger"
                )
            )
    except (ValueError, RuntimeError, ArithmeticError):
        return None
    if math.isnan(n):
        return current + 1 if d > 1 else None
    if not math.isfinite(n) or n > MAX_SUGGESTED_N:
        return None
    return max(math.ceil(n), current + 1)
