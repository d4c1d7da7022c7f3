"""Unit tests of the verdict rules (no pytest session)."""

from __future__ import annotations

import pytest

from pytest_grd.verdict import Outcome, Verdict, decide_case, roll_up


@pytest.mark.parametrize(
    ("outcome", "verdict", "is_error"),
    [
        (Outcome("call", "passed"), Verdict.VALIDATED, False),
        (Outcome("call", "failed", "x", "AssertionError", True), Verdict.REJECTED, True),
        (Outcome("call", "failed", "boom", "ValueError"), Verdict.INCONCLUSIVE, True),
        (Outcome("setup", "failed", "no db", "OSError"), Verdict.INCONCLUSIVE, True),
        (Outcome("setup", "skipped", "later"), Verdict.INCONCLUSIVE, False),
        (
            Outcome("call", "failed", "", "Inconclusive", inconclusive_reason="n too small"),
            Verdict.INCONCLUSIVE,
            True,
        ),
        (Outcome("call", "passed", forced_reason="data invalid: x"), Verdict.INCONCLUSIVE, True),
        (
            Outcome("call", "failed", "a", "AssertionError", True, forced_reason="data invalid"),
            Verdict.INCONCLUSIVE,
            True,
        ),
    ],
)
def test_decide_case(outcome: Outcome, verdict: Verdict, is_error: bool) -> None:
    decided = decide_case(outcome)
    assert decided.verdict is verdict
    assert decided.is_error is is_error
    if verdict is not Verdict.VALIDATED:
        assert decided.reason


def test_reasons_name_the_cause() -> None:
    assert decide_case(Outcome("call", "failed", "boom", "ValueError")).reason == (
        "error: ValueError: boom"
    )
    assert decide_case(Outcome("setup", "skipped", "no gpu")).reason == "skipped: no gpu"
    assert "\n" not in decide_case(Outcome("call", "failed", "a\nb", "KeyError")).reason


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        (["VALIDATED", "VALIDATED"], Verdict.VALIDATED),
        (["VALIDATED", "REJECTED", "INCONCLUSIVE"], Verdict.REJECTED),
        (["VALIDATED", "INCONCLUSIVE"], Verdict.INCONCLUSIVE),
        ([], Verdict.INCONCLUSIVE),
    ],
)
def test_roll_up(verdicts: list[str], expected: Verdict) -> None:
    assert roll_up(verdicts) is expected
