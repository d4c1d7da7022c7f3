"""Sequential decisions (``seeds="auto"``): error rate under a look after every
seed, and seeds used at a true effect of one standard deviation.

Run alone: ``.venv/bin/python benchmarks/bench_sequential.py [--runs 2000]``.
Seeded; every figure comes from ``--runs`` simulated runs of at most
``--max-seeds`` seeds (alpha = 0.05, min_seeds = 3, min_effect = 0), decided
through :func:`pytest_grd.stats.sequential.effect_bounds` and
:func:`~pytest_grd.stats.sequential.first_decisions`, the code path of
``decide_sequential``.

(a) No effect: the share of runs ever VALIDATED when the claim is looked at
    after every seed, for the sequential rule and for Welch's t-test (the
    fixed-n default, ``welch_many``) looked at just as often.
(b) A true effect of 1 SD of the per-seed metric: the sequential rule's power
    at ``max_seeds`` and the median / 90th percentile of seeds it used (a run
    that never decides used them all), against the seeds per arm a fixed-n
    t-test needs for the same power (statsmodels ``TTestPower`` vs a
    threshold, ``TTestIndPower`` for two arms).  Goal: median at most half of
    the fixed n.
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from pytest_grd.stats.sequential import effect_bounds, first_decisions
from pytest_grd.stats.significance import welch_many

Array = npt.NDArray[np.float64]
ALPHA = 0.05
MIN_SEEDS = 3


def _beta(rng: np.random.Generator, mean: float, sd: float, shape: tuple[int, int]) -> Array:
    """Beta draws in [0, 1] with this mean and standard deviation."""
    k = mean * (1 - mean) / sd**2 - 1
    return rng.beta(mean * k, (1 - mean) * k, shape)


@dataclass(frozen=True)
class Scenario:
    """Per-seed data of one setting: (new, baseline or None for a threshold)."""

    name: str
    draw: Callable[[np.random.Generator, float, tuple[int, int]], tuple[Array, Array | None]]
    threshold: float
    #: 1 SD of the per-seed metric, the effect in (b).
    sd: float
    #: The rule's assumption: the metric's range, or the effect's sub-Gaussian scale.
    bounds: tuple[float, float] | None = None
    sigma: float | None = None


def _gauss_threshold(
    rng: np.random.Generator, effect: float, shape: tuple[int, int]
) -> tuple[Array, Array | None]:
    return rng.normal(effect, 1.0, shape), None


def _gauss_arms(
    rng: np.random.Generator, effect: float, shape: tuple[int, int]
) -> tuple[Array, Array | None]:
    return rng.normal(effect, 1.0, shape), rng.normal(0.0, 1.0, shape)


def _beta_threshold(
    rng: np.random.Generator, effect: float, shape: tuple[int, int]
) -> tuple[Array, Array | None]:
    return _beta(rng, 0.5 + effect, 0.2, shape), None


def _beta_arms(
    rng: np.random.Generator, effect: float, shape: tuple[int, int]
) -> tuple[Array, Array | None]:
    return _beta(rng, 0.5 + effect, 0.2, shape), _beta(rng, 0.5, 0.2, shape)


def _acc_arms(
    rng: np.random.Generator, effect: float, shape: tuple[int, int]
) -> tuple[Array, Array | None]:
    return _beta(rng, 0.9 + effect, 0.01, shape), _beta(rng, 0.9, 0.01, shape)


SCENARIOS = [
    Scenario("gauss vs threshold, sigma=1", _gauss_threshold, 0.0, 1.0, sigma=1.0),
    Scenario("gauss 2 arms paired, sigma=1.41", _gauss_arms, 0.0, 1.0, sigma=math.sqrt(2)),
    Scenario("beta sd .2 vs 0.5, bounds (0,1)", _beta_threshold, 0.5, 0.2, bounds=(0.0, 1.0)),
    Scenario("beta sd .2 2 arms, bounds (0,1)", _beta_arms, 0.0, 0.2, bounds=(0.0, 1.0)),
    Scenario("acc .90 sd .01 2 arms, (0,1)", _acc_arms, 0.0, 0.01, bounds=(0.0, 1.0)),
]


def _sequential(
    s: Scenario, new: Array, base: Array | None, max_seeds: int
) -> tuple[Array, npt.NDArray[np.str_]]:
    """Seeds used and verdict of each run (``decide_sequential``'s code path)."""
    d = new - (base if base is not None else s.threshold)
    effect_range: tuple[float, float] | None = None
    if s.bounds is not None:
        lo, hi = s.bounds
        # Effects vs a threshold live in [lo - thr, hi - thr]; paired ones in [lo - hi, hi - lo].
        ref = (s.threshold, s.threshold) if base is None else (hi, lo)
        effect_range = (lo - ref[0], hi - ref[1])
    lower, upper = effect_bounds(
        d,
        ALPHA,
        effect_range=effect_range,
        sigma=s.sigma,
        min_seeds=MIN_SEEDS,
        max_seeds=max_seeds,
    )
    n, verdict = first_decisions(lower, upper, 0.0, MIN_SEEDS)
    return n.astype(float), verdict


def _fixed_every_seed(new: Array, base: Array | None, threshold: float, max_seeds: int) -> float:
    """Share of runs a fixed-n t-test VALIDATES at some look n = 3..max_seeds."""
    ever = np.zeros(len(new), dtype=bool)
    for n in range(MIN_SEEDS, max_seeds + 1):
        if base is None:
            p = sps.ttest_1samp(new[:, :n], threshold, alternative="greater", axis=-1).pvalue
            ever |= np.asarray(p) < ALPHA
        else:
            ever |= welch_many(new[:, :n], base[:, :n], alpha=ALPHA)["verdict"] == "VALIDATED"
    return float(np.mean(ever))


def _fixed_n(power: float, two_arms: bool, runs: int) -> float | None:
    """Seeds per arm a one-sided t-test needs for ``power`` at d = 1."""
    import statsmodels.tools.sm_exceptions  # noqa: F401  (before the filter below)
    from statsmodels.stats.power import TTestIndPower, TTestPower

    if power <= ALPHA:
        return None
    power = min(power, 1 - 0.5 / runs)  # all runs decided: power is at least this
    analysis = TTestIndPower() if two_arms else TTestPower()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n = analysis.solve_power(effect_size=1.0, alpha=ALPHA, power=power, alternative="larger")
    return float(n)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000, help="simulated runs per setting")
    parser.add_argument("--max-seeds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    runs, max_seeds = args.runs, args.max_seeds
    rng = np.random.default_rng(args.seed)
    shape = (runs, max_seeds)
    started = time.perf_counter()

    print(
        f"(a) no effect, looked at after every seed ({MIN_SEEDS}..{max_seeds}), alpha = {ALPHA}, "
        f"{runs} runs: share ever VALIDATED (standard error ~{math.sqrt(ALPHA * 0.95 / runs):.3f} "
        "at alpha)"
    )
    print(f"  {'setting':<34} {'sequential':>10} {'t-test every seed':>18} {'t-test at n max':>16}")
    for s in SCENARIOS[:4]:
        new, base = s.draw(rng, 0.0, shape)
        _, verdict = _sequential(s, new, base, max_seeds)
        seq = float(np.mean(verdict == "VALIDATED"))
        every = _fixed_every_seed(new, base, s.threshold, max_seeds)
        if base is None:
            p = sps.ttest_1samp(new, s.threshold, alternative="greater", axis=-1).pvalue
            once = float(np.mean(np.asarray(p) < ALPHA))
        else:
            once = float(np.mean(welch_many(new, base, alpha=ALPHA)["verdict"] == "VALIDATED"))
        print(f"  {s.name:<34} {seq:>10.3f} {every:>18.3f} {once:>16.3f}")

    print(
        f"\n(b) true effect of 1 SD of the per-seed metric, at most {max_seeds} seeds, {runs} runs"
    )
    print(
        f"  {'setting':<34} {'power@max':>9} {'median':>6} {'p90':>4} {'fixed n':>7} "
        f"{'ratio':>5} {'goal':>8} {'n@80%':>6} {'n@90%':>6}"
    )
    for s in SCENARIOS:
        new, base = s.draw(rng, s.sd, shape)
        n, verdict = _sequential(s, new, base, max_seeds)
        power = float(np.mean(verdict == "VALIDATED"))
        median, p90 = float(np.median(n)), float(np.percentile(n, 90))
        two_arms = base is not None
        fixed = _fixed_n(power, two_arms, runs)
        at80, at90 = _fixed_n(0.8, two_arms, runs), _fixed_n(0.9, two_arms, runs)
        if fixed is None or not math.isfinite(fixed):
            fixed_text, ratio_text, goal = "-", "-", "no power"
        else:
            ratio = median / fixed
            fixed_text, ratio_text = f"{fixed:.1f}", f"{ratio:.2f}"
            goal = "met" if ratio <= 0.5 else "not met"
        print(
            f"  {s.name:<34} {power:>9.3f} {median:>6.0f} {p90:>4.0f} {fixed_text:>7} "
            f"{ratio_text:>5} {goal:>8} {at80:>6.1f} {at90:>6.1f}"
        )
    print(
        "  fixed n: seeds per arm of a one-sided t-test (vs threshold: one-sample; 2 arms: "
        "Welch)\n  with the power the sequential rule reached at max seeds; a power of 1.000 "
        f"is taken as {1 - 0.5 / runs:.5f},\n  so that n grows with --runs. ratio = median "
        "/ fixed n; n@80%, n@90%: the usual fixed designs."
    )
    load = os.getloadavg()
    print(
        f"\n{time.perf_counter() - started:.1f} s; load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
