"""Verdict words and the rules that turn a case's outcome into one.

Pure logic: no pytest import.  The pytest layer describes what happened to a
case as an :class:`Outcome`; :func:`decide_case` maps it to a verdict and
:func:`roll_up` combines the verdicts of a hypothesis's cases.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Verdict", "Outcome", "CaseVerdict", "decide_case", "roll_up", "LETTERS"]


class Verdict(enum.StrEnum):
    """The three words a case or a hypothesis can end with."""

    VALIDATED = "VALIDATED"
    REJECTED = "REJECTED"
    INCONCLUSIVE = "INCONCLUSIVE"

    def __str__(self) -> str:
        return self.value


LETTERS = {Verdict.VALIDATED: "V", Verdict.REJECTED: "R", Verdict.INCONCLUSIVE: "I"}


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


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.strip().split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def decide_case(outcome: Outcome) -> CaseVerdict:
    """Map a case's outcome to its verdict.

    A verdict is VALIDATED only when the test body ran to the end with nothing
    forcing doubt; an assertion (or :func:`pytest_grd.reject`) gives REJECTED;
    everything else that went wrong gives INCONCLUSIVE with a reason.
    """
    msg = _one_line(outcome.message)
    if outcome.status == "skipped":
        if outcome.wasxfail:
            return CaseVerdict(Verdict.INCONCLUSIVE, f"xfail: {msg}" if msg else "xfail", False)
        return CaseVerdict(Verdict.INCONCLUSIVE, f"skipped: {msg}" if msg else "skipped", False)
    if outcome.inconclusive_reason is not None:
        return CaseVerdict(Verdict.INCONCLUSIVE, _one_line(outcome.inconclusive_reason), True)
    if outcome.phase == "setup" and outcome.status == "failed":
        what = f"{outcome.exc_type}: {msg}" if outcome.exc_type else msg
        return CaseVerdict(Verdict.INCONCLUSIVE, _one_line(f"setup error: {what}"), True)
    if outcome.status == "failed":
        if outcome.is_assertion:
            reason = msg or "assertion failed"
            if outcome.forced_reason:
                # The claim failed on data we could not trust: no decisive verdict.
                return CaseVerdict(Verdict.INCONCLUSIVE, _one_line(outcome.forced_reason), True)
            return CaseVerdict(Verdict.REJECTED, reason, True)
        what = f"{outcome.exc_type}: {msg}" if outcome.exc_type else msg
        return CaseVerdict(Verdict.INCONCLUSIVE, _one_line(f"error: {what}"), True)
    if outcome.forced_reason:
        return CaseVerdict(Verdict.INCONCLUSIVE, _one_line(outcome.forced_reason), True)
    if outcome.wasxfail:
        return CaseVerdict(Verdict.VALIDATED, "xpass", False)
    return CaseVerdict(Verdict.VALIDATED, "", False)


def roll_up(verdicts: Iterable[Verdict | str]) -> Verdict:
    """Combine case verdicts: all VALIDATED gives VALIDATED, any REJECTED gives
    REJECTED, anything else (including no cases at all) INCONCLUSIVE."""
    seen = [Verdict(v) for v in verdicts]
    if not seen:
        return Verdict.INCONCLUSIVE
    if any(v is Verdict.REJECTED for v in seen):
        return Verdict.REJECTED
    if all(v is Verdict.VALIDATED for v in seen):
        return Verdict.VALIDATED
    return Verdict.INCONCLUSIVE
