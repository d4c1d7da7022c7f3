"""Anytime-valid sequential decisions (``pytest_grd.stats.sequential``): the
refusals, the bounds against reference numbers, the error rate under looks
after every seed, and the shape of the result."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_grd.stats.sequential import (
    SequentialResult,
    SequentialRuleError,
    betting_lower_bounds,
    decide_sequential,
    effect_bounds,
    first_decisions,
    normal_mixture_radius,
)
from pytest_grd.stats.significance import welch_many

ALPHA = 0.05


def _decide(new: Any, baseline: Any = 0.5, **kwargs: Any) -> SequentialResult:
    args: dict[str, Any] = {
        "alternative": "greater",
        "min_effect": 0.0,
        "alpha": ALPHA,
        "bounds": (0.0, 1.0),
        "sigma": None,
        "min_seeds": 3,
        "max_seeds": 20,
    }
    args.update(kwargs)
    return decide_sequential(new, baseline, **args)


# -- refusals ------------------------------------------------------------------


def test_a_rule_without_assumptions_is_refused() -> None:
    with pytest.raises(SequentialRuleError) as info:
        _decide([0.6, 0.7], bounds=None, sigma=None)
    assert str(info.value) == (
        "seeds='auto' needs the rule's assumptions: bounds=(lo, hi) for a bounded metric such "
        "as accuracy, or sigma= (sub-Gaussian scale of the per-seed effect)"
    )
    assert isinstance(info.value, ValueError)


def test_two_assumptions_at_once_are_refused() -> None:
    with pytest.raises(SequentialRuleError, match="not both"):
        _decide([0.6, 0.7], bounds=(0, 1), sigma=0.1)


@pytest.mark.parametrize("bounds", [(1, 0), (0, 0), (0, math.inf), (math.nan, 1), "ab", (0,)])
def test_bad_bounds_are_refused(bounds: Any) -> None:
    with pytest.raises(SequentialRuleError, match="bounds="):
        _decide([0.6], bounds=bounds)


@pytest.mark.parametrize("sigma", [0, -1.0, math.inf, math.nan, True, "1"])
def test_bad_sigma_is_refused(sigma: Any) -> None:
    with pytest.raises(SequentialRuleError, match="sigma="):
        _decide([0.6], bounds=None, sigma=sigma)


def test_values_outside_the_bounds_are_refused_by_name() -> None:
    with pytest.raises(SequentialRuleError, match=r"new\[1\] = 1.2 lies outside bounds=\(0, 1\)"):
        _decide([0.6, 1.2, 0.7])
    with pytest.raises(SequentialRuleError, match=r"baseline\[0\] = -0.1 lies outside"):
        _decide([0.6, 0.7], [-0.1, 0.5])
    with pytest.raises(SequentialRuleError, match="threshold 85 lies outside"):
        _decide([0.6, 0.7], 85.0)
    with pytest.raises(SequentialRuleError, match=r"new\[0\] = nan is not a finite number"):
        _decide([math.nan], bounds=None, sigma=1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alternative": "bigger"}, "alternative"),
        ({"alpha": 0.5}, "alpha"),
        ({"alpha": 0}, "alpha"),
        ({"min_effect": -0.1}, "min_effect"),
        ({"min_seeds": 0}, "min_seeds"),
        ({"min_seeds": 5, "max_seeds": 4}, "must not exceed"),
        ({"max_seeds": 2.5}, "max_seeds"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(SequentialRuleError, match=match):
        _decide([0.6, 0.7], **kwargs)


# -- the bounds against reference numbers ----------------------------------------

#: Observations in [0, 1] and the betting lower / upper confidence sequences
#: (alpha = 0.05) of confseq 0.0.11, the reference code of Waudby-Smith &
#: Ramdas: ``betting_lower_cs(x, alpha=0.05, breaks=10000, trunc_scale=c)`` and
#: ``1 - betting_lower_cs(1 - x, ...)``, computed in a scratch environment
#: (confseq needs Boost to build and NumPy < 2 to import).  Its grid answer is
#: the first grid point inside the sequence minus one step of 1e-4.
X_REF = [0.6, 0.7, 0.65, 0.8, 0.75, 0.7, 0.9, 0.6]
CONFSEQ = {
    0.5: (
        [0.0, 0.0, 0.1465, 0.2119, 0.264, 0.304, 0.3504, 0.3711],
        [1.0, 1.0, 1.0, 0.9339, 0.8994, 0.8762, 0.8792, 0.8592],
    ),
    0.75: (
        [0.0, 0.0, 0.1974, 0.2751, 0.3327, 0.3742, 0.4227, 0.4405],
        [1.0, 1.0, 1.0, 0.9339, 0.8905, 0.8606, 0.8665, 0.8431],
    ),
}


@pytest.mark.parametrize("truncation", [0.5, 0.75])
def test_betting_bounds_match_confseq(truncation: float) -> None:
    x = np.array(X_REF)
    lower = betting_lower_bounds(x, ALPHA, truncation=truncation)[0]
    upper = 1 - betting_lower_bounds(1 - x, ALPHA, truncation=truncation)[0]
    ref_lower, ref_upper = (np.array(v) for v in CONFSEQ[truncation])
    # Exact here, on confseq's grid there: within two grid steps, never looser.
    assert np.all(lower >= ref_lower - 1e-12)
    assert np.all(lower <= ref_lower + 2e-4)
    assert np.all(upper <= ref_upper + 1e-12)
    assert np.all(upper >= ref_upper - 2e-4)


def test_normal_mixture_matches_the_reference_and_its_closed_form() -> None:
    v = np.array([1.0, 10.0, 100.0])
    u = normal_mixture_radius(v, ALPHA, v_opt=10.0)
    # One-sided normal mixture of expectation 0.6.1 (a port of confseq's C++
    # boundary): normal_mixture_bound(v, 0.05, 10, 0.05, is_one_sided=True).
    np.testing.assert_allclose(u, [3.63430509, 8.74708416, 29.84997724], rtol=1e-7)
    np.testing.assert_allclose(
        normal_mixture_radius(np.array([3.0, 40.0]), 0.01, v_opt=12.0),
        [6.17513209, 21.63500946],
        rtol=1e-7,
    )
    # Independently: u solves Robbins' one-sided mixture = 1/alpha, written
    # out here with scipy's normal cdf ...
    from scipy.stats import norm

    log_inv = math.log(1 / (2 * ALPHA))
    rho = 10.0 / (2 * log_inv + math.log(1 + 2 * log_inv))
    mixture = 2 * np.sqrt(rho / (v + rho)) * np.exp(u**2 / (2 * (v + rho)))
    mixture *= norm.cdf(u / np.sqrt(v + rho))
    np.testing.assert_allclose(mixture, 1 / ALPHA, rtol=1e-9)

    # ... and lies between the closed-form two-sided boundaries at 2 alpha and alpha.
    def two_sided(level: float) -> Any:
        return np.sqrt((v + rho) * np.log((v + rho) / (rho * level**2)))

    assert np.all(two_sided(2 * ALPHA) < u)
    assert np.all(u < two_sided(ALPHA))


# -- error rate under a look after every seed ---------------------------------------

RUNS, SEEDS = 300, 40
#: alpha plus three standard errors of a rate estimated from RUNS runs.
TOLERANCE = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / RUNS)


def _sequential_rate(d: Any, **assumption: Any) -> float:
    lower, upper = effect_bounds(d, ALPHA, min_seeds=3, max_seeds=SEEDS, **assumption)
    _, verdict = first_decisions(lower, upper, 0.0, 3)
    return float(np.mean(verdict == "VALIDATED"))


def _welch_every_seed(new: Any, base: Any) -> float:
    ever = np.zeros(len(new), dtype=bool)
    for n in range(3, SEEDS + 1):
        ever |= welch_many(new[:, :n], base[:, :n], alpha=ALPHA)["verdict"] == "VALIDATED"
    return float(np.mean(ever))


def test_no_effect_looked_at_every_seed_stays_at_alpha_unlike_welch() -> None:
    rng = np.random.default_rng(20261130)
    new, base = rng.normal(size=(RUNS, SEEDS)), rng.normal(size=(RUNS, SEEDS))
    gauss = _sequential_rate(new - base, sigma=math.sqrt(2))
    acc_new, acc_base = rng.beta(4, 4, (RUNS, SEEDS)), rng.beta(4, 4, (RUNS, SEEDS))
    bounded = _sequential_rate(acc_new - acc_base, effect_range=(-1.0, 1.0))
    welch = _welch_every_seed(new, base)
    assert gauss <= TOLERANCE
    assert bounded <= TOLERANCE
    assert welch > TOLERANCE  # optional stopping: far above alpha (about 0.25)


def test_an_effect_equal_to_min_effect_is_validated_at_most_alpha() -> None:
    # The worst case of the claim's null "effect <= min_effect".
    rng = np.random.default_rng(7)
    d = rng.normal(0.3, 1.0, (RUNS, SEEDS))
    lower, upper = effect_bounds(d, ALPHA, sigma=1.0, min_seeds=1, max_seeds=SEEDS)
    _, verdict = first_decisions(lower, upper, 0.3, 1)
    assert np.mean(verdict == "VALIDATED") <= TOLERANCE


def test_the_vectorized_path_is_decide_sequential() -> None:
    rng = np.random.default_rng(3)
    new, base = rng.beta(6, 3, (5, 25)), rng.beta(5, 4, (5, 25))
    lower, upper = effect_bounds(new - base, ALPHA, effect_range=(-1.0, 1.0))
    n, verdict = first_decisions(lower, upper, 0.0, 3)
    for i in range(5):
        one = _decide(list(new[i]), list(base[i]), max_seeds=25)
        assert (one.n, one.verdict) == (int(n[i]), str(verdict[i]))
        np.testing.assert_allclose(one.history[-1][1:], [lower[i, one.n - 1], upper[i, one.n - 1]])


# -- decisions ------------------------------------------------------------------------


def test_a_clear_effect_is_validated_early() -> None:
    rng = np.random.default_rng(1)
    gauss = _decide(rng.normal(2.0, 1.0, 20), 0.0, bounds=None, sigma=1.0)
    assert (gauss.verdict, gauss.decided) == ("VALIDATED", True)
    assert gauss.n <= 6
    acc = _decide(list(np.clip(rng.normal(0.95, 0.02, 20), 0, 1)), 0.5)
    assert acc.verdict == "VALIDATED" and acc.n <= 8
    assert acc.width_needed is None
    assert acc.reason.startswith(f"VALIDATED after {acc.n} of at most 20 seeds: the anytime-valid")
    assert "95% lower bound" in acc.reason and "above the claimed effect 0" in acc.reason
    assert acc.method == "betting confidence sequence (Waudby-Smith & Ramdas 2023), bounds [0, 1]"
    assert "Howard et al. 2021" in gauss.method and "sigma = 1" in gauss.method


def test_a_clear_negative_effect_is_rejected() -> None:
    rng = np.random.default_rng(2)
    new, base = rng.normal(0.3, 0.03, 20), rng.normal(0.7, 0.03, 20)
    r = _decide(list(new), list(base), min_effect=0.01)
    assert (r.verdict, r.decided) == ("REJECTED", True)
    assert r.upper < 0.01 and r.estimate < 0
    assert "excludes the claim" in r.reason
    g = _decide(list(new), list(base), bounds=None, sigma=0.05, min_effect=0.01)
    assert g.verdict == "REJECTED" and g.n <= 3


def test_less_flips_the_sign() -> None:
    rng = np.random.default_rng(4)
    loss_new, loss_base = rng.normal(0.1, 0.02, 20), rng.normal(0.6, 0.02, 20)
    r = _decide(list(loss_new), list(loss_base), alternative="less", min_effect=0.05)
    assert r.verdict == "VALIDATED" and r.estimate > 0.4
    swapped = _decide(list(loss_base), list(loss_new), alternative="greater", min_effect=0.05)
    assert (swapped.n, swapped.verdict, swapped.history) == (r.n, r.verdict, r.history)
    vs_threshold = _decide(list(loss_new), 0.5, alternative="less")
    assert vs_threshold.verdict == "VALIDATED"


def test_min_seeds_holds_back_validated_only() -> None:
    r = _decide([1.0] * 10, 0.0, min_seeds=6, max_seeds=10, bounds=None, sigma=0.01)
    assert r.verdict == "VALIDATED" and r.n == 6
    early = _decide([1.0] * 3, 0.0, min_seeds=6, max_seeds=10, bounds=None, sigma=0.01)
    assert (early.verdict, early.decided, early.n, early.width_needed) == (
        "INCONCLUSIVE",
        False,
        3,
        0.0,
    )
    assert "at least 6 seeds are required" in early.reason
    rejected = _decide([0.0], 1.0, min_seeds=6, max_seeds=10, bounds=None, sigma=0.01)
    assert rejected.verdict == "REJECTED" and rejected.n == 1


def test_undecided_and_inconclusive_say_how_far_they_are() -> None:
    rng = np.random.default_rng(5)
    new = list(rng.normal(0.0, 1.0, 12))
    mid = _decide(new[:4], 0.0, bounds=None, sigma=1.0, min_effect=0.1, max_seeds=12)
    assert (mid.verdict, mid.decided, mid.n) == ("INCONCLUSIVE", False, 4)
    assert mid.reason.startswith("undecided after 4 of at most 12 seeds")
    assert mid.reason.endswith("run more seeds")
    end = _decide(new, 0.0, bounds=None, sigma=1.0, min_effect=0.1, max_seeds=12)
    assert end.reason.startswith("INCONCLUSIVE after 12 of at most 12 seeds")
    assert end.width_needed == pytest.approx(min(0.1 - end.lower, end.upper - 0.1))
    assert end.width_needed is not None and end.width_needed > 0


def test_seeds_past_max_seeds_or_the_baseline_are_not_used() -> None:
    r = _decide([0.5] * 30, [0.5] * 8, max_seeds=20)
    assert r.n == 8
    r = _decide([0.5] * 30, 0.5, max_seeds=20)
    assert r.n == 20


def test_no_seeds_yet() -> None:
    r = _decide([], 0.5)
    assert (r.verdict, r.decided, r.n, r.history) == ("INCONCLUSIVE", False, 0, [])
    assert (r.lower, r.upper) == (-0.5, 0.5)  # the effect's range
    s = _decide([], 0.0, bounds=None, sigma=1.0)
    assert s.to_dict()["lower"] is None and s.to_dict()["estimate"] is None
    json.dumps(s.to_dict(), allow_nan=False)


# -- properties -------------------------------------------------------------------------

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(
    new=st.lists(unit, min_size=1, max_size=15),
    base=st.lists(unit, min_size=1, max_size=15) | unit,
    alternative=st.sampled_from(["greater", "less"]),
    min_effect=st.sampled_from([0.0, 0.05, 0.3]),
    use_sigma=st.booleans(),
)
def test_history_and_verdict_are_consistent(
    new: list[float], base: Any, alternative: str, min_effect: float, use_sigma: bool
) -> None:
    assumption = {"bounds": None, "sigma": 0.2} if use_sigma else {}
    r = _decide(
        new, base, alternative=alternative, min_effect=min_effect, max_seeds=12, **assumption
    )
    lows = [lo for _, lo, _ in r.history]
    ups = [hi for _, _, hi in r.history]
    assert [n for n, _, _ in r.history] == list(range(1, r.n + 1))
    assert all(a <= b for a, b in itertools.pairwise(lows))  # running intersection
    assert all(a >= b for a, b in itertools.pairwise(ups))
    assert (r.lower, r.upper) == (lows[-1], ups[-1])
    if not use_sigma:
        assert all(lo >= -1.0 and hi <= 1.0 for lo, hi in zip(lows, ups, strict=True))
    if r.verdict == "VALIDATED":
        assert r.decided and r.lower > min_effect and r.n >= 3 and r.width_needed is None
    elif r.verdict == "REJECTED":
        assert r.decided and r.upper < min_effect and r.width_needed is None
    else:
        assert not r.decided and r.width_needed is not None and r.width_needed >= 0
    json.dumps(r.to_dict(), allow_nan=False)
    # Decided at the first seed count that decides: the prefix gives the same
    # result, and seeds after it change nothing.
    if r.decided:
        cut = base[: r.n] if isinstance(base, list) else base
        again = _decide(
            new[: r.n],
            cut,
            alternative=alternative,
            min_effect=min_effect,
            max_seeds=12,
            **assumption,
        )
        assert (again.verdict, again.n) == (r.verdict, r.n)
        np.testing.assert_allclose(again.history, r.history, rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.lists(unit, min_size=2, max_size=10))
def test_identical_arms_are_never_validated(values: list[float]) -> None:
    for assumption in ({}, {"bounds": None, "sigma": 0.1}):
        r = _decide(values, values, **assumption)
        assert r.verdict != "VALIDATED"
