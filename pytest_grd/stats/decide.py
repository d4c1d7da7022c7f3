"""Hypothesis-level decisions on the controller, from the cases' metrics.

:func:`apply_decisions` is called by the session once every case record has
arrived (from any xdist worker).  For each hypothesis whose marker declared
``decide=grd.greater(...)`` / ``grd.less(...)`` it gathers the per-seed values
of the rule's metric, runs the test, corrects the p-values across every
hypothesis decided in the session (Holm by default, Benjamini-Hochberg on
request), and sets the hypothesis's ``verdict``, ``reason`` and ``stats``.
The rule is rebuilt from its JSON form: the controller never sees the test
module.  Pure logic (no pytest).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..record import CaseRecord, HypothesisResult
from ..verdict import Verdict
from .engine import StatsResult, analyse
from .multiple import CorrectionError, adjust, check_correction
from .rules import DecisionRule, RuleError

__all__ = ["apply_decisions", "rule_of"]


def rule_of(result: HypothesisResult) -> dict[str, Any] | None:
    """The serialized decision rule of a hypothesis (``None``: roll-up verdict)."""
    return next((c.decide for c in result.cases if c.decide), None)


class _NoEvidence(Exception):
    """The samples cannot be assembled; ``verdict`` says how to end."""

    def __init__(self, reason: str, verdict: Verdict = Verdict.INCONCLUSIVE) -> None:
        super().__init__(reason)
        self.reason = reason
        self.verdict = verdict


def _samples(result: HypothesisResult, metric: str, label: str, own: bool = True) -> list[float]:
    """The metric's value in every case of ``result`` (one per seed / point).
    ``own`` is False for the ``than=`` hypothesis: its failures leave the
    comparison undecided, they do not reject the claim being decided."""
    cases: Sequence[CaseRecord] = result.cases
    if not cases:
        raise _NoEvidence(f"{label} has no cases")
    doubtful = [c for c in cases if c.verdict == Verdict.INCONCLUSIVE.value]
    if doubtful:
        first = doubtful[0]
        raise _NoEvidence(
            f"{label}: {len(doubtful)} of {len(cases)} case(s) inconclusive and the statistics "
            f"need every seed; first: {first.name}: {first.reason or 'no reason'}"
        )
    values: list[float] = []
    for case in cases:
        value = case.metrics.get(metric)
        if value is None:
            logged = ", ".join(sorted(case.metrics)) or "nothing"
            text = f"{label}: case {case.name} did not log {metric!r} (logged: {logged})"
            if own and case.verdict == Verdict.REJECTED.value:
                # The case's own assertion failed before logging: that stands.
                raise _NoEvidence(f"{text}; it was rejected: {case.reason}", Verdict.REJECTED)
            raise _NoEvidence(text)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _NoEvidence(f"{label}: case {case.name} logged {metric}={value!r}") from None
        if not math.isfinite(number):
            raise _NoEvidence(f"{label}: case {case.name} logged {metric}={number}")
        values.append(number)
    return values


def _undecided_stats(rule: DecisionRule | None, verdict: Verdict, reason: str) -> dict[str, Any]:
    stats: dict[str, Any] = {"decision": verdict.value, "reason": reason, "refused": True}
    if rule is not None:
        stats.update(
            {
                "metric": rule.metric,
                "than": rule.than,
                "alternative": rule.alternative,
                "test": rule.test,
                "alpha": rule.alpha,
                "min_effect": rule.min_effect,
                "rule": repr(rule),
                "rule_text": rule.describe(),
            }
        )
    return stats


def _settle(
    result: HypothesisResult,
    verdict: Verdict,
    reason: str,
    stats: dict[str, Any],
) -> None:
    result.verdict = verdict.value
    result.reason = reason
    result.stats = stats


@dataclass
class _Pending:
    result: HypothesisResult
    rule: DecisionRule
    stats: StatsResult
    rejected: list[CaseRecord]


def apply_decisions(results: list[HypothesisResult], correction: str = "holm") -> None:
    """Decide every hypothesis in ``results`` that carries a decision rule,
    in place.  ``correction`` is ``holm``, ``bh`` or ``none``."""
    by_id = {r.id: r for r in results}
    try:
        method = check_correction(correction)
        config_error = None
    except CorrectionError as exc:
        method, config_error = "none", str(exc)
    pending: list[_Pending] = []
    for result in results:
        data = rule_of(result)
        if data is None:
            continue
        rule: DecisionRule | None = None
        try:
            if config_error:
                raise _NoEvidence(f"cannot decide: {config_error}")
            try:
                rule = DecisionRule.from_dict(data)
            except RuleError as exc:
                raise _NoEvidence(f"cannot decide: bad decision rule: {exc}") from None
            new = _samples(result, rule.metric, result.id)
            baseline: list[float] | float
            if isinstance(rule.than, str):
                if rule.than == result.id:
                    raise _NoEvidence(f"cannot decide: {result.id} is compared with itself")
                other = by_id.get(rule.than)
                if other is None:
                    raise _NoEvidence(
                        f"baseline hypothesis {rule.than!r} did not run in this session "
                        f"(select both, e.g. -k '{result.id} or {rule.than}')"
                    )
                baseline = _samples(other, rule.metric, f"baseline {rule.than}", own=False)
            else:
                baseline = rule.than
        except _NoEvidence as exc:
            reason = f"{exc.verdict.value}: {exc.reason}"
            _settle(result, exc.verdict, reason, _undecided_stats(rule, exc.verdict, reason))
            continue
        stats = analyse(
            new,
            baseline,
            alternative=rule.alternative,
            min_effect=rule.min_effect,
            alpha=rule.alpha,
            test=rule.test,
            metric=rule.metric,
            than=rule.than,
            unit="seeds",
        )
        if stats.refused:
            # No test ran: nothing to correct, and never a decisive verdict.
            record = {**stats.to_dict(), "rule": repr(rule), "rule_text": rule.describe()}
            _settle(result, Verdict.INCONCLUSIVE, stats.reason, record)
            continue
        rejected = [c for c in result.cases if c.verdict == Verdict.REJECTED.value]
        pending.append(_Pending(result, rule, stats, rejected))

    family = len(pending)
    p_claim = adjust([p.stats.p_value or 1.0 for p in pending], method)
    p_against = adjust([p.stats.p_value_against or 1.0 for p in pending], method)
    for item, adj_claim, adj_against in zip(pending, p_claim, p_against, strict=True):
        final = item.stats.adjusted(adj_claim, adj_against, method, family)
        verdict, reason = Verdict(final.verdict), final.reason
        if item.rejected and verdict is Verdict.VALIDATED:
            first = item.rejected[0]
            verdict = Verdict.INCONCLUSIVE
            reason = (
                f"INCONCLUSIVE: the statistics say {reason}, but {len(item.rejected)} case(s) "
                f"were rejected; first: {first.name}: {first.reason}"
            )
        record = final.to_dict()
        record.update(
            {
                "decision": verdict.value,
                "reason": reason,
                "rule": repr(item.rule),
                "rule_text": item.rule.describe(),
            }
        )
        _settle(item.result, verdict, reason, record)
