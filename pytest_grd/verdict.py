"""Verdict words and the rules that turn a case's outcome into one.

Pure logic: no pytest import.  The pytest layer describes what happened to a
case as an :class:`Outcome`; :func:`decide_case` maps it to a verdict and
:func:`roll_up` combines the verdicts of a hypothesis's cases.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from .text import one_line

__all__ = ["Verdict", "Outcome", "CaseVerdict", "as_evidence", "decide_case", "roll_up", "LETTERS"]


class Verdict(enum.StrEnum):
    """The words a case or a hypothesis can end with.

    A claim ends VALIDATED, REJECTED or INCONCLUSIVE.  MEASURED is a case's
    word only, for a case of a hypothesis decided across cases (``decide=``):
    its measurement ran, and it is evidence for the decision, not a claim.
    """

    VALIDATED = "VALIDATED"
    REJECTED = "REJECTED"
    INCONCLUSIVE = "INCONCLUSIVE"
    MEASURED = "MEASURED"

    def __str__(self) -> str:
        return self.value


LETTERS = {
    Verdict.VALIDATED: "V",
    Verdict.REJECTED: "R",
    Verdict.INCONCLUSIVE: "I",
    Verdict.MEASURED: "m",
}


@dataclass(frozen=True)
class Outcome:
    """What happened to a case, in words the verdict rules understand.

    ``phase`` is the pytest phase that decided the outcome (``setup`` or
    ``call``), ``status`` one of ``passed``, ``failed``, ``skipped``,
    ``exc_type`` the name of the exception class (if any), ``is_assertion``
    whether it is an :class:`AssertionError`, ``inconclusive_reason`` set when
    the test raised :class:`pytest_grd.Inconclusive` (or a subclass),
    ``forced_reason`` set when something observed during the case (invalid
    data, a failed flush) must prevent a decisive verdict.
    """

    phase: str
    status: str
    message: str = ""
    exc_type: str | None = None
    is_assertion: bool = False
    inconclusive_reason: str | None = None
    forced_reason: str | None = None
    wasxfail: bool = False


@dataclass(frozen=True)
class CaseVerdict:
    """A verdict with its one-line reason and whether pytest counts it failed."""

    verdict: Verdict
    reason: str
    is_error: bool


def decide_case(outcome: Outcome) -> CaseVerdict:
    """Map a case's outcome to its verdict.

    A verdict is VALIDATED only when the test body ran to the end with nothing
    forcing doubt; an assertion (or :func:`pytest_grd.reject`) gives REJECTED;
    everything else that went wrong gives INCONCLUSIVE with a reason.
    """
    msg = one_line(outcome.message)
    if outcome.status == "skipped":
        if outcome.wasxfail:
            return CaseVerdict(Verdict.INCONCLUSIVE, f"xfail: {msg}" if msg else "xfail", False)
        return CaseVerdict(Verdict.INCONCLUSIVE, f"skipped: {msg}" if msg else "skipped", False)
    if outcome.inconclusive_reason is not None:
        return CaseVerdict(Verdict.INCONCLUSIVE, one_line(outcome.inconclusive_reason), True)
    if outcome.phase == "setup" and outcome.status == "failed":
        what = f"{outcome.exc_type}: {msg}" if outcome.exc_type else msg
        return CaseVerdict(Verdict.INCONCLUSIVE, one_line(f"setup error: {what}"), True)
    if outcome.status == "failed":
        if outcome.is_assertion:
            reason = msg or "assertion failed"
            if outcome.forced_reason:
                # The claim failed on data we could not trust: no decisive verdict.
                return CaseVerdict(Verdict.INCONCLUSIVE, one_line(outcome.forced_reason), True)
            return CaseVerdict(Verdict.REJECTED, reason, True)
        what = f"{outcome.exc_type}: {msg}" if outcome.exc_type else msg
        return CaseVerdict(Verdict.INCONCLUSIVE, one_line(f"error: {what}"), True)
    if outcome.forced_reason:
        return CaseVerdict(Verdict.INCONCLUSIVE, one_line(outcome.forced_reason), True)
    if outcome.wasxfail:
        return CaseVerdict(Verdict.VALIDATED, "xpass", False)
    return CaseVerdict(Verdict.VALIDATED, "", False)


def as_evidence(decided: CaseVerdict) -> CaseVerdict:
    """A case of a hypothesis decided across cases: a body that ran to its end
    MEASURED (not VALIDATED: only the decision validates); anything else as
    decided (an error stays INCONCLUSIVE, an assertion REJECTED)."""
    if decided.verdict is Verdict.VALIDATED:
        return CaseVerdict(Verdict.MEASURED, decided.reason, False)
    return decided


def roll_up(verdicts: Iterable[Verdict | str]) -> Verdict:
    """Combine case verdicts: all VALIDATED gives VALIDATED, any REJECTED gives
    REJECTED, anything else (including no cases at all, or evidence that was
    only MEASURED) INCONCLUSIVE."""
    seen = [Verdict(v) for v in verdicts]
    if not seen:
        return Verdict.INCONCLUSIVE
    if any(v is Verdict.REJECTED for v in seen):
        return Verdict.REJECTED
    if all(v is Verdict.VALIDATED for v in seen):
        return Verdict.VALIDATED
    return Verdict.INCONCLUSIVE
