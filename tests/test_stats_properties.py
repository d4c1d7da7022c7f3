"""Properties of the decision rule (Hypothesis) and seeded simulations of its
error rate and power."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statsmodels.stats.power import TTestIndPower

from pytest_grd.stats.engine import analyse
from pytest_grd.stats.significance import welch_many

RANK = {"REJECTED": 0, "INCONCLUSIVE": 1, "VALIDATED": 2}

values = st.floats(min_value=0.0, max_value=1.0, allow_nan=False, allow_subnormal=False)
samples = st.lists(values, min_size=2, max_size=8).filter(lambda xs: max(xs) - min(xs) > 1e-3)
shifts = st.floats(min_value=-0.5, max_value=0.5, allow_nan=False, allow_subnormal=False)
min_effects = st.sampled_from([0.0, 0.01, 0.1])
common = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(
    x=samples,
    y=samples,
    a=shifts,
    b=shifts,
    m=min_effects,
    test=st.sampled_from(["welch", "mannwhitney"]),
)
def test_verdict_is_monotone_in_the_effect(
    x: list[float], y: list[float], a: float, b: float, m: float, test: str
) -> None:
    low, high = sorted((a, b))
    weaker = analyse(np.array(x) + low, y, min_effect=m, test=test)
    stronger = analyse(np.array(x) + high, y, min_effect=m, test=test)
    assert RANK[weaker.verdict] <= RANK[stronger.verdict], (weaker.reason, stronger.reason)
    if weaker.p_value is not None and stronger.p_value is not None:
        assert stronger.p_value <= weaker.p_value + 1e-9


@common
@given(x=samples, y=samples, m=min_effects)
def test_greater_and_less_are_symmetric(x: list[float], y: list[float], m: float) -> None:
    greater = analyse(x, y, alternative="greater", min_effect=m)
    swapped = analyse(y, x, alternative="less", min_effect=m)
    negated = analyse(-np.array(x), -np.array(y), alternative="less", min_effect=m)
    assert greater.verdict == swapped.verdict == negated.verdict
    if greater.p_value is not None:
        assert swapped.p_value == pytest.approx(greater.p_value, abs=1e-9)
        assert negated.p_value == pytest.approx(greater.p_value, abs=1e-9)
        assert greater.ci is not None and swapped.ci is not None
        assert swapped.ci == pytest.approx([-greater.ci[1], -greater.ci[0]], abs=1e-9)


@common
@given(
    x=st.lists(values, min_size=1, max_size=10),
    m=min_effects,
    test=st.sampled_from(["welch", "mannwhitney", "permutation"]),
    alternative=st.sampled_from(["greater", "less"]),
)
def test_never_validated_with_identical_samples(
    x: list[float], m: float, test: str, alternative: str
) -> None:
    same = analyse(x, list(x), min_effect=m, test=test, alternative=alternative)
    assert same.verdict != "VALIDATED", same.reason
    if len(x) >= 2:
        centre = float(np.mean(x))
        alone = analyse(x, centre, min_effect=m, test=test, alternative=alternative)
        assert alone.verdict != "VALIDATED", alone.reason


@settings(max_examples=8, deadline=None)
@given(x=st.lists(values, min_size=8, max_size=10), m=min_effects)
def test_bootstrap_never_validates_identical_samples(x: list[float], m: float) -> None:
    assert analyse(x, list(x), min_effect=m, test="bootstrap_bca").verdict != "VALIDATED"


# -- simulations ---------------------------------------------------------------

SIMS = 2000
ALPHA = 0.05
#: Three standard errors of a rate alpha estimated from SIMS experiments.
TOLERANCE = 3 * math.sqrt(ALPHA * (1 - ALPHA) / SIMS)


@pytest.mark.parametrize(
    ("n_new", "n_base", "sd_new", "sd_base", "min_effect"),
    [
        (3, 3, 1.0, 1.0, 0.0),
        (5, 5, 1.0, 1.0, 0.0),
        (10, 10, 1.0, 1.0, 0.0),
        (5, 10, 3.0, 1.0, 0.0),  # unequal sizes and spreads: where Student's t fails
        (10, 10, 1.0, 1.0, 0.5),  # true effect exactly the claimed minimum
    ],
)
def test_welch_false_validated_rate_is_at_most_alpha(
    n_new: int, n_base: int, sd_new: float, sd_base: float, min_effect: float
) -> None:
    rng = np.random.default_rng(1234 + n_new * 10 + n_base + int(min_effect * 100))
    new = rng.normal(min_effect, sd_new, size=(SIMS, n_new))
    base = rng.normal(0.0, sd_base, size=(SIMS, n_base))
    verdicts = welch_many(new, base, boundary=min_effect, alpha=ALPHA)["verdict"]
    rate = float(np.mean(verdicts == "VALIDATED"))
    print(f"false VALIDATED rate n={n_new}v{n_base} sd={sd_new}/{sd_base}: {rate:.4f}")
    assert rate <= ALPHA + TOLERANCE
    # The simulation exercises the same code path as a real decision.
    for i in range(40):
        single = analyse(new[i], base[i], min_effect=min_effect, alpha=ALPHA)
        assert single.verdict == verdicts[i]


@pytest.mark.parametrize("n", [5, 10, 20])
def test_power_for_a_known_effect_matches_the_power_analysis(n: int) -> None:
    effect = 1.0  # one standard deviation (Hedges' g about 1)
    rng = np.random.default_rng(99 + n)
    new = rng.normal(effect, 1.0, size=(SIMS, n))
    base = rng.normal(0.0, 1.0, size=(SIMS, n))
    power = float(np.mean(welch_many(new, base, alpha=ALPHA)["verdict"] == "VALIDATED"))
    analytic = float(
        TTestIndPower().power(effect_size=effect, nobs1=n, alpha=ALPHA, alternative="larger")
    )
    print(f"power at d=1, n={n} per arm: simulated {power:.3f}, analytic {analytic:.3f}")
    # Welch loses a little to Student's t at equal variances; never much.
    assert analytic - 4 * math.sqrt(analytic * (1 - analytic) / SIMS) - 0.02 <= power
    assert power <= analytic + 4 * math.sqrt(analytic * (1 - analytic) / SIMS)
