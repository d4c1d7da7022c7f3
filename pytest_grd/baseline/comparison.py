"""Comparing a run with a baseline: the changes that fail a baseline run.

:func:`compare` walks the hypotheses the baseline records at the session's
scale, in steps:

1. :func:`recorded_hypotheses`: the baseline's section for the scale;
2. a recorded hypothesis without a result is judged by what was collected
   (:func:`_absent_hypothesis`: gone, selected but not run, or left out);
3. one with a result is compared (:func:`_compare_hypothesis`): its verdict,
   then each recorded case, absent (:func:`_absent_case`) or compared
   (:func:`_case_changes`: verdict, then each key metric within its
   tolerance, :func:`_metric_change`);
4. what the baseline does not know: new hypotheses, and failed cases it
   does not record (:func:`_unrecorded_failures`), which a baseline run
   never forgives.

A decided hypothesis whose effect or p-value moved a lot gets a note
(:func:`~pytest_grd.baseline.decisions.decision_notes`), never a change.

Pure logic: no pytest import.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..verdict import Verdict
from .decisions import decision_notes
from .format import BaselineError, case_keys
from .rules import effective_rule, is_worse

if TYPE_CHECKING:
    from ..record import CaseRecord, HypothesisResult
    from .collection import Collection
    from .rules import Tolerances

__all__ = ["Comparison", "Discrepancy", "compare", "recorded_hypotheses"]


@dataclass
class Discrepancy:
    """One change between the baseline and the run; ``kind`` is one of
    ``flipped``, ``drifted``, ``missing``, ``not-run``."""

    kind: str
    hypothesis: str
    case: str | None
    message: str
    metric: str | None = None
    baseline: Any = None
    current: Any = None

    def line(self) -> str:
        """The terminal line."""
        where = self.case or self.hypothesis
        return f"{self.kind.upper()} {where}: {self.message}"


@dataclass
class Comparison:
    """The result of comparing a run with a baseline."""

    path: str
    scale: str
    discrepancies: list[Discrepancy] = field(default_factory=list)
    #: Hypotheses or cases of the baseline left out of this run, with why.
    skipped: list[str] = field(default_factory=list)
    #: Hypotheses of the run the baseline does not know yet (no failure).
    new: list[str] = field(default_factory=list)
    #: Failed cases (REJECTED, or INCONCLUSIVE by an error) that the baseline
    #: does not record: a baseline run never forgives them.
    unrecorded_failures: list[str] = field(default_factory=list)
    #: Decisions whose numbers moved a lot without a change of verdict.
    notes: list[str] = field(default_factory=list)
    compared_hypotheses: int = 0
    compared_cases: int = 0
    #: hypothesis -> case key -> metric -> baseline value (for plots).
    reference: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No change against the baseline."""
        return not self.discrepancies

    def note(self, finding: Discrepancy | str) -> None:
        """Add a change, or a line saying what was left out of the run and why."""
        if isinstance(finding, Discrepancy):
            self.discrepancies.append(finding)
        else:
            self.skipped.append(finding)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the report header's ``baseline`` entry)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Comparison:
        """The inverse of :meth:`to_dict`."""
        out = cls(**{k: v for k, v in data.items() if k != "discrepancies"})
        out.discrepancies = [Discrepancy(**d) for d in data.get("discrepancies", [])]
        return out


def compare(
    baseline: Mapping[str, Any],
    results: Iterable[HypothesisResult],
    scale: str,
    collection: Collection,
    path: str = "",
    tolerances: Tolerances | None = None,
) -> Comparison:
    """Compare a run with the baseline's section for ``scale``.

    Changes that count (each a :class:`Discrepancy`): a hypothesis or case
    verdict that differs from the recorded one, a key metric beyond its
    tolerance in the bad direction, a recorded hypothesis or case that no
    longer exists, and a selected one that did not run.  A REJECTED verdict
    recorded as REJECTED is no change.  Hypotheses and cases left out of the
    run (``-k``, ``-m``, paths) are listed in ``skipped``.  ``tolerances``
    are the ini's (``grd_baseline_tolerances``).
    """
    recorded = recorded_hypotheses(baseline, scale, path)
    ran = {r.id: r for r in results}
    out = Comparison(path=path, scale=scale)
    for hid, entry in sorted(recorded.items()):
        result = ran.get(hid)
        if result is None:
            out.note(_absent_hypothesis(hid, entry, collection))
        else:
            _compare_hypothesis(out, entry, result, collection, tolerances or {})
    out.new = sorted(set(ran) - set(recorded))
    out.unrecorded_failures = _unrecorded_failures(ran, recorded)
    return out


def recorded_hypotheses(baseline: Mapping[str, Any], scale: str, path: str) -> Mapping[str, Any]:
    """The hypotheses the baseline records at ``scale`` (:class:`BaselineError`
    when it records nothing at that scale)."""
    section = baseline.get("scales", {}).get(scale)
    if section is None:
        raise BaselineError(
            f"baseline {path} has no results at scale {scale!r} "
            f"(it has: {', '.join(sorted(baseline.get('scales', {}))) or 'none'}); "
            f"record them with --grd-scale {scale} --grd-save-baseline"
        )
    hypotheses: Mapping[str, Any] = section.get("hypotheses", {})
    return hypotheses


def _absent_hypothesis(
    hid: str, entry: Mapping[str, Any], collection: Collection
) -> Discrepancy | str:
    """Why a recorded hypothesis has no result: a change (it no longer
    exists, or it was selected and did not run) or why it was left out."""
    verdict = entry["verdict"]
    if collection.is_gone(hid, entry.get("file", "")):
        message = f"recorded as {verdict} in the baseline but no longer exists"
        return Discrepancy("missing", hid, None, message, baseline=verdict)
    if collection.any_selected(hid):
        message = "selected but produced no result"
        return Discrepancy("not-run", hid, None, message, baseline=verdict)
    if not collection.known:
        message = "no result and no collection information (workers crashed?)"
        return Discrepancy("not-run", hid, None, message, baseline=verdict)
    return f"{hid}: " + ("deselected" if hid in collection.collected else "not selected")


