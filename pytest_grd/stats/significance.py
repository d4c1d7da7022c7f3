"""The significance tests behind a verdict, run with scipy.

Every test answers the same two questions about the effect (mean(new) -
mean(baseline), or mean(new) - threshold) and a boundary on it: the one-sided
p-value of H0 "the effect lies on the other side of the boundary" (for the
claim) and that of the opposite H0 (against it), plus the two-sided
``1 - 2*alpha`` interval where the test has one.  :func:`run_test` runs one
test; :func:`refusal_reason` says beforehand when a test cannot decide with
the samples given, and :class:`Refusal` is raised when that only shows while
it runs; :func:`welch_many` is the Welch path vectorized over many simulated
experiments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from .result import decide_many
from .rules import TEST_NAMES

__all__ = [
    "DEFAULT_SEED",
    "MIN_BOOTSTRAP_N",
    "N_RESAMPLES",
    "Computed",
    "Refusal",
    "min_attainable_p",
    "refusal_reason",
    "run_test",
    "welch_many",
]

#: Smallest sample per arm for the BCa bootstrap: below it its intervals are
#: too narrow (simulated: a percentile bootstrap gave 0.20 false positives at
#: n = 3, 0.12 at n = 5; docs/statistics.md has the BCa figures).
MIN_BOOTSTRAP_N = 8
#: Resamples for the permutation test and the bootstrap; fixed seed so a
#: serial and a parallel session decide identically.
N_RESAMPLES = 9999
DEFAULT_SEED = 20240611

Array = npt.NDArray[np.float64]


@dataclass
class Computed:
    """What one test gave: its statistic, the p-values for and against the
    claim, and the interval of the effect (``None``: the test has none)."""

    statistic: float
    p_claim: float
    p_against: float
    ci: list[float] | None
    details: dict[str, Any] = field(default_factory=dict)


class Refusal(Exception):
    """The test cannot reach a decision with these samples."""


# -- when a test cannot decide ----------------------------------------------


def min_attainable_p(test: str, n: Sequence[int]) -> float | None:
    """The smallest one-sided p-value an exact rank or permutation test can
    give with these sample sizes (``None`` for the t-tests and the bootstrap):
    every arrangement of the pooled ranks (or signs) is equally likely under H0."""
    if test in ("mannwhitney", "permutation") and len(n) == 2:
        return 1.0 / math.comb(n[0] + n[1], n[0])
    if test in ("wilcoxon", "permutation") and len(n) == 1:
        return float(0.5 ** n[0])
    return None


def _constant(values: Array) -> bool:
    """All values equal up to rounding (a mean of 0.4s is not exactly 0.4, so
    ``var == 0`` misses it and the t statistic explodes)."""
    scale = float(np.max(np.abs(values))) if len(values) else 0.0
    return float(np.ptp(values)) <= 1e-12 * max(scale, 1e-300)


def refusal_reason(
    test: str, new: Array, base: Array | None, alpha: float, unit: str
) -> str | None:
    """Why ``test`` cannot decide with these (finite) samples, or ``None``."""
    sizes = [len(new)] if base is None else [len(new), len(base)]
    sizes_text = " vs ".join(str(k) for k in sizes)
    name = TEST_NAMES[test]
    if min(sizes) < 2:
        return f"{name} needs at least 2 {unit} per arm, got {sizes_text}"
    if test in ("welch", "one_sample_t"):
        arms = [new] if base is None else [new, base]
        if all(_constant(a) for a in arms):
            which = "both arms have" if base is not None else "the sample has"
            return (
                f"{which} zero variance ({sizes_text} {unit}, every value identical); "
                "a t-test needs spread"
            )
    min_p = min_attainable_p(test, sizes)
    if min_p is not None and min_p >= alpha:
        return (
            f"an exact {name} with {sizes_text} {unit} cannot reach p < {alpha:g} "
            f"(smallest possible p = {min_p:.3g}); add {unit} or use test='welch'"
        )
    if test == "bootstrap_bca":
        if min(sizes) < MIN_BOOTSTRAP_N:
            return (
                f"the BCa bootstrap needs at least {MIN_BOOTSTRAP_N} {unit} per arm to hold "
                f"its error rate, got {sizes_text}; use test='welch'"
            )
        if all(_constant(a) for a in ([new] if base is None else [new, base])):
            return f"every arm has identical values ({sizes_text}); the bootstrap needs spread"
    return None


# -- the tests -----------------------------------------------------------------


def _mean_diff(x: Array, y: Array, axis: int = -1) -> Array:
    return np.asarray(np.mean(x, axis=axis) - np.mean(y, axis=axis))


def _mean(x: Array, axis: int = -1) -> Array:
    return np.asarray(np.mean(x, axis=axis))


def _opposite(alternative: str) -> str:
    return "less" if alternative == "greater" else "greater"


def welch_many(
    new: Array,
    base: Array,
    *,
    alternative: str = "greater",
    boundary: float = 0.0,
    alpha: float = 0.05,
) -> dict[str, Array]:
    """Welch's t-test of H0 "effect on the other side of ``boundary``" along the
    last axis: the code path :func:`~pytest_grd.stats.engine.analyse` uses for
    ``test="welch"``, also callable on many simulated experiments at once (rows)."""
    shifted = new - boundary
    opposite = _opposite(alternative)
    claim = sps.ttest_ind(shifted, base, equal_var=False, alternative=alternative, axis=-1)
    against = sps.ttest_ind(shifted, base, equal_var=False, alternative=opposite, axis=-1)
    two = sps.ttest_ind(new, base, equal_var=False, axis=-1)
    ci = two.confidence_interval(confidence_level=1 - 2 * alpha)
    return {
        "statistic": np.asarray(claim.statistic),
        "p_claim": np.asarray(claim.pvalue),
        "p_against": np.asarray(against.pvalue),
        "ci_low": np.asarray(ci.low),
        "ci_high": np.asarray(ci.high),
        "df": np.asarray(claim.df),
        "verdict": decide_many(np.asarray(claim.pvalue), np.asarray(against.pvalue), alpha),
    }


def run_test(
    test: str,
    new: Array,
    base: Array | None,
    threshold: float,
    alternative: str,
    boundary: float,
    alpha: float,
    seed: int,
) -> Computed:
    """Run ``test`` for the effect boundary ``boundary`` (on the raw scale of
    mean(new) - mean(base) or mean(new) - threshold)."""
    if base is not None:
        return _two_sample(test, new, base, alternative, boundary, alpha, seed)
    return _one_sample(test, new - threshold, alternative, boundary, alpha, seed)


def _two_sample(
    test: str,
    new: Array,
    base: Array,
    alternative: str,
    boundary: float,
    alpha: float,
    seed: int,
) -> Computed:
    """The two-sample variant of ``test``: new samples against baseline samples."""
    opposite = _opposite(alternative)
    shifted = new - boundary
    if test == "welch":
        w = welch_many(new, base, alternative=alternative, boundary=boundary, alpha=alpha)
        return Computed(
            float(w["statistic"]),
            float(w["p_claim"]),
            float(w["p_against"]),
            [float(w["ci_low"]), float(w["ci_high"])],
            {"df": float(w["df"])},
        )
    if test == "mannwhitney":
        claim = sps.mannwhitneyu(shifted, base, alternative=alternative)
        against = sps.mannwhitneyu(shifted, base, alternative=opposite)
        return Computed(float(claim.statistic), float(claim.pvalue), float(against.pvalue), None)
    if test == "permutation":
        kw: dict[str, Any] = {"vectorized": True, "n_resamples": N_RESAMPLES}
        claim = sps.permutation_test(
            (shifted, base), _mean_diff, alternative=alternative, rng=seed, **kw
        )
        against = sps.permutation_test(
            (shifted, base), _mean_diff, alternative=opposite, rng=seed, **kw
        )
        return Computed(
            float(claim.statistic) + boundary,
            float(claim.pvalue),
            float(against.pvalue),
            None,
        )
    if test == "bootstrap_bca":
        return _bootstrap((new, base), _mean_diff, alternative, boundary, 1 - 2 * alpha, seed)
    raise AssertionError(f"unknown two-sample test {test}")  # pragma: no cover


def _one_sample(
    test: str,
    centred: Array,
    alternative: str,
    boundary: float,
    alpha: float,
    seed: int,
) -> Computed:
    """The one-sample variant of ``test``, on ``centred`` = new - threshold."""
    opposite = _opposite(alternative)
    level = 1 - 2 * alpha
    if test == "one_sample_t":
        claim = sps.ttest_1samp(centred, boundary, alternative=alternative)
        against = sps.ttest_1samp(centred, boundary, alternative=opposite)
        two = sps.ttest_1samp(centred, 0.0)
        ci = two.confidence_interval(confidence_level=level)
        return Computed(
            float(claim.statistic),
            float(claim.pvalue),
            float(against.pvalue),
            [float(ci.low), float(ci.high)],
            {"df": float(claim.df)},
        )
    if test == "wilcoxon":
        diffs = centred - boundary
        claim = sps.wilcoxon(diffs, alternative=alternative)
        against = sps.wilcoxon(diffs, alternative=opposite)
        return Computed(float(claim.statistic), float(claim.pvalue), float(against.pvalue), None)
    if test == "permutation":
        diffs = centred - boundary
        kw: dict[str, Any] = {
            "vectorized": True,
            "n_resamples": N_RESAMPLES,
            "permutation_type": "samples",
        }
        claim = sps.permutation_test((diffs,), _mean, alternative=alternative, rng=seed, **kw)
        against = sps.permutation_test((diffs,), _mean, alternative=opposite, rng=seed, **kw)
        return Computed(
            float(claim.statistic) + boundary, float(claim.pvalue), float(against.pvalue), None
        )
    if test == "bootstrap_bca":
        return _bootstrap((centred,), _mean, alternative, boundary, level, seed)
    raise AssertionError(f"unknown one-sample test {test}")  # pragma: no cover


def _bootstrap(
    data: tuple[Array, ...],
    statistic: Callable[..., Array],
    alternative: str,
    boundary: float,
    level: float,
    seed: int,
) -> Computed:
    res = sps.bootstrap(
        data,
        statistic,
        method="BCa",
        confidence_level=level,
        n_resamples=N_RESAMPLES,
        vectorized=True,
        rng=seed,
    )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise Refusal("the BCa bootstrap interval is undefined for these samples (too few ties?)")
    p_claim = _bootstrap_p(data, statistic, res, boundary, alternative, seed)
    p_against = _bootstrap_p(data, statistic, res, boundary, _opposite(alternative), seed)
    observed = float(statistic(*data))
    return Computed(observed, p_claim, p_against, [low, high])


def _bootstrap_p(
    data: tuple[Array, ...],
    statistic: Callable[..., Array],
    res: Any,
    boundary: float,
    alternative: str,
    seed: int,
) -> float:
    """One-sided p-value of H0 "effect on the other side of ``boundary``" by
    inverting the BCa interval: the smallest alpha at which the one-sided BCa
    bound excludes ``boundary`` (bisection on the confidence level, reusing
    one bootstrap distribution)."""

    def bound(level: float) -> float:
        r = sps.bootstrap(
            data,
            statistic,
            method="BCa",
            confidence_level=level,
            alternative=alternative,
            n_resamples=0,
            bootstrap_result=res,
            vectorized=True,
            rng=seed,
        )
        ci = r.confidence_interval
        return float(ci.low if alternative == "greater" else ci.high)

    def excludes(level: float) -> bool:
        b = bound(level)
        return b > boundary if alternative == "greater" else b < boundary

    floor = 1.0 / (N_RESAMPLES + 1)
    lo, hi = 1e-6, 1.0 - floor  # confidence levels
    if excludes(hi):
        return floor
    if not excludes(lo):
        return 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        if excludes(mid):
            lo = mid
        else:
            hi = mid
    return max(floor, 1.0 - lo)
