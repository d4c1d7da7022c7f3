"""The outcome of one statistical decision and the rule that sets its verdict.

:func:`decide` turns the two one-sided p-values of a test into a verdict:
VALIDATED when the p-value for the claim is below ``alpha``, REJECTED when
the p-value against it is, INCONCLUSIVE otherwise (:func:`decide_many` is the
same rule element-wise, for simulations).  :class:`StatsResult` carries the
verdict with its numbers and sentences, and re-decides itself on
multiple-comparison adjusted p-values (:meth:`StatsResult.adjusted`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ..verdict import Verdict
from .explain import reason_text, suggest_n

__all__ = ["StatsResult", "decide", "decide_many"]

Array = npt.NDArray[np.float64]


def decide(p_claim: float, p_against: float, alpha: float) -> Verdict:
    """The verdict from the p-values for and against the claim."""
    if p_claim < alpha:
        return Verdict.VALIDATED
    if p_against < alpha:
        return Verdict.REJECTED
    return Verdict.INCONCLUSIVE


def decide_many(p_claim: Array, p_against: Array, alpha: float) -> npt.NDArray[np.str_]:
    """The decision rule of :func:`decide`, element-wise (for simulations)."""
    return np.where(
        p_claim < alpha,
        Verdict.VALIDATED.value,
        np.where(p_against < alpha, Verdict.REJECTED.value, Verdict.INCONCLUSIVE.value),
    )


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
        return suggest_n(estimate, boundary, spread, self.alpha, two_sample, n)

    def adjusted(
        self, p_adjusted: float, p_against_adjusted: float, correction: str, family_size: int
    ) -> StatsResult:
        """This result re-decided with multiple-comparison adjusted p-values."""
        verdict = decide(p_adjusted, p_against_adjusted, self.alpha)
        new = replace(
            self,
            verdict=verdict.value,
            p_adjusted=p_adjusted,
            p_against_adjusted=p_against_adjusted,
            correction=correction,
            family_size=family_size,
            suggested_n=self._power_n() if verdict is Verdict.INCONCLUSIVE else None,
        )
        return replace(new, reason=reason_text(new))
