"""Hypothesis-level decisions on the controller, from the cases' metrics.

:func:`apply_decisions` is called by the session once every case record has
arrived (from any xdist worker).  For each hypothesis whose marker declared
``decide=grd.greater(...)`` / ``grd.less(...)`` it gathers the per-seed values
of the rule's metric, runs the test, corrects the p-values across every
hypothesis of its family (Holm by default, Benjamini-Hochberg on request),
and sets the hypothesis's ``verdict``, ``reason`` and ``stats``.

The family is fixed by the code, not by what a session selected: by default
every decided hypothesis collected before ``-k`` / ``-m`` / ``--lf``
deselection; with ini ``grd_families``, the hypotheses listed under a name.
Members that did not run (or were refused) count as p = 1, so a subset run is
never corrected less than the full one: Holm's and Benjamini-Hochberg's
adjusted p-values only grow when another p-value grows.
The rule is rebuilt from its JSON form: the controller never sees the test
module.  Pure logic (no pytest).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..evidence import DEFAULT_FAMILY
from ..record import CaseRecord, HypothesisResult
from ..verdict import Verdict
from .engine import analyse
from .multiple import CorrectionError, adjust, check_correction
from .result import StatsResult
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
    cases: Sequence[CaseRecord] = result.evidence
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


def _paired(result: HypothesisResult, other: HypothesisResult, metric: str) -> list[float]:
    """Per-seed differences with the other arm (``paired=True``): a one-sample
    test of them against 0 takes out what each seed shifts in both arms."""
    mine = {c.seed: float(c.metrics[metric]) for c in result.evidence if metric in c.metrics}
    theirs = {c.seed: float(c.metrics[metric]) for c in other.evidence if metric in c.metrics}
    if None in mine or set(mine) != set(theirs):
        raise _NoEvidence(
            f"paired=True needs the same seeds in {result.id} and {other.id} "
            f"(got {sorted(s for s in mine if s is not None)} and "
            f"{sorted(s for s in theirs if s is not None)})"
        )
    return [mine[s] - theirs[s] for s in sorted(mine, key=lambda s: s or 0)]


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
    result.verdict = verdict
    result.reason = reason
    result.stats = stats


@dataclass
class _Pending:
    result: HypothesisResult
    rule: DecisionRule
    stats: StatsResult
    rejected: list[CaseRecord]


def apply_decisions(
    results: list[HypothesisResult], correction: str = "holm", seed_base: int = 0
) -> None:
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
        if data is None or result.partial:
            continue  # a partial one is settled INCONCLUSIVE by pytest_grd.evidence
        if any(c.sequential for c in result.cases):
            _decide_sequential(result, by_id, data, seed_base)
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
                if other.partial:
                    raise _NoEvidence(f"baseline hypothesis {rule.than} is {other.partial}")
                baseline = _samples(other, rule.metric, f"baseline {rule.than}", own=False)
                if rule.paired:
                    new, baseline = _paired(result, other, rule.metric), 0.0
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
    _settle_corrected(pending, method)


def family_of(result: HypothesisResult) -> tuple[str, int]:
    """The family name and size a decided hypothesis's records carry
    (records from before 0.2 carry none: the session's tested ones)."""
    name = next((c.family for c in result.cases if c.family), "")
    size = max((c.family_size for c in result.cases), default=0)
    return name, size


def _decide_sequential(
    result: HypothesisResult,
    by_id: dict[str, HypothesisResult],
    data: dict[str, Any],
    seed_base: int,
) -> None:
    """``seeds="auto"``: the anytime-valid decision, at the seed count where
    it was made (see :mod:`pytest_grd.stopping`)."""
    from ..stopping import SequentialProblem, decide_sequentially

    rule: DecisionRule | None = None
    try:
        rule = DecisionRule.from_dict(data)
        other = by_id.get(rule.than) if isinstance(rule.than, str) else None
        if other is not None and other.partial:
            raise SequentialProblem(f"baseline hypothesis {rule.than} is {other.partial}")
        first = result.cases[0]
        outcome = decide_sequentially(
            result.cases,
            other.cases if other is not None else None,
            rule,
            min_seeds=first.min_seeds,
            max_seeds=result.collected,
            family_size=family_of(result)[1] or 1,
            seed_base=seed_base,
        )
    except (RuleError, SequentialProblem, ValueError) as exc:
        reason = f"INCONCLUSIVE: {exc}"
        _settle(
            result,
            Verdict.INCONCLUSIVE,
            reason,
            _undecided_stats(rule, Verdict.INCONCLUSIVE, reason),
        )
        return
    stats = outcome.to_dict()
    stats.update(
        {
            "decision": outcome.verdict,
            "sequential": True,
            "metric": rule.metric,
            "than": rule.than,
            "alternative": rule.alternative,
            "n": outcome.n,
            "seeds_used": outcome.n,
            "max_seeds": result.collected,
            "seeds_saved": len(result.cases) - len(result.evidence),
            "family": family_of(result)[0] or DEFAULT_FAMILY,
            "family_size": family_of(result)[1] or 1,
            "rule": repr(rule),
            "rule_text": rule.describe(),
        }
    )
    _settle(result, Verdict(outcome.verdict), outcome.reason, stats)


def _settle_corrected(pending: list[_Pending], method: str) -> None:
    """Correct the p-values of each family's tested hypotheses together
    (``method``), re-decide each on its adjusted p-values and settle it."""
    families: dict[str, list[_Pending]] = {}
    for item in pending:
        families.setdefault(family_of(item.result)[0], []).append(item)
    for name, members in families.items():
        size = max([len(members), *(family_of(m.result)[1] for m in members)])
        _settle_family(members, method, name, size)


def _settle_family(pending: list[_Pending], method: str, name: str, family: int) -> None:
    """One family: members not tested here count as p = 1 (conservative); a
    VALIDATED hypothesis with a rejected case ends INCONCLUSIVE."""
    p_claim = adjust([p.stats.p_value or 1.0 for p in pending], method, family)
    p_against = adjust([p.stats.p_value_against or 1.0 for p in pending], method, family)
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
                "family": name or DEFAULT_FAMILY,
                "rule": repr(item.rule),
                "rule_text": item.rule.describe(),
            }
        )
        _settle(item.result, verdict, reason, record)
