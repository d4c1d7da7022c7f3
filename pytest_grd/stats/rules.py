"""Cross-case decision rules: ``grd.greater("auc", than="hyp_000")``.

A rule is what a researcher writes on the marker's ``decide=`` argument.  It
must read as the claim it decides, survive the trip to the xdist controller
as plain JSON (``to_dict`` / ``from_dict``), and be checked where it is
written.  Pure logic, cheap to import: no numpy, no scipy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..marker import ID_PATTERN, MarkerError

__all__ = [
    "ALTERNATIVES",
    "TESTS",
    "TEST_NAMES",
    "DecisionRule",
    "RuleError",
    "check_alpha",
    "check_min_effect",
    "check_test",
    "greater",
    "less",
]

#: Directions a claim can take.
ALTERNATIVES = ("greater", "less")

#: Tests a caller may ask for; each maps to a two-sample and a one-sample variant.
TESTS: dict[str, tuple[str, str]] = {
    "welch": ("welch", "one_sample_t"),
    "t": ("welch", "one_sample_t"),
    "one_sample_t": ("welch", "one_sample_t"),
    "mannwhitney": ("mannwhitney", "wilcoxon"),
    "wilcoxon": ("mannwhitney", "wilcoxon"),
    "permutation": ("permutation", "permutation"),
    "bootstrap_bca": ("bootstrap_bca", "bootstrap_bca"),
    "bootstrap": ("bootstrap_bca", "bootstrap_bca"),
}

#: Readable names of the tests, for decision-rule sentences.
TEST_NAMES = {
    "welch": "Welch's t-test",
    "one_sample_t": "one-sample t-test",
    "mannwhitney": "Mann-Whitney U test",
    "wilcoxon": "Wilcoxon signed-rank test",
    "permutation": "permutation test of the mean",
    "bootstrap_bca": "BCa bootstrap of the mean",
}


class RuleError(MarkerError):
    """A decision rule with an argument that cannot work."""


def check_alpha(alpha: Any) -> float:
    """``alpha`` as a float in (0, 0.5), or :class:`RuleError`."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
        raise RuleError(f"alpha must be a number between 0 and 0.5, got {alpha!r}")
    return float(alpha)


def check_min_effect(min_effect: Any) -> float:
    """``min_effect`` as a finite float >= 0, or :class:`RuleError`."""
    if (
        isinstance(min_effect, bool)
        or not isinstance(min_effect, (int, float))
        or not math.isfinite(min_effect)
        or min_effect < 0
    ):
        raise RuleError(
            f"min_effect must be a finite number >= 0 (the smallest improvement that "
            f"counts), got {min_effect!r}"
        )
    return float(min_effect)


def check_test(test: Any) -> str:
    """``test`` as one of :data:`TESTS`, or :class:`RuleError`."""
    if not isinstance(test, str) or test not in TESTS:
        raise RuleError(
            f"test must be one of welch, mannwhitney, permutation, bootstrap_bca, got {test!r}"
        )
    return test


def _check_than(than: Any) -> float | str:
    if isinstance(than, str):
        if not ID_PATTERN.fullmatch(than):
            raise RuleError(f"than= must be a number or a hypothesis id, got {than!r}")
        return than
    if isinstance(than, bool) or not isinstance(than, (int, float)) or not math.isfinite(than):
        raise RuleError(
            f"than= must be a finite number (a threshold) or a hypothesis id such as "
            f"'hyp_000', got {than!r}"
        )
    return float(than)


