"""The statistics behind a verdict: one test, its interval, its decision.

:func:`analyse` takes the samples (per-seed or per-fold scores) of a new
method and a baseline sample or a fixed threshold, runs the requested test
(scipy), and returns a :class:`~pytest_grd.stats.result.StatsResult` whose
``verdict`` follows one rule:

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

This module checks the arguments and puts the steps together; the tests live
in :mod:`.significance`, the verdict rule and the result in :mod:`.result`,
the sentences, effect sizes and suggested seeds in :mod:`.explain`.

Pure logic (numpy, scipy, statsmodels; no pytest).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ..verdict import Verdict
from .explain import measure_effect, reason_text, rule_text, suggest_n
from .result import StatsResult, decide
from .rules import ALTERNATIVES, TEST_NAMES, TESTS, check_alpha, check_min_effect, check_test
from .significance import (
    DEFAULT_SEED,
    Computed,
    Refusal,
    min_attainable_p,
    refusal_reason,
    run_test,
)

__all__ = ["analyse"]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Setup:
    """The checked arguments of one :func:`analyse` call."""

    new: Array
    #: The baseline samples; ``None`` for a one-sample test against ``threshold``.
    base: Array | None
    #: 0.0 with a baseline sample.
    threshold: float
    #: The two-sample or one-sample variant of the requested test.
    test: str
    alternative: str
    min_effect: float
    alpha: float
    unit: str
    seed: int

    @property
    def boundary(self) -> float:
        """The effect the claim must exceed (``less``: lie below)."""
        # ``+ 0.0`` keeps -0.0 out of the messages.
        return (self.min_effect if self.alternative == "greater" else -self.min_effect) + 0.0

    @property
    def sizes(self) -> list[int]:
        return [len(self.new)] if self.base is None else [len(self.new), len(self.base)]

    @property
    def reference(self) -> float | str:
        """What the new samples are compared with, when ``than`` does not say."""
        return self.threshold if self.base is None else "baseline"


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
    setup = _check_arguments(new, baseline, alternative, min_effect, alpha, test, unit, seed)
    common = _common_fields(setup, metric, setup.reference if than is None else than)
    outcome = _run_or_refuse(setup)
    if isinstance(outcome, str):
        return _refused(setup, outcome, common)
    return _decided(setup, outcome, common)


def _as_array(values: Any, what: str) -> Array:
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be numbers, got {values!r}") from None
    return arr


def _check_arguments(
    new: Sequence[float] | Array,
    baseline: Sequence[float] | Array | float,
    alternative: str,
    min_effect: float,
    alpha: float,
    test: str,
    unit: str,
    seed: int,
) -> _Setup:
    """The arguments of :func:`analyse`, checked; :class:`ValueError` if bad."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be 'greater' or 'less', got {alternative!r}")
    alpha = check_alpha(alpha)
    min_effect = check_min_effect(min_effect)
    two_sample_test, one_sample_test = TESTS[check_test(test)]
    x = _as_array(new, "the new samples")
    y: Array | None
    if isinstance(baseline, (int, float, np.floating, np.integer)) and not isinstance(
        baseline, bool
    ):
        threshold = float(baseline)
        if not math.isfinite(threshold):
            raise ValueError(f"the threshold must be a finite number, got {baseline!r}")
        y, test_name = None, one_sample_test
    else:
        threshold = 0.0
        y, test_name = _as_array(baseline, "the baseline samples"), two_sample_test
    return _Setup(
        new=x,
        base=y,
        threshold=threshold,
        test=test_name,
        alternative=alternative,
        min_effect=min_effect,
        alpha=alpha,
        unit=unit,
        seed=seed,
    )


def _common_fields(setup: _Setup, metric: str | None, than: float | str) -> dict[str, Any]:
    """The fields of the result that do not depend on the samples' values."""
    has_ci = setup.test in ("welch", "one_sample_t", "bootstrap_bca")
    return {
        "test": setup.test,
        "alternative": setup.alternative,
        "n": setup.sizes,
        "alpha": setup.alpha,
        "min_effect": setup.min_effect,
        "confidence": 1 - 2 * setup.alpha,
        "decision_rule": rule_text(
            setup.test, setup.alternative, setup.boundary, setup.alpha, has_ci
        ),
        "metric": metric,
        "than": than,
        "unit": setup.unit,
    }


def _run_or_refuse(setup: _Setup) -> Computed | str:
    """The test's outcome, or why the samples cannot decide."""
    x, y = setup.new, setup.base
    bad = [
        f"{what} has {int(np.sum(~np.isfinite(a)))} non-finite value(s)"
        for what, a in (("new", x), ("baseline", y))
        if a is not None and not np.all(np.isfinite(a))
    ]
    refusal = "; ".join(bad) if bad else refusal_reason(setup.test, x, y, setup.alpha, setup.unit)
    if refusal is not None:
        return refusal
    name = TEST_NAMES[setup.test]
    try:
        computed = run_test(
            setup.test,
            x,
            y,
            setup.threshold,
            setup.alternative,
            setup.boundary,
            setup.alpha,
            setup.seed,
        )
    except Refusal as exc:
        return str(exc)
    except ValueError as exc:  # scipy's own "cannot compute" (e.g. all differences zero)
        return f"{name} cannot run on these samples: {exc}"
    if not (math.isfinite(computed.p_claim) and math.isfinite(computed.p_against)):
        return f"{name} gave no p-value for these samples"
    return computed


def _refused(setup: _Setup, refusal: str, common: dict[str, Any]) -> StatsResult:
    """The INCONCLUSIVE result of samples that cannot decide (no test ran)."""
    min_p = min_attainable_p(setup.test, setup.sizes)
    return StatsResult(
        verdict=Verdict.INCONCLUSIVE.value,
        reason=f"INCONCLUSIVE: too little evidence: {refusal}",
        refused=True,
        details={"min_attainable_p": min_p} if min_p is not None else {},
        **common,
    )


def _decided(setup: _Setup, computed: Computed, common: dict[str, Any]) -> StatsResult:
    """The result of a test that ran: verdict, effect, reason and, when
    INCONCLUSIVE, the suggested number of samples per arm."""
    effect = measure_effect(setup.new, setup.base, setup.threshold, setup.alternative)
    # Key order kept: the stats record lists them in this order.
    details: dict[str, Any] = {**effect.new_summary, **computed.details, **effect.reference_summary}
    sizes = setup.sizes
    min_p = min_attainable_p(setup.test, sizes)
    if min_p is not None:
        details["min_attainable_p"] = min_p
    two_sample = setup.base is not None
    power_inputs = (effect.estimate, setup.boundary, effect.spread, two_sample, max(sizes))
    verdict = decide(computed.p_claim, computed.p_against, setup.alpha)
    result = StatsResult(
        verdict=verdict.value,
        reason="",
        statistic=computed.statistic,
        p_value=computed.p_claim,
        p_value_against=computed.p_against,
        ci=computed.ci,
        estimate=effect.estimate,
        effect_size=effect.effect_size,
        prob_improvement=effect.prob_improvement,
        suggested_n=(
            suggest_n(
                effect.estimate, setup.boundary, effect.spread, setup.alpha, two_sample, max(sizes)
            )
            if verdict is Verdict.INCONCLUSIVE
            else None
        ),
        power_inputs=power_inputs,
        details=details,
        **common,
    )
    return replace(result, reason=reason_text(result))
