"""Unit tests of marker parsing (no pytest session)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_grd.marker import MarkerError, is_experiment_marker, parse_marker
from pytest_grd.record import CaseRecord, case_name


def test_positional_and_keyword_id() -> None:
    assert parse_marker(("hyp_001",), {"claim": "c"}).id == "hyp_001"
    spec = parse_marker((), {"id": "h.2-x", "claim": "c", "seeds": 3})
    assert (spec.id, spec.claim, spec.seeds) == ("h.2-x", "c", 3)


@pytest.mark.parametrize(
    ("args", "kwargs", "fragment"),
    [
        ((), {"claim": "c"}, "needs an id"),
        ((12,), {}, "must be a string"),
        (("has space",), {}, "is not valid"),
        (("1abc",), {}, "is not valid"),
        (("h",), {"claim": 3}, "claim= must be a string"),
        (("h",), {"seeds": 0}, "seeds="),
        (("h",), {"clam": "typo"}, "unknown argument"),
        (("h", "claim"), {}, "one positional"),
        (("h",), {"baseline": {"auc": "up"}}, "direction"),
        (("h",), {"decide": "auc > 3"}, "decision rule"),
    ],
)
def test_bad_markers(args: tuple[Any, ...], kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(MarkerError, match=fragment):
        parse_marker(args, kwargs)


def test_bare_marker_is_not_an_experiment() -> None:
    assert not is_experiment_marker((), {})
    assert is_experiment_marker(("h",), {})


def test_case_name_and_record_round_trip() -> None:
    assert case_name("hyp_001", {"lr": 0.01}, 3) == "hyp_001[lr=0.01,seed=3]"
    assert case_name("h", {}) == "h"
    rec = CaseRecord(hypothesis="h", nodeid="t.py::f", name="h", params={"a": 1})
    data = rec.to_dict()
    data["future_field"] = 1
    back = CaseRecord.from_dict(data)
    assert back.params == {"a": 1}
    assert back.extra == {"future_field": 1}
