"""Anytime-valid sequential verdicts (``seeds="auto"``): decide with the fewest seeds.

Seeds arrive in order and the claim may be looked at after every one of them.
A fixed-n test looked at that often VALIDATES a false claim far more often than
``alpha`` (optional stopping).  :func:`decide_sequential` reads the evidence
through confidence *sequences* instead: bounds on the mean per-seed effect that
hold at every number of seeds at once, so a decision taken whenever they
exclude one side keeps its error rate at ``alpha``, however often it is looked
at and whenever it stops.

The effect of seed i is ``d_i = new_i - baseline_i`` (the same seed of both
arms) or ``d_i = new_i - threshold``, sign-flipped for ``less``, so a larger
effect is always a better claim.  Every bound is one-sided at level ``1 - alpha``:

* ``bounds=(lo, hi)``, bounded metrics (accuracy in [0, 1]): the betting
  confidence sequence of Waudby-Smith & Ramdas (2023, JRSS-B 86(1), "Estimating
  means of bounded random variables by betting"), section 5: the capital
  ``K_t(m) = prod_i (1 + lambda_i(m) (x_i - m))`` of a gambler betting that the
  mean of x (d rescaled to [0, 1]) exceeds m, with the predictable plug-in bets
  ``lambda_i = sqrt(2 log(1/alpha) / (sigma2_{i-1} i log(1 + i)))`` truncated at
  ``c / m``; the lower bound is ``inf {m : K_t(m) < 1/alpha}`` (Ville's
  inequality).  Nonparametric: any distribution within the range.
* ``sigma=s``, sub-Gaussian per-seed effects (``E exp(l (d - mu)) <=
  exp(l^2 s^2 / 2)``; Gaussian with standard deviation s): the one-sided
  normal-mixture boundary of Howard, Ramdas, McAuliffe & Sekhon (2021, Ann.
  Statist. 49(2), "Time-uniform, nonparametric, nonasymptotic confidence
  sequences"), Robbins' mixture over lambda >= 0 of the supermartingales
  ``exp(lambda S_t - lambda^2 v / 2)``: ``mean_t - mu <= u(s^2 t) / t`` with u
  solving ``2 sqrt(rho / (v + rho)) exp(u^2 / (2 (v + rho))) Phi(u / sqrt(v +
  rho)) = 1 / alpha`` (the two-sided mixture has the closed form ``u = sqrt((v +
  rho) log((v + rho) / (rho alpha^2)))``).

Neither is taken from a library: ``confseq`` (the authors' reference code)
needs Boost and a C++ compiler to install and its Python part fails on NumPy 2,
``expectation`` requires Python >= 3.12 (GPL-3.0 with an extra restriction),
``savvi`` has neither bound.  The formulas are short; the tests check them
against numbers from ``confseq`` and the closed form of eq. (14).

Pure logic (numpy, scipy imported on first use; no pytest).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .confidence_sequences import (
    BETTING_TRUNCATION,
    betting_lower_bounds,
    effect_bounds,
    first_decisions,
    normal_mixture_radius,
    tuning_seeds,
)

__all__ = [
    "BETTING_TRUNCATION",
    "SequentialResult",
    "SequentialRuleError",
    "betting_lower_bounds",
    "decide_sequential",
    "effect_bounds",
    "first_decisions",
    "normal_mixture_radius",
    "tuning_seeds",
]

Array = npt.NDArray[np.float64]

_NEEDS_ASSUMPTION = (
    "seeds='auto' needs the rule's assumptions: bounds=(lo, hi) for a bounded metric such "
    "as accuracy, or sigma= (sub-Gaussian scale of the per-seed effect)"
)


class SequentialRuleError(ValueError):
    """A sequential rule whose assumptions are missing, malformed or broken by the data."""


@dataclass(frozen=True)
class SequentialResult:
    """A sequential decision on the seeds so far; ``to_dict()`` is its stats record."""

    verdict: str
    decided: bool
    n: int
    estimate: float
    lower: float
    upper: float
    min_effect: float
    alpha: float
    method: str
    width_needed: float | None
    history: list[tuple[int, float, float]] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (infinite bounds, before any seed, become ``None``)."""
        return {
            "test": "sequential",
            "decision": self.verdict,
            "verdict": self.verdict,
            "decided": self.decided,
            "n": self.n,
            "estimate": _finite(self.estimate),
            "lower": _finite(self.lower),
            "upper": _finite(self.upper),
            "ci": [_finite(self.lower), _finite(self.upper)],
            "confidence": 1 - 2 * self.alpha,
            "min_effect": self.min_effect,
            "alpha": self.alpha,
            "method": self.method,
            "width_needed": _finite(self.width_needed),
            "history": [[n, _finite(lo), _finite(hi)] for n, lo, hi in self.history],
            "reason": self.reason,
        }


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _check_bounds(bounds: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise SequentialRuleError(
            f"bounds= must be (lo, hi), the metric's range, got {bounds!r}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise SequentialRuleError(f"bounds= must be two finite numbers lo < hi, got {bounds!r}")
    return lo, hi


def _check_scalars(
    alternative: str, min_effect: float, alpha: float, min_seeds: int, max_seeds: int
) -> None:
    if alternative not in ("greater", "less"):
        raise SequentialRuleError(f"alternative must be 'greater' or 'less', got {alternative!r}")
    if not _number(alpha) or not 0 < alpha < 0.5:
        raise SequentialRuleError(f"alpha must be a number between 0 and 0.5, got {alpha!r}")
    if not _number(min_effect) or not math.isfinite(min_effect) or min_effect < 0:
        raise SequentialRuleError(f"min_effect must be a finite number >= 0, got {min_effect!r}")
    for name, value in (("min_seeds", min_seeds), ("max_seeds", max_seeds)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise SequentialRuleError(f"{name} must be a positive integer, got {value!r}")
    if min_seeds > max_seeds:
        raise SequentialRuleError(
            f"min_seeds ({min_seeds}) must not exceed max_seeds ({max_seeds})"
        )


def _values(values: Any, what: str, bounds: tuple[float, float] | None) -> Array:
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise SequentialRuleError(f"{what} must be numbers, got {values!r}") from None
    for i, x in enumerate(arr):
        if not math.isfinite(x):
            raise SequentialRuleError(f"{what}[{i}] = {x} is not a finite number")
        if bounds is not None and not bounds[0] <= x <= bounds[1]:
            raise SequentialRuleError(
                f"{what}[{i}] = {x:g} lies outside bounds=({bounds[0]:g}, {bounds[1]:g}): "
                "the rule's assumption does not hold (widen bounds= or use sigma=)"
            )
    return arr


# -- the decision ---------------------------------------------------------------


def _g(x: float) -> str:
    return f"{x:.3g}"


def _level(alpha: float) -> str:
    return f"{100 * (1 - alpha):.4g}%"


def _check_assumptions(
    bounds: tuple[float, float] | None, sigma: float | None
) -> tuple[float, float] | None:
    """Exactly one assumption: the metric's range (returned) or a sigma."""
    if bounds is None and sigma is None:
        raise SequentialRuleError(_NEEDS_ASSUMPTION)
    if bounds is not None and sigma is not None:
        raise SequentialRuleError(
            "seeds='auto' takes one assumption: bounds=(lo, hi) or sigma=, not both"
        )
    if sigma is not None and (not _number(sigma) or not 0 < sigma < math.inf):
        raise SequentialRuleError(
            f"sigma= must be a positive number (the sub-Gaussian scale of the per-seed "
            f"effect), got {sigma!r}"
        )
    return _check_bounds(bounds) if bounds is not None else None


def _effects(
    new: Sequence[float],
    baseline: Sequence[float] | float,
    alternative: str,
    rng: tuple[float, float] | None,
) -> tuple[Any, tuple[float, float]]:
    """The per-seed effects (sign-flipped for ``less``) and their range
    (``(-inf, inf)`` without bounds)."""
    x = _values(new, "new", rng)
    sign = 1.0 if alternative == "greater" else -1.0
    low, high = -math.inf, math.inf
    if _number(baseline):
        threshold = float(baseline)  # type: ignore[arg-type]
        if not math.isfinite(threshold):
            raise SequentialRuleError(f"the threshold must be finite, got {baseline!r}")
        if rng is not None and not rng[0] <= threshold <= rng[1]:
            raise SequentialRuleError(
                f"the threshold {threshold:g} lies outside bounds=({rng[0]:g}, {rng[1]:g})"
            )
        d = sign * (x - threshold)
        if rng is not None:
            ends = (sign * (rng[0] - threshold), sign * (rng[1] - threshold))
            low, high = min(ends), max(ends)
        return d, (low, high)
    y = _values(baseline, "baseline", rng)  # type: ignore[arg-type]
    k = min(len(x), len(y))
    if rng is not None:
        low, high = rng[0] - rng[1], rng[1] - rng[0]
    return sign * (x[:k] - y[:k]), (low, high)


def _method(rng: tuple[float, float] | None, sigma: float | None) -> str:
    if rng is not None:
        return (
            "betting confidence sequence (Waudby-Smith & Ramdas 2023), "
            f"bounds [{rng[0]:g}, {rng[1]:g}]"
        )
    return (
        "normal-mixture confidence sequence (Howard et al. 2021), "
        f"sub-Gaussian sigma = {float(sigma or 0):g}"
    )


def decide_sequential(
    new: Sequence[float],
    baseline: Sequence[float] | float,
    *,
    alternative: str,
    min_effect: float,
    alpha: float,
    bounds: tuple[float, float] | None,
    sigma: float | None,
    min_seeds: int,
    max_seeds: int,
) -> SequentialResult:
    """The anytime-valid decision on the seeds so far (in seed order).

    ``baseline`` is a threshold or the other arm's values paired by seed (the
    common prefix is used).  The seeds are read one at a time up to
    ``max_seeds``; the decision is taken at the first seed count where the
    bounds exclude one side of ``min_effect`` (later seeds are not used), so
    its false-VALIDATED rate is at most ``alpha`` at any stopping time.
    :class:`SequentialRuleError` for missing or malformed assumptions and for
    values outside ``bounds``."""
    _check_scalars(alternative, min_effect, alpha, min_seeds, max_seeds)
    rng = _check_assumptions(bounds, sigma)
    d, (low, high) = _effects(new, baseline, alternative, rng)
    d = d[:max_seeds]
    method = _method(rng, sigma)
    n_seen = len(d)
    if n_seen == 0:
        lower0, upper0 = (low, high) if rng is not None else (-math.inf, math.inf)
        return _undecided(
            0, math.nan, lower0, upper0, [], min_effect, alpha, method, min_seeds, max_seeds
        )
    lower, upper = effect_bounds(
        d,
        alpha,
        effect_range=(low, high) if rng is not None else None,
        sigma=None if sigma is None else float(sigma),
        min_seeds=min_seeds,
        max_seeds=max_seeds,
    )
    lows, ups = lower[0], upper[0]
    firsts, verdicts = first_decisions(lower, upper, min_effect, min_seeds)
    n = int(firsts[0])
    verdict = str(verdicts[0])
    n_validated = n >= min_seeds and lows[n - 1] > min_effect
    n_rejected = ups[n - 1] < min_effect
    if not (n_validated or n_rejected):
        n = n_seen
    history = [(i + 1, float(lows[i]), float(ups[i])) for i in range(n)]
    estimate = float(np.mean(d[:n]))
    lo_n, hi_n = float(lows[n - 1]), float(ups[n - 1])
    if verdict in ("VALIDATED", "REJECTED"):
        return SequentialResult(
            verdict=verdict,
            decided=True,
            n=n,
            estimate=estimate,
            lower=lo_n,
            upper=hi_n,
            min_effect=min_effect,
            alpha=alpha,
            method=method,
            width_needed=None,
            history=history,
            reason=_decided_reason(verdict, n, max_seeds, lo_n, hi_n, min_effect, alpha),
        )
    return _undecided(
        n, estimate, lo_n, hi_n, history, min_effect, alpha, method, min_seeds, max_seeds
    )


def _decided_reason(
    verdict: str, n: int, max_seeds: int, lower: float, upper: float, m: float, alpha: float
) -> str:
    head = f"{verdict} after {n} of at most {max_seeds} seeds: the anytime-valid {_level(alpha)}"
    if verdict == "VALIDATED":
        return f"{head} lower bound {_g(lower)} lies above the claimed effect {m:g}"
    return (
        f"{head} upper bound {_g(upper)} lies below the claimed effect {m:g}: "
        "the evidence excludes the claim"
    )


def _undecided(
    n: int,
    estimate: float,
    lower: float,
    upper: float,
    history: list[tuple[int, float, float]],
    m: float,
    alpha: float,
    method: str,
    min_seeds: int,
    max_seeds: int,
) -> SequentialResult:
    final = n >= max_seeds
    word = "INCONCLUSIVE" if final else "undecided"
    head = f"{word} after {n} of at most {max_seeds} seeds"
    interval = f"[{_g(lower)}, {_g(upper)}]"
    if lower > m and upper < m:
        width = 0.0
        tail = (
            f"the anytime-valid bounds crossed {interval}: the per-seed effects break the "
            "rule's assumption (bounds= or sigma=)"
        )
    elif lower > m:
        width = 0.0
        tail = (
            f"the anytime-valid {_level(alpha)} lower bound {_g(lower)} lies above the "
            f"claimed effect {m:g}, but at least {min_seeds} seeds are required"
        )
    else:
        width = min(m - lower, upper - m)
        tail = (
            f"the anytime-valid {_level(alpha)} bounds {interval} contain the claimed effect "
            f"{m:g}; they must narrow by {_g(width)} to decide"
        )
        if not final:
            tail += " - run more seeds"
    return SequentialResult(
        verdict="INCONCLUSIVE",
        decided=False,
        n=n,
        estimate=estimate,
        lower=lower,
        upper=upper,
        min_effect=m,
        alpha=alpha,
        method=method,
        width_needed=width,
        history=history,
        reason=f"{head}: {tail}",
    )
