"""Cost and calibration of the statistical verdicts, measured side by side.

Run alone: ``.venv/bin/python benchmarks/bench_stats.py [--sims N]``.  Prints
the time of one decision per test, the vectorized simulation speed-up, and the
false VALIDATED rate (no true effect, alpha = 0.05) of Welch's t-test against
the BCa bootstrap at small n.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pytest_grd.stats import significance
from pytest_grd.stats.engine import analyse
from pytest_grd.stats.significance import welch_many


def _per_call(test: str, n: int, reps: int) -> float:
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(reps):
        analyse(rng.normal(0.5, 1, n), rng.normal(0, 1, n), test=test)
    return (time.perf_counter() - start) / reps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=200, help="simulations for the bootstrap")
    args = parser.parse_args()

    print("time of one decision, n = 10 vs 10:")
    _per_call("welch", 10, 3)  # imports and first-call set-up stay out of the figures
    base = _per_call("welch", 10, 50)
    for test in ("welch", "mannwhitney", "permutation", "bootstrap_bca"):
        t = _per_call(test, 10, 50 if test == "welch" else 10)
        print(f"  {test:<14} {t * 1000:8.1f} ms   ({t / base:5.1f} x welch)")

    rng = np.random.default_rng(1)
    new, old = rng.normal(size=(2000, 10)), rng.normal(size=(2000, 10))
    start = time.perf_counter()
    welch_many(new, old)
    vec = time.perf_counter() - start
    loop = base * 2000
    ratio = loop / vec
    print(f"2000 Welch decisions: vectorized {vec:.3f} s vs loop ~{loop:.1f} s ({ratio:.0f} x)")

    print(f"false VALIDATED rate with no effect (alpha 0.05, {args.sims} bootstrap sims):")
    for n in (5, 8, 10):
        a, b = rng.normal(size=(args.sims, n)), rng.normal(size=(args.sims, n))
        welch = float(np.mean(welch_many(a, b)["verdict"] == "VALIDATED"))
        saved = significance.MIN_BOOTSTRAP_N
        significance.MIN_BOOTSTRAP_N = 2  # measure below the floor too
        try:
            bca = np.mean(
                [analyse(a[i], b[i], test="bootstrap_bca").validated for i in range(args.sims)]
            )
        finally:
            significance.MIN_BOOTSTRAP_N = saved
        print(f"  n = {n:2d} per arm: welch {welch:.3f}   bootstrap_bca {bca:.3f}")


if __name__ == "__main__":
    main()
