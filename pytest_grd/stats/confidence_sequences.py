"""The two confidence sequences behind ``seeds="auto"``, vectorized.

Rows are independent runs (the benchmark simulates thousands at once; a
session decides one).  The formulas and their sources are in
:mod:`pytest_grd.stats.sequential`'s docstring; the tests check them against
the authors' reference numbers.  numpy and scipy only, no pytest.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "BETTING_TRUNCATION",
    "betting_lower_bounds",
    "effect_bounds",
    "first_decisions",
    "normal_mixture_radius",
    "tuning_seeds",
]

Array = npt.NDArray[np.float64]

#: The largest bet as a share of what the capital can lose, ``c`` in
#: ``lambda <= c / m`` (Waudby-Smith & Ramdas 2023 suggest 1/2 or 3/4).
BETTING_TRUNCATION = 0.75

#: Bisection steps for the bounds: 2^-50 of the range, far below any metric's noise.
_ITERATIONS = 50


def betting_lower_bounds(
    x: Array, alpha: float, *, truncation: float = BETTING_TRUNCATION
) -> Array:
    """Lower confidence sequence for the mean of iid ``x`` in [0, 1] along the
    last axis (one row per run): ``L_t = inf {m : K_t(m) < 1/alpha}`` with the
    capital and bets of the module docstring, at each t (no running
    intersection).  ``P(some L_t > mean) <= alpha``."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    runs, steps = x.shape
    t = np.arange(1, steps + 1, dtype=float)
    # Predictable plug-in bets: the variance estimate of the seeds before i,
    # regularized by one pseudo-observation of mean 1/2 and variance 1/4.
    mu_hat = (0.5 + np.cumsum(x, axis=1)) / (t + 1)
    var_hat = (0.25 + np.cumsum((x - mu_hat) ** 2, axis=1)) / (t + 1)
    var_before = np.concatenate([np.full((runs, 1), 0.25), var_hat[:, :-1]], axis=1)
    bets = np.sqrt(2 * math.log(1 / alpha) / (var_before * t * np.log1p(t)))
    seen = np.tril(np.ones((steps, steps), dtype=bool))  # [t, i]: seed i counts at t
    threshold = math.log(1 / alpha)
    lo = np.zeros((runs, steps))
    hi = np.ones((runs, steps))
    # log K_t(m) falls as m rises, so {m : K_t(m) >= 1/alpha} is [0, L_t):
    # bisection keeps lo rejected (or 0) and hi not rejected.
    for _ in range(_ITERATIONS):
        mid = (lo + hi) / 2
        m = mid[:, :, None]
        lam = np.minimum(bets[:, None, :], truncation / m)
        log_capital = np.where(seen, np.log1p(lam * (x[:, None, :] - m)), 0.0).sum(axis=2)
        rejected = log_capital >= threshold
        lo = np.where(rejected, mid, lo)
        hi = np.where(rejected, hi, mid)
    return lo


def normal_mixture_radius(v: Array | float, alpha: float, v_opt: float) -> Array:
    """The one-sided normal-mixture boundary u(v) of Howard et al. (2021): for
    a sum S_t of 1-sub-Gaussian increments scaled so that its variance process
    is v = sigma^2 t, ``P(exists t: S_t >= u(v_t)) <= alpha``.  The mixture is
    tuned to be tightest near ``v = v_opt`` (rho as in confseq's ``best_rho``)."""
    from scipy.special import log_ndtr

    log_inv = math.log(1 / (2 * alpha))
    rho = v_opt / (2 * log_inv + math.log(1 + 2 * log_inv))
    v = np.asarray(v, dtype=float)
    scale = v + rho
    threshold = math.log(1 / alpha)

    def two_sided(level: float) -> Array:
        # The two-sided mixture's closed form: u_two(2 alpha) <= u <= u_two(alpha),
        # since 1 <= 2 Phi(u / sqrt(v + rho)) <= 2 for u >= 0.
        return np.sqrt(scale * (np.log(scale / rho) + 2 * math.log(1 / level)))

    lo, hi = two_sided(2 * alpha), two_sided(alpha)
    for _ in range(_ITERATIONS):
        mid = (lo + hi) / 2
        log_mixture = (
            0.5 * np.log(4 * rho / scale) + mid**2 / (2 * scale) + log_ndtr(mid / np.sqrt(scale))
        )
        above = log_mixture >= threshold
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return np.asarray(hi, dtype=float)


def tuning_seeds(min_seeds: int, max_seeds: int) -> float:
    """The seed count the normal mixture is tuned for: the geometric middle of
    the allowed range (fixed before any data, as validity requires)."""
    return math.sqrt(max(1, min_seeds) * max_seeds)


def effect_bounds(
    d: Array,
    alpha: float,
    *,
    effect_range: tuple[float, float] | None = None,
    sigma: float | None = None,
    min_seeds: int = 1,
    max_seeds: int = 1,
) -> tuple[Array, Array]:
    """The anytime-valid one-sided ``1 - alpha`` lower and upper bounds of the
    mean per-seed effect after each seed, running-intersected (rows: runs,
    columns: seeds): the betting sequence for effects in ``effect_range``, or
    the normal mixture (tuned by :func:`tuning_seeds`) for ``sigma``.  The code
    path :func:`decide_sequential` uses, callable on many simulated runs."""
    d = np.atleast_2d(np.asarray(d, dtype=float))
    if effect_range is not None:
        low, high = effect_range
        width = high - low
        x = np.clip((d - low) / width, 0.0, 1.0)
        lower = low + width * betting_lower_bounds(x, alpha)
        upper = high - width * betting_lower_bounds(1.0 - x, alpha)
    elif sigma is not None:
        t = np.arange(1, d.shape[-1] + 1, dtype=float)
        mean = np.cumsum(d, axis=-1) / t
        v_opt = sigma**2 * tuning_seeds(min_seeds, max_seeds)
        radius = normal_mixture_radius(sigma**2 * t, alpha, v_opt) / t
        lower, upper = mean - radius, mean + radius
    else:
        raise ValueError("effect_bounds needs effect_range (bounded data) or sigma")
    return np.maximum.accumulate(lower, axis=-1), np.minimum.accumulate(upper, axis=-1)


def first_decisions(
    lower: Array, upper: Array, min_effect: float, min_seeds: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.str_]]:
    """For running-intersected bounds (rows: runs, columns: seeds 1..T), the
    seed count at which each run is decided and its verdict (T and
    INCONCLUSIVE when never): VALIDATED once ``n >= min_seeds`` and the lower
    bound exceeds ``min_effect``, REJECTED once the upper bound is below it."""
    lower, upper = np.atleast_2d(lower), np.atleast_2d(upper)
    n = np.arange(1, lower.shape[-1] + 1)
    validated = (n >= min_seeds) & (lower > min_effect)
    rejected = upper < min_effect
    either = validated | rejected
    any_ = either.any(axis=-1)
    first = np.where(any_, either.argmax(axis=-1), lower.shape[-1] - 1)
    rows = np.arange(lower.shape[0])
    v, r = validated[rows, first], rejected[rows, first]
    verdict = np.where(v & ~r, "VALIDATED", np.where(r & ~v, "REJECTED", "INCONCLUSIVE")).astype(
        np.str_
    )
    return (first + 1).astype(np.int64), verdict


# -- checks ---------------------------------------------------------------------
