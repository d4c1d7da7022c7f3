"""The statistics behind a verdict: one test, its interval, its decision.

:func:`analyse` takes the samples (per-seed or per-fold scores) of a new
method and a baseline sample or a fixed threshold, runs the requested test
(scipy), and returns a :class:`StatsResult` whose ``verdict`` follows one rule:

* the claim is "the effect (mean(new) - mean(baseline), or mean(new) -
  threshold) exceeds ``min_effect``" (for ``less``: lies below ``-min_effect``);
* VALIDATED when the one-sided test of H0 "the claim is false" rejects at
  ``alpha`` - equivalently the two-sided ``1 - 2*alpha`` interval lies entirely
  on the claimed side of the boundary;
* REJECTED when the opposite one-sided test rejects at ``alpha`` - the
  interval lies entirely on the other side of the boundary;
* INCONCLUSIVE otherwise, with the number of seeds a power analysis suggests,
  and INCONCLUSIVE ("too little evidence") when the test cannot reach
  ``alpha`` with the samples given.

Pure logic (numpy, scipy, statsmodels; no pytest).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from ..verdict import Verdict
from .rules import ALTERNATIVES, TEST_NAMES, TESTS, check_alpha, check_min_effect, check_test

__all__ = [
    "decide_many",
    "welch_many",
    "MIN_BOOTSTRAP_N",
    "POWER_TARGET",
    "StatsResult",
    "analyse",
    "min_attainable_p",
]

#: Power the suggested number of seeds aims for.
POWER_TARGET = 0.8
#: Smallest sample per arm for the BCa bootstrap: below it its intervals are
#: too narrow (FACTS.md: a percentile bootstrap gave 0.20 false positives at
#: n = 3, 0.12 at n = 5; docs/statistics.md has the BCa figures).
MIN_BOOTSTRAP_N = 8
#: Resamples for the permutation test and the bootstrap; fixed seed so a
#: serial and a parallel session decide identically.
N_RESAMPLES = 9999
DEFAULT_SEED = 20240611
#: Above this, "add seeds" is not practical advice: the reason says so instead.
MAX_SUGGESTED_N = 10000

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class StatsResult:
    """The outcome of one statistical decision; ``to_dict()`` is the stats
    record that the terminal, the report and MLflow read."""

    verdict: str
    reason: str
    test: str
    alternative: str
    n: list[int]
    alpha: float
    min_effect: float
    confidence: float
    decision_rule: str
    statistic: float | None = None
    p_value: float | None = None
    p_value_against: float | None = None
    p_adjusted: float | None = None
    p_against_adjusted: float | None = None
    correction: str = "none"
    family_size: int = 1
    ci: list[float] | None = None
    estimate: float | None = None
    effect_size: dict[str, Any] | None = None
    prob_improvement: float | None = None
    suggested_n: int | None = None
    metric: str | None = None
    than: float | str | None = None
    refused: bool = False
    unit: str = "samples"
    details: dict[str, Any] = field(default_factory=dict)
    #: Inputs of the power analysis, run only when the verdict is INCONCLUSIVE
    #: (it costs a root search): (estimate, boundary, spread, two_sample, n).
    power_inputs: tuple[float, float, float, bool, int] | None = None

    @property
    def validated(self) -> bool:
        return self.verdict == Verdict.VALIDATED.value

    def to_dict(self) -> dict[str, Any]:
        """The stats record (plain JSON)."""
        out: dict[str, Any] = {
            "test": self.test,
            "alternative": self.alternative,
            "metric": self.metric,
            "than": self.than,
            "n": list(self.n),
            "statistic": self.statistic,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "correction": self.correction,
            "ci": list(self.ci) if self.ci is not None else None,
            "confidence": self.confidence,
            "alpha": self.alpha,
            "min_effect": self.min_effect,
            "effect_size": dict(self.effect_size) if self.effect_size else None,
            "prob_improvement": self.prob_improvement,
            "decision": self.verdict,
            "decision_rule": self.decision_rule,
            "suggested_n": self.suggested_n,
            "reason": self.reason,
            "estimate": self.estimate,
            "p_value_against": self.p_value_against,
            "p_against_adjusted": self.p_against_adjusted,
            "family_size": self.family_size,
            "refused": self.refused,
        }
        out.update(self.details)
        return out

    def _power_n(self) -> int | None:
        if self.suggested_n is not None:
            return self.suggested_n
        if self.power_inputs is None:
            return None
        estimate, boundary, spread, two_sample, n = self.power_inputs
        return _suggested_n(estimate, boundary, spread, self.alpha, two_sample, n)

    def adjusted(
        self, p_adjusted: float, p_against_adjusted: float, correction: str, family_size: int
    ) -> StatsResult:
        """This result re-decided with multiple-comparison adjusted p-values."""
        verdict = _decide(p_adjusted, p_against_adjusted, self.alpha)
        new = replace(
            self,
            verdict=verdict.value,
            p_adjusted=p_adjusted,
            p_against_adjusted=p_against_adjusted,
            correction=correction,
            family_size=family_size,
            suggested_n=self._power_n() if verdict is Verdict.INCONCLUSIVE else None,
        )
        return replace(new, reason=_reason(new))


# -- decision ----------------------------------------------------------------


def _decide(p_claim: float, p_against: float, alpha: float) -> Verdict:
    if p_claim < alpha:
        return Verdict.VALIDATED
    if p_against < alpha:
        return Verdict.REJECTED
    return Verdict.INCONCLUSIVE


def decide_many(p_claim: Array, p_against: Array, alpha: float) -> npt.NDArray[np.str_]:
    """The decision rule of :func:`_decide`, element-wise (for simulations)."""
    return np.where(
        p_claim < alpha,
        Verdict.VALIDATED.value,
        np.where(p_against < alpha, Verdict.REJECTED.value, Verdict.INCONCLUSIVE.value),
    )


def welch_many(
    new: Array,
    base: Array,
    *,
    alternative: str = "greater",
    boundary: float = 0.0,
    alpha: float = 0.05,
) -> dict[str, Array]:
    """Welch's t-test of H0 "effect on the other side of ``boundary``" along the
    last axis: the code path :func:`analyse` uses for ``test="welch"``, also
    callable on many simulated experiments at once (rows)."""
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


def _reason(r: StatsResult) -> str:
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


def _rule_text(test: str, alternative: str, boundary: float, alpha: float, has_ci: bool) -> str:
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


# -- tests -----------------------------------------------------------------


def min_attainable_p(test: str, n: Sequence[int]) -> float | None:
    """The smallest one-sided p-value an exact rank or permutation test can
    give with these sample sizes (``None`` for the t-tests and the bootstrap):
    every arrangement of the pooled ranks (or signs) is equally likely under H0."""
    if test in ("mannwhitney", "permutation") and len(n) == 2:
        return 1.0 / math.comb(n[0] + n[1], n[0])
    if test in ("wilcoxon", "permutation") and len(n) == 1:
        return float(0.5 ** n[0])
    return None


def _mean_diff(x: Array, y: Array, axis: int = -1) -> Array:
    return np.asarray(np.mean(x, axis=axis) - np.mean(y, axis=axis))


def _mean(x: Array, axis: int = -1) -> Array:
    return np.asarray(np.mean(x, axis=axis))


def _opposite(alternative: str) -> str:
    return "less" if alternative == "greater" else "greater"


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


@dataclass
class _Computed:
    statistic: float
    p_claim: float
    p_against: float
    ci: list[float] | None
    details: dict[str, Any] = field(default_factory=dict)


def _run_test(
    test: str,
    new: Array,
    base: Array | None,
    threshold: float,
    alternative: str,
    boundary: float,
    alpha: float,
    seed: int,
) -> _Computed:
    """Run ``test`` for the effect boundary ``boundary`` (on the raw scale of
    mean(new) - mean(base) or mean(new) - threshold)."""
    opposite = _opposite(alternative)
    level = 1 - 2 * alpha
    if base is not None:
        shifted = new - boundary
        if test == "welch":
            w = welch_many(new, base, alternative=alternative, boundary=boundary, alpha=alpha)
            return _Computed(
                float(w["statistic"]),
                float(w["p_claim"]),
                float(w["p_against"]),
                [float(w["ci_low"]), float(w["ci_high"])],
                {"df": float(w["df"])},
            )
        if test == "mannwhitney":
            claim = sps.mannwhitneyu(shifted, base, alternative=alternative)
            against = sps.mannwhitneyu(shifted, base, alternative=opposite)
            return _Computed(
                float(claim.statistic), float(claim.pvalue), float(against.pvalue), None
            )
        if test == "permutation":
            kw: dict[str, Any] = {"vectorized": True, "n_resamples": N_RESAMPLES}
            claim = sps.permutation_test(
                (shifted, base), _mean_diff, alternative=alternative, rng=seed, **kw
            )
            against = sps.permutation_test(
                (shifted, base), _mean_diff, alternative=opposite, rng=seed, **kw
            )
            return _Computed(
                float(claim.statistic) + boundary,
                float(claim.pvalue),
                float(against.pvalue),
                None,
            )
        if test == "bootstrap_bca":
            return _bootstrap((new, base), _mean_diff, alternative, boundary, level, seed)
        raise AssertionError(f"unknown two-sample test {test}")  # pragma: no cover
    centred = new - threshold
    if test == "one_sample_t":
        claim = sps.ttest_1samp(centred, boundary, alternative=alternative)
        against = sps.ttest_1samp(centred, boundary, alternative=opposite)
        two = sps.ttest_1samp(centred, 0.0)
        ci = two.confidence_interval(confidence_level=level)
        return _Computed(
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
        return _Computed(float(claim.statistic), float(claim.pvalue), float(against.pvalue), None)
    if test == "permutation":
        diffs = centred - boundary
        kw = {"vectorized": True, "n_resamples": N_RESAMPLES, "permutation_type": "samples"}
        claim = sps.permutation_test((diffs,), _mean, alternative=alternative, rng=seed, **kw)
        against = sps.permutation_test((diffs,), _mean, alternative=opposite, rng=seed, **kw)
        return _Computed(
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
) -> _Computed:
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
        raise _Refusal("the BCa bootstrap interval is undefined for these samples (too few ties?)")
    p_claim = _bootstrap_p(data, statistic, res, boundary, alternative, seed)
    p_against = _bootstrap_p(data, statistic, res, boundary, _opposite(alternative), seed)
    observed = float(statistic(*data))
    return _Computed(observed, p_claim, p_against, [low, high])


class _Refusal(Exception):
    """The test cannot reach a decision with these samples."""


def _constant(values: Array) -> bool:
    """All values equal up to rounding (a mean of 0.4s is not exactly 0.4, so
    ``var == 0`` misses it and the t statistic explodes)."""
    scale = float(np.max(np.abs(values))) if len(values) else 0.0
    return float(np.ptp(values)) <= 1e-12 * max(scale, 1e-300)


def _refusal_reason(
    test: str, new: Array, base: Array | None, alpha: float, unit: str
) -> str | None:
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


def _suggested_n(
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


def _as_array(values: Any, what: str) -> Array:
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be numbers, got {values!r}") from None
    return arr


def analyse(
    new: Sequence[float] | Array,
    baseline: Sequence[float] | Array | float,
    *,
    alternative: str = "greater",
    min_effect: float = 0.0,
    alpha: float = 0.05,
    test: str = "welch",
    metric: str | None = None,
    than: float | str | None = None,
    unit: str = "samples",
    seed: int = DEFAULT_SEED,
) -> StatsResult:
    """Decide "mean(new) is greater (less) than ``baseline`` by more than
    ``min_effect``" from samples.  ``baseline`` is a sample (two-sample
    comparison) or a number (one-sample test against a threshold).  Bad
    arguments raise :class:`ValueError`; samples that cannot decide give an
    INCONCLUSIVE result with ``refused=True``."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be 'greater' or 'less', got {alternative!r}")
    alpha = check_alpha(alpha)
    min_effect = check_min_effect(min_effect)
    two_sample_test, one_sample_test = TESTS[check_test(test)]
    x = _as_array(new, "the new samples")
    is_threshold = isinstance(baseline, (int, float, np.floating, np.integer)) and not isinstance(
        baseline, bool
    )
    if is_threshold:
        threshold = float(baseline)  # type: ignore[arg-type]
        if not math.isfinite(threshold):
            raise ValueError(f"the threshold must be a finite number, got {baseline!r}")
        y: Array | None = None
        test_name = one_sample_test
        if than is None:
            than = threshold
    else:
        threshold = 0.0
        y = _as_array(baseline, "the baseline samples")
        test_name = two_sample_test
        if than is None:
            than = "baseline"
    # ``+ 0.0`` keeps -0.0 out of the messages.
    boundary = (min_effect if alternative == "greater" else -min_effect) + 0.0
    sizes = [len(x)] if y is None else [len(x), len(y)]
    confidence = 1 - 2 * alpha
    has_ci = test_name in ("welch", "one_sample_t", "bootstrap_bca")
    base_fields: dict[str, Any] = {
        "test": test_name,
        "alternative": alternative,
        "n": sizes,
        "alpha": alpha,
        "min_effect": min_effect,
        "confidence": confidence,
        "decision_rule": _rule_text(test_name, alternative, boundary, alpha, has_ci),
        "metric": metric,
        "than": than,
        "unit": unit,
    }

    bad = [
        f"{what} has {int(np.sum(~np.isfinite(a)))} non-finite value(s)"
        for what, a in (("new", x), ("baseline", y))
        if a is not None and not np.all(np.isfinite(a))
    ]
    refusal = "; ".join(bad) if bad else _refusal_reason(test_name, x, y, alpha, unit)
    computed: _Computed | None = None
    if refusal is None:
        try:
            computed = _run_test(test_name, x, y, threshold, alternative, boundary, alpha, seed)
        except _Refusal as exc:
            refusal = str(exc)
        except ValueError as exc:  # scipy's own "cannot compute" (e.g. all differences zero)
            refusal = f"{TEST_NAMES[test_name]} cannot run on these samples: {exc}"
        if computed is not None and not (
            math.isfinite(computed.p_claim) and math.isfinite(computed.p_against)
        ):
            refusal, computed = f"{TEST_NAMES[test_name]} gave no p-value for these samples", None
    if refusal is not None or computed is None:
        min_p = min_attainable_p(test_name, sizes)
        result = StatsResult(
            verdict=Verdict.INCONCLUSIVE.value,
            reason="",
            refused=True,
            details={"min_attainable_p": min_p} if min_p is not None else {},
            **base_fields,
        )
        text = f"INCONCLUSIVE: too little evidence: {refusal}"
        return replace(result, reason=text)

    mean_new = float(np.mean(x))
    sd_new = float(np.std(x, ddof=1))
    details: dict[str, Any] = {"mean_new": mean_new, "sd_new": sd_new, **computed.details}
    effect_size: dict[str, Any] | None
    prob: float | None = None
    if y is not None:
        mean_base = float(np.mean(y))
        sd_base = float(np.std(y, ddof=1))
        estimate = mean_new - mean_base
        n1, n2 = len(x), len(y)
        pooled = math.sqrt(((n1 - 1) * sd_new**2 + (n2 - 1) * sd_base**2) / (n1 + n2 - 2))
        # Hedges' small-sample correction of Cohen's d.
        correction = 1 - 3 / (4 * (n1 + n2) - 9)
        effect_size = {
            "name": "hedges_g",
            "value": estimate / pooled * correction if pooled > 0 else None,
        }
        diff = x[:, None] - y[None, :]
        wins = diff > 0 if alternative == "greater" else diff < 0
        prob = float(np.mean(wins) + 0.5 * np.mean(diff == 0))
        details.update({"mean_baseline": mean_base, "sd_baseline": sd_base})
        spread = pooled
    else:
        estimate = mean_new - threshold
        effect_size = {"name": "cohens_d", "value": estimate / sd_new if sd_new > 0 else None}
        details["threshold"] = threshold
        spread = sd_new
    min_p = min_attainable_p(test_name, sizes)
    if min_p is not None:
        details["min_attainable_p"] = min_p
    power_inputs = (estimate, boundary, spread, y is not None, max(sizes))
    verdict = _decide(computed.p_claim, computed.p_against, alpha)
    result = StatsResult(
        verdict=verdict.value,
        reason="",
        statistic=computed.statistic,
        p_value=computed.p_claim,
        p_value_against=computed.p_against,
        ci=computed.ci,
        estimate=estimate,
        effect_size=effect_size,
        prob_improvement=prob,
        suggested_n=(
            _suggested_n(estimate, boundary, spread, alpha, y is not None, max(sizes))
            if verdict is Verdict.INCONCLUSIVE
            else None
        ),
        power_inputs=power_inputs,
        details=details,
        **base_fields,
    )
    return replace(result, reason=_reason(result))