def _compare_hypothesis(
    out: Comparison,
    entry: Mapping[str, Any],
    result: HypothesisResult,
    collection: Collection,
    tolerances: Tolerances,
) -> None:
    """A recorded hypothesis that ran: its verdict, then each recorded case."""
    hid = result.id
    out.compared_hypotheses += 1
    flipped = result.verdict != entry["verdict"]
    if flipped:
        out.discrepancies.append(
            Discrepancy(
                "flipped",
                hid,
                None,
                f"verdict {entry['verdict']} -> {result.verdict}: {result.reason}".rstrip(": "),
                baseline=entry["verdict"],
                current=result.verdict,
            )
        )
    else:
        out.notes.extend(decision_notes(hid, entry.get("stats") or {}, result.stats))
    current = case_keys(result.cases)
    for key, case_entry in sorted(entry.get("cases", {}).items()):
        case = current.get(key)
        if case is None:
            out.note(_absent_case(hid, key, case_entry, collection))
            continue
        out.compared_cases += 1
        # A case named like its hypothesis (no parameters, no seed) that
        # flipped is the hypothesis's flip, reported once, above.
        out.discrepancies.extend(
            _case_changes(
                hid, key, case_entry, case, tolerances, with_verdict=not (key == hid and flipped)
            )
        )
    reference = _reference_values(entry)
    if reference:
        out.reference[hid] = reference


def _absent_case(
    hid: str, key: str, case_entry: Mapping[str, Any], collection: Collection
) -> Discrepancy | str:
    """Why a recorded case of a hypothesis that ran has no result."""
    if key in collection.selected:
        return Discrepancy("not-run", hid, key, "selected but produced no result")
    if collection.case_is_gone(hid, key):
        verdict = case_entry["verdict"]
        message = f"case recorded as {verdict} no longer exists"
        return Discrepancy("missing", hid, key, message, baseline=verdict)
    return f"{key}: deselected"


def _case_changes(
    hid: str,
    key: str,
    case_entry: Mapping[str, Any],
    case: CaseRecord,
    tolerances: Tolerances,
    with_verdict: bool = True,
) -> list[Discrepancy]:
    """The changes of a case that ran: its verdict (unless ``with_verdict``
    is False), then its key metrics."""
    changes: list[Discrepancy] = []
    recorded = case_entry["verdict"]
    if with_verdict and case.verdict != recorded:
        changes.append(
            Discrepancy(
                "flipped",
                hid,
                key,
                f"verdict {recorded} -> {case.verdict}"
                + (f": {case.reason}" if case.reason else ""),
                baseline=recorded,
                current=case.verdict,
            )
        )
    for name, rule in sorted(case_entry.get("metrics", {}).items()):
        if case.baseline and name not in case.baseline:
            continue  # the marker now names the key metrics, and not this one
        declared, configured = case.baseline.get(name), tolerances.get(name)
        change = _metric_change(
            hid, key, name, rule, (declared, configured), case.metrics.get(name)
        )
        if change is not None:
            changes.append(change)
    return changes


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _metric_change(
    hid: str,
    key: str,
    name: str,
    rule: Mapping[str, Any],
    judged: tuple[Mapping[str, Any] | None, tuple[float, bool] | None],
    current: float | None,
) -> Discrepancy | None:
    """A key metric that moved beyond its tolerance in the bad direction,
    or that is no longer logged (``judged``: the marker's declaration and the
    ini's tolerance for it, see :func:`effective_rule`)."""
    base = rule.get("value")
    direction, tolerance = effective_rule(rule, *judged)
    if base is None:
        return None  # nothing was recorded to hold the run to
    if current is None or not math.isfinite(current):
        message = f"metric {name} was {_fmt(base)}, now not logged"
        return Discrepancy("drifted", hid, key, message, metric=name, baseline=base)
    delta = current - base
    if not is_worse(delta, direction, tolerance):
        return None
    move = f"metric {name} {_fmt(base)} -> {_fmt(current)} ({delta:+.4g}; "
    if direction == "equal":
        message = move + f"must stay equal within {_fmt(float(tolerance))})"
    else:
        message = move + f"{direction} is better, tolerance {_fmt(float(tolerance))})"
    return Discrepancy("drifted", hid, key, message, metric=name, baseline=base, current=current)


def _reference_values(entry: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Case key -> metric -> the value the baseline records (for plots)."""
    reference: dict[str, dict[str, float]] = {}
    for key, case_entry in sorted(entry.get("cases", {}).items()):
        values = {
            m: r["value"]
            for m, r in case_entry.get("metrics", {}).items()
            if r.get("value") is not None
        }
        if values:
            reference[key] = values
    return reference


def _unrecorded_failures(
    ran: Mapping[str, HypothesisResult], recorded: Mapping[str, Any]
) -> list[str]:
    """Failed cases of the run (REJECTED, or INCONCLUSIVE by an error) that
    the baseline does not record, as ``"<case>: <verdict>"``."""
    out: list[str] = []
    for hid, result in sorted(ran.items()):
        known = recorded.get(hid, {}).get("cases", {})
        for key, case in sorted(case_keys(result.cases).items()):
            failed = case.verdict == Verdict.REJECTED.value or (
                case.verdict == Verdict.INCONCLUSIVE.value and case.is_error
            )
            if failed and key not in known:
                out.append(f"{key}: {case.verdict}")
    return out
