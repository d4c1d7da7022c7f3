"""Whether a hypothesis's verdict rests on all of its evidence.

Pure logic (no pytest).  A hypothesis whose collected cases did not all run
(an interrupted session, ``-x`` / ``--maxfail``, a crashed worker, or a ``-k``
finer than the hypothesis) has a verdict on part of its evidence: it is never
VALIDATED.  A decided one is INCONCLUSIVE (its statistics would describe other
samples than the claim's); a rolled-up one keeps a REJECTED (one rejected case
refutes a claim about every case) and is INCONCLUSIVE otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .record import CaseRecord, HypothesisResult
from .verdict import Verdict

__all__ = [
    "DEFAULT_FAMILY",
    "evidence_of_failed",
    "flag_optional_stopping",
    "mark_partial",
    "plan_evidence",
    "settle_partial",
    "unknown_references",
]

#: The family of decided hypotheses no ini ``grd_families`` entry names.
DEFAULT_FAMILY = "session"


def plan_evidence(
    records: Sequence[CaseRecord], families: Mapping[str, Sequence[str]] | None = None
) -> None:
    """Before deselection, write into each case's record how many cases its
    hypothesis has and which multiple-comparison family it is decided in.

    A decided hypothesis listed under a name in ``families`` (ini
    ``grd_families``) belongs to that family, whose size is the number of
    ids listed; every other decided hypothesis belongs to the default family:
    all decided hypotheses collected here."""
    counts: dict[str, int] = {}
    for record in records:
        counts[record.hypothesis] = counts.get(record.hypothesis, 0) + 1
    named = {hid: name for name, ids in (families or {}).items() for hid in ids}
    decided = {r.hypothesis for r in records if r.decide}
    default_size = len(decided - set(named))
    for record in records:
        record.hypothesis_cases = counts[record.hypothesis]
        if not record.decide:
            continue
        name = named.get(record.hypothesis)
        record.family = name or DEFAULT_FAMILY
        record.family_size = len((families or {})[name]) if name else default_size


def evidence_of_failed(records: Sequence[CaseRecord], failed: Mapping[str, object]) -> list[str]:
    """The node ids of every case a failed decision needs to be made again
    (``--lf``): its own cases and those of the hypotheses it compares with.
    ``failed`` holds pytest's last-failed node ids (strings, or pytest 9's
    ``NodeId`` objects); a decision's is ``<file>::<hypothesis id>``."""
    failed_ids = {str(key) for key in failed}
    by_hypothesis: dict[str, list[CaseRecord]] = {}
    for record in records:
        by_hypothesis.setdefault(record.hypothesis, []).append(record)
    wanted = [
        hid
        for hid, cases in by_hypothesis.items()
        if f"{cases[0].nodeid.split('::', 1)[0]}::{hid}" in failed_ids
    ]
    needed: set[str] = set()
    while wanted:
        hid = wanted.pop()
        if hid in needed or hid not in by_hypothesis:
            continue
        needed.add(hid)
        than = (by_hypothesis[hid][0].decide or {}).get("than")
        if isinstance(than, str):
            wanted.append(than)
    return [r.nodeid for hid in sorted(needed) for r in by_hypothesis[hid]]


def unknown_references(records: Sequence[CaseRecord]) -> list[str]:
    """One line per decision rule whose ``than=`` names a hypothesis that no
    collected test declares (a typo is an error at start, not a reason)."""
    known = {r.hypothesis for r in records}
    problems: dict[str, str] = {}
    for record in records:
        than = (record.decide or {}).get("than")
        if isinstance(than, str) and than not in known and record.hypothesis not in problems:
            near = sorted(h for h in known if h != record.hypothesis)
            problems[record.hypothesis] = (
                f"{record.location}: {record.hypothesis}'s decide= compares with "
                f"{than!r} (than=), which no collected test declares; "
                f"known: {', '.join(near) or 'none'}"
            )
    return list(problems.values())


def mark_partial(results: Iterable[HypothesisResult], stopped: str | None = None) -> None:
    """Set ``result.partial`` on every hypothesis with fewer cases than were
    collected; ``stopped`` says why the session ended early (``"interrupted"``,
    ``"stopped after 1 failure(s)"``), if it did."""
    for result in results:
        ran, collected = len(result.cases), result.collected
        if ran >= collected:
            continue
        why = stopped or "partial (cases deselected or not run)"
        result.partial = f"{why}: {ran} of {collected} cases ran"


def flag_optional_stopping(
    results: Iterable[HypothesisResult], recorded: Mapping[str, Mapping[str, object]]
) -> None:
    """Flag a fixed-n decided hypothesis that runs more seeds than the
    baseline recorded after an INCONCLUSIVE result (``recorded``: the baseline
    section's hypotheses): peeking and continuing voids a fixed-n p-value."""
    for result in results:
        entry = recorded.get(result.id)
        if not result.decided or entry is None or entry.get("verdict") != "INCONCLUSIVE":
            continue
        if any(c.sequential for c in result.cases):
            continue
        before = len(entry.get("cases") or {})  # type: ignore[arg-type]
        now = len(result.cases)
        if now <= before:
            continue
        note = (
            f"optional stopping: seeds raised from {before} to {now} after an INCONCLUSIVE "
            "result, so the fixed-n p-value no longer holds; decide with seeds='auto' "
            "(an anytime-valid decision) instead"
        )
        result.stats = {**(result.stats or {}), "optional_stopping": note}
        result.reason = f"{result.reason} [{note}]"


def settle_partial(results: Iterable[HypothesisResult]) -> None:
    """Make every partial verdict safe (see the module docstring)."""
    for result in results:
        if not result.partial:
            continue
        if result.decided or result.verdict is not Verdict.REJECTED:
            result.verdict = Verdict.INCONCLUSIVE
            result.reason = f"INCONCLUSIVE: {result.partial}" + (
                f"; on those: {result.reason}" if result.reason and not result.decided else ""
            )
        else:
            result.reason = f"{result.reason} ({result.partial})"
