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

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise RuleError(f"the metric must be a non-empty string, got {self.metric!r}")
        if self.alternative not in ALTERNATIVES:
            raise RuleError(f"alternative must be 'greater' or 'less', got {self.alternative!r}")
        object.__setattr__(self, "than", _check_than(self.than))
        object.__setattr__(self, "min_effect", check_min_effect(self.min_effect))
        object.__setattr__(self, "test", check_test(self.test))
        object.__setattr__(self, "alpha", check_alpha(self.alpha))

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
        name = TEST_NAMES[two_sample if self.is_comparison else one_sample]
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
        return f"grd.{self.alternative}({', '.join(args)})"

    __str__ = describe


def greater(
    metric: str,
    than: float | str,
    *,
    min_effect: float = 0.0,
    test: str = "welch",
    alpha: float = 0.05,
) -> DecisionRule:
    """Claim: the mean of ``metric`` over this hypothesis's seeds exceeds
    ``than`` (a number, or another hypothesis's seeds) by more than
    ``min_effect``.  Use as ``decide=grd.greater("auc", than="hyp_000")``."""
    return DecisionRule(metric, "greater", than, min_effect, test, alpha)


def less(
    metric: str,
    than: float | str,
    *,
    min_effect: float = 0.0,
    test: str = "welch",
    alpha: float = 0.05,
) -> DecisionRule:
    """Claim: the mean of ``metric`` over this hypothesis's seeds is below
    ``than`` by more than ``min_effect`` (e.g. a loss or a latency)."""
    return DecisionRule(metric, "less", than, min_effect, test, alpha)