def _check_bounds(bounds: Any) -> tuple[float, float] | None:
    if bounds is None:
        return None
    try:
        lo, hi = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise RuleError(f"bounds= must be (lo, hi), the metric's range, got {bounds!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise RuleError(f"bounds= must be two finite numbers lo < hi, got {bounds!r}")
    return lo, hi


def _check_sigma(sigma: Any) -> float | None:
    if sigma is None:
        return None
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 < sigma < math.inf:
        raise RuleError(f"sigma= must be a positive number (a sub-Gaussian scale), got {sigma!r}")
    return float(sigma)


@dataclass(frozen=True)
class DecisionRule:
    """The claim "the mean of ``metric`` over this hypothesis's seeds is greater
    (or less) than ``than`` by more than ``min_effect``".

    ``than`` is a fixed threshold (one-sample test) or the id of another
    hypothesis in the same session, whose seeds are the baseline sample.
    """

    metric: str
    alternative: str
    than: float | str
    min_effect: float = 0.0
    test: str = "welch"
    alpha: float = 0.05
    #: The metric's range (bounded data, e.g. (0, 1) for accuracy): the
    #: assumption an anytime-valid decision (``seeds="auto"``) needs...
    bounds: tuple[float, float] | None = None
    #: ...or the sub-Gaussian scale of the per-seed effect.
    sigma: float | None = None
    #: Compare with ``than``'s seeds seed by seed (both arms share each
    #: seed's split and initialization), on the per-seed differences.
    paired: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise RuleError(f"the metric must be a non-empty string, got {self.metric!r}")
        if self.alternative not in ALTERNATIVES:
            raise RuleError(f"alternative must be 'greater' or 'less', got {self.alternative!r}")
        object.__setattr__(self, "than", _check_than(self.than))
        object.__setattr__(self, "min_effect", check_min_effect(self.min_effect))
        object.__setattr__(self, "test", check_test(self.test))
        object.__setattr__(self, "alpha", check_alpha(self.alpha))
        object.__setattr__(self, "bounds", _check_bounds(self.bounds))
        object.__setattr__(self, "sigma", _check_sigma(self.sigma))
        if self.bounds is not None and self.sigma is not None:
            raise RuleError("give one assumption: bounds=(lo, hi) or sigma=, not both")
        if self.paired and not self.is_comparison:
            raise RuleError("paired=True compares with another hypothesis: give than='hyp_...'")

    @property
    def is_comparison(self) -> bool:
        """True when the baseline is another hypothesis (two samples)."""
        return isinstance(self.than, str)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON; what the marker stores in every case record."""
        return {
            "kind": "grd.decide",
            "metric": self.metric,
            "alternative": self.alternative,
            "than": self.than,
            "min_effect": self.min_effect,
            "test": self.test,
            "alpha": self.alpha,
            "bounds": list(self.bounds) if self.bounds is not None else None,
            "sigma": self.sigma,
            "paired": self.paired,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecisionRule:
        """Rebuild a rule (on the controller); :class:`RuleError` if it is malformed."""
        if not isinstance(data, Mapping):
            raise RuleError(f"a decision rule must be a dict, got {type(data).__name__}")
        missing = [k for k in ("metric", "alternative", "than") if k not in data]
        if missing:
            raise RuleError(f"decision rule lacks {', '.join(missing)}: {dict(data)!r}")
        return cls(
            metric=data["metric"],
            alternative=data["alternative"],
            than=data["than"],
            min_effect=data.get("min_effect", 0.0),
            test=data.get("test", "welch"),
            alpha=data.get("alpha", 0.05),
            bounds=data.get("bounds"),
            sigma=data.get("sigma"),
            paired=bool(data.get("paired", False)),
        )

    def describe(self) -> str:
        """The claim in words: ``mean auc over seeds > hyp_000's by more than 0.01
        (Welch's t-test, alpha = 0.05)``."""
        sign = ">" if self.alternative == "greater" else "<"
        target = f"{self.than}'s" if isinstance(self.than, str) else f"{self.than:g}"
        margin = ""
        if self.min_effect:
            margin = f" by more than {self.min_effect:g}"
        two_sample, one_sample = TESTS[self.test]
        name = TEST_NAMES[two_sample if self.is_comparison and not self.paired else one_sample]
        if self.paired:
            name = f"paired by seed, {name} of the differences"
        return (
            f"mean {self.metric} over seeds {sign} {target}{margin} "
            f"({name}, alpha = {self.alpha:g})"
        )

    def __repr__(self) -> str:
        args = [repr(self.metric), f"than={self.than!r}"]
        if self.min_effect:
            args.append(f"min_effect={self.min_effect!r}")
        if self.test != "welch":
            args.append(f"test={self.test!r}")
        if self.alpha != 0.05:
            args.append(f"alpha={self.alpha!r}")
        if self.bounds is not None:
            args.append(f"bounds=({self.bounds[0]:g}, {self.bounds[1]:g})")
        if self.sigma is not None:
            args.append(f"sigma={self.sigma!r}")
        if self.paired:
            args.append("paired=True")
        return f"grd.{self.alternative}({', '.join(args)})"

    __str__ = describe


def greater(
    metric: str,
    than: float | str,
    *,
    min_effect: float = 0.0,
    test: str = "welch",
    alpha: float = 0.05,
    bounds: tuple[float, float] | None = None,
    sigma: float | None = None,
    paired: bool = False,
) -> DecisionRule:
    """Claim: the mean of ``metric`` over this hypothesis's seeds exceeds
    ``than`` (a number, or another hypothesis's seeds) by more than
    ``min_effect``.  Use as ``decide=grd.greater("auc", than="hyp_000")``.
    ``bounds=`` (the metric's range) or ``sigma=`` state the assumption a
    sequential decision (``seeds="auto"``) needs; ``paired=True`` compares
    seed by seed with ``than``'s seeds."""
    return DecisionRule(metric, "greater", than, min_effect, test, alpha, bounds, sigma, paired)


def less(
    metric: str,
    than: float | str,
    *,
    min_effect: float = 0.0,
    test: str = "welch",
    alpha: float = 0.05,
    bounds: tuple[float, float] | None = None,
    sigma: float | None = None,
    paired: bool = False,
) -> DecisionRule:
    """Claim: the mean of ``metric`` over this hypothesis's seeds is below
    ``than`` by more than ``min_effect`` (e.g. a loss or a latency); the
    other arguments as for :func:`greater`."""
    return DecisionRule(metric, "less", than, min_effect, test, alpha, bounds, sigma, paired)
