"""Sequential decisions (``seeds="auto"``): when the remaining seeds are not needed.

Pure logic (no pytest).  A sequential hypothesis's seeds are evidence in seed
order: the decision looks at the longest run of consecutive seeds that have
all reported (both arms, seed by seed, for ``than="other_hyp"``), and is made
at the first number of seeds where the anytime-valid confidence sequence
(:mod:`pytest_grd.stats.sequential`) excludes one side.  So it depends on the
seeds' values only, never on which worker finished first: a serial run and
``-n 2`` decide alike, and seeds that ran past the decision (already started
on another worker) are kept as records but not used.

Several sequential hypotheses decided in one family share its error rate by
Bonferroni (``alpha / family size``): valid for confidence sequences at any
stopping time, where Holm's step-down is not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .record import CaseRecord
from .verdict import Verdict

if TYPE_CHECKING:
    from .stats.rules import DecisionRule
    from .stats.sequential import SequentialResult

__all__ = [
    "NoSeedYet",
    "SequentialProblem",
    "decide_sequentially",
    "not_needed",
    "sequential_settled",
]


class SequentialProblem(Exception):
    """The seeds so far cannot be read as evidence (a failed or doubtful seed,
    a missing metric): the decision is INCONCLUSIVE with this reason."""


class NoSeedYet(SequentialProblem):
    """The first seed (of both arms) has not reported yet: nothing to decide,
    and nothing wrong (under xdist, later seeds may report first)."""


def _by_seed(cases: Sequence[CaseRecord], metric: str, label: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for case in cases:
        if case.not_needed or case.seed is None:
            continue
        if case.verdict not in (Verdict.MEASURED, Verdict.VALIDATED):
            raise SequentialProblem(
                f"{label}: seed {case.seed} ended {case.verdict}: {case.reason}"
            )
        if metric not in case.metrics:
            raise SequentialProblem(f"{label}: seed {case.seed} did not log {metric!r}")
        out[case.seed] = float(case.metrics[metric])
    return out


def _prefix(
    new: Mapping[int, float], base: Mapping[int, float] | None, seeds: Sequence[int]
) -> tuple[list[float], list[float] | None]:
    """The values of the consecutive seeds, from the first, that have reported
    (in both arms)."""
    xs: list[float] = []
    ys: list[float] = []
    for seed in seeds:
        if seed not in new or (base is not None and seed not in base):
            break
        xs.append(new[seed])
        if base is not None:
            ys.append(base[seed])
    return xs, (ys if base is not None else None)


def decide_sequentially(
    cases: Sequence[CaseRecord],
    reference: Sequence[CaseRecord] | None,
    rule: DecisionRule,
    *,
    min_seeds: int,
    max_seeds: int,
    family_size: int = 1,
    seed_base: int = 0,
) -> SequentialResult:
    """The decision of a sequential hypothesis on the seeds reported so far,
    made at the first seed count where it is decided (see module docstring).
    Its seeds are ``seed_base``, ``seed_base + 1``, ...: the evidence is the
    run of those that have reported, in that order, up to the first gap."""
    from .stats.sequential import decide_sequential

    label = cases[0].hypothesis if cases else "hypothesis"
    if reference is None and isinstance(rule.than, str):
        raise SequentialProblem(f"baseline hypothesis {rule.than!r} did not run in this session")
    seeds = range(seed_base, seed_base + max_seeds)
    new = _by_seed(cases, rule.metric, label)
    base = _by_seed(reference, rule.metric, f"baseline {rule.than}") if reference else None
    xs, ys = _prefix(new, base, seeds)
    if not xs:
        raise NoSeedYet(f"{label}: no seed has reported in both arms yet")
    kwargs: dict[str, Any] = {
        "alternative": rule.alternative,
        "min_effect": rule.min_effect,
        "alpha": rule.alpha / max(1, family_size),
        "bounds": rule.bounds,
        "sigma": rule.sigma,
        "min_seeds": min_seeds,
        "max_seeds": max_seeds,
    }
    threshold = rule.than if not isinstance(rule.than, str) else None
    result = decide_sequential(xs, ys if ys is not None else float(threshold or 0.0), **kwargs)
    first = next(
        (n for n, lo, hi in result.history if _decided(n, lo, hi, rule.min_effect, min_seeds)),
        None,
    )
    if first is not None and first < result.n:
        # Decided earlier than the seeds that happen to have reported now.
        cut = ys[:first] if ys is not None else float(threshold or 0.0)
        result = decide_sequential(xs[:first], cut, **kwargs)
    return result


def sequential_settled(
    by_hypothesis: Mapping[str, Sequence[CaseRecord]], seed_base: int = 0
) -> dict[str, str]:
    """Hypothesis id -> reason for every sequential hypothesis (and reference
    arm) whose further seeds are not needed, on the records so far."""
    from .stats.rules import DecisionRule, RuleError

    decided: dict[str, str] = {}
    for hid, cases in by_hypothesis.items():
        first = cases[0]
        if not (first.sequential and first.decide):
            continue
        try:
            rule = DecisionRule.from_dict(first.decide)
            reference = by_hypothesis.get(rule.than) if isinstance(rule.than, str) else None
            if isinstance(rule.than, str) and reference is None:
                continue  # the other arm has not reported a seed yet
            outcome = decide_sequentially(
                cases,
                reference,
                rule,
                min_seeds=first.min_seeds,
                max_seeds=first.hypothesis_cases or len(cases),
                seed_base=seed_base,
                family_size=first.family_size or 1,
            )
        except NoSeedYet:
            continue
        except (RuleError, SequentialProblem, ValueError) as exc:
            decided[hid] = f"{hid} cannot be decided any more ({exc})"
            continue
        if outcome.decided:
            decided[hid] = f"{hid} was decided ({outcome.verdict}) after {outcome.n} seeds"
    return not_needed(by_hypothesis, decided)


def _decided(n: int, lower: float, upper: float, min_effect: float, min_seeds: int) -> bool:
    return (n >= min_seeds and lower > min_effect) or upper < min_effect


def not_needed(
    by_hypothesis: Mapping[str, Sequence[CaseRecord]], decided: Mapping[str, str]
) -> dict[str, str]:
    """Hypothesis id -> reason, for every sequential hypothesis whose further
    seeds are not needed: decided itself (``decided``: id -> reason), or a
    reference arm (no rule of its own) all of whose sequential comparisons
    are decided."""
    out = dict(decided)
    users: dict[str, list[str]] = {}
    for hid, cases in by_hypothesis.items():
        than = (cases[0].decide or {}).get("than") if cases and cases[0].sequential else None
        if isinstance(than, str):
            users.setdefault(than, []).append(hid)
    for ref, dependents in users.items():
        cases = by_hypothesis.get(ref) or []
        if not cases or not cases[0].sequential or cases[0].decide:
            continue
        if all(d in decided for d in dependents):
            out[ref] = (
                "the comparisons it is the baseline of are decided ("
                + ", ".join(sorted(dependents))
                + ")"
            )
    return out
