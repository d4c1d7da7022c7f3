"""Unit tests of :class:`CaseRecord` serialization (no pytest session).

``CaseRecord.to_dict`` is written field by field for speed; it must give
exactly what ``dataclasses.asdict`` gave: the same keys in the same order, the
same values of the same types (tuples stay tuples), the same JSON bytes.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import OrderedDict, namedtuple
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_grd.record import CaseRecord
from pytest_grd.verdict import Verdict

Point = namedtuple("Point", "x y")


@dataclasses.dataclass
class Nested:
    name: str
    values: list[float]


def _reference(record: CaseRecord) -> dict[str, Any]:
    """What ``to_dict`` returned when it was ``dataclasses.asdict``."""
    data = dataclasses.asdict(record)
    data["verdict"] = record.verdict.value
    return data


def _same(a: Any, b: Any) -> bool:
    """Equal values of identical types all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) if not hasattr(a, "shape") else repr(a) == repr(b)


def _assert_like_asdict(record: CaseRecord) -> None:
    expected, got = _reference(record), record.to_dict()
    assert _same(got, expected)
    for sort_keys in (False, True):
        assert json.dumps(got, sort_keys=sort_keys, default=repr) == json.dumps(
            expected, sort_keys=sort_keys, default=repr
        )


def _rich_record() -> CaseRecord:
    return CaseRecord(
        hypothesis="hyp_001",
        nodeid="test_x.py::test_x[0.1-seed3]",
        name="hyp_001[lr=0.1,seed=3]",
        claim="lower loss",
        params={"lr": 0.1, "layers": [1, (2, 3)], "opt": {"name": "adam", "betas": (0.9, 0.99)}},
        seed=3,
        verdict=Verdict.REJECTED,
        reason="loss 0.3 > 0.2",
        outcome="failed",
        is_error=True,
        metrics={"loss": 0.3, "nan": math.nan, "inf": math.inf, "-inf": -math.inf},
        started_at=1.5,
        duration=0.25,
        worker="gw1",
        run_id="abc",
        lineage=[
            {"target": "train", "path": "data/train.csv", "size": 12, "schema": None},
            {"target": "test", "validation": {"errors": [], "ok": True}},
        ],
        stats={"p_value": 0.01, "ci": (0.1, 0.2), "n": [10, 10], "nested": {"a": [math.nan]}},
        decide={"metric": "loss", "than": "hyp_000", "alpha": 0.05},
        baseline={"loss": {"value": 0.2, "tolerance": 0.01}},
        artifacts=["model.pt"],
        hypothesis_cases=8,
        family="session",
        family_size=2,
        extra={
            "gpu": {"index": 0, "uuid": "GPU-1"},
            "history": {"loss": [(0, 1.0), (1, 0.5), (2, math.nan)]},
            "point": Point(1, 2),
            "ordered": OrderedDict(b=1, a=2),
            "nested": Nested("n", [1.0, math.inf]),
            "empty": ((), [], {}),
        },
    )


def test_empty_record_as_asdict() -> None:
    _assert_like_asdict(CaseRecord(hypothesis="h", nodeid="t.py::t", name="h"))


def test_rich_record_as_asdict() -> None:
    _assert_like_asdict(_rich_record())


def test_keys_json_cannot_hold_as_asdict() -> None:
    record = _rich_record()
    record.extra["keys"] = {1: "int", (1, 2): "tuple", None: "none"}
    assert _same(record.to_dict(), _reference(record))


def test_numpy_values_as_asdict() -> None:
    np = pytest.importorskip("numpy")
    record = _rich_record()
    record.metrics["np"] = np.float64(0.5)
    record.extra["np"] = {"i": np.int64(3), "f": np.float32(math.nan), "a": np.arange(3)}
    _assert_like_asdict(record)


def test_containers_are_copied() -> None:
    """The record goes on changing after its dict went on a report."""
    record = _rich_record()
    data = record.to_dict()
    record.params["opt"]["name"] = "sgd"
    record.lineage[0]["size"] = 99
    record.extra["history"]["loss"].append((3, 0.1))
    record.artifacts.append("more.pt")
    assert data["params"]["opt"]["name"] == "adam"
    assert data["lineage"][0]["size"] == 12
    assert len(data["extra"]["history"]["loss"]) == 3
    assert data["artifacts"] == ["model.pt"]


def test_round_trip() -> None:
    record = _rich_record()
    again = CaseRecord.from_dict(json.loads(json.dumps(record.to_dict(), default=repr)))
    assert again.verdict is Verdict.REJECTED
    assert again.params["opt"]["name"] == "adam"
    unknown = CaseRecord.from_dict({**record.to_dict(), "from_the_future": 1})
    assert unknown.extra["from_the_future"] == 1


_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5)
)
_values = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    params=st.dictionaries(st.text(max_size=4), _values, max_size=4),
    metrics=st.dictionaries(st.text(max_size=4), st.floats(), max_size=4),
    extra=st.dictionaries(st.text(max_size=4), _values, max_size=4),
    lineage=st.lists(st.dictionaries(st.text(max_size=4), _values, max_size=3), max_size=3),
    stats=st.none() | st.dictionaries(st.text(max_size=4), _values, max_size=3),
)
def test_any_json_data_as_asdict(
    params: dict[str, Any],
    metrics: dict[str, float],
    extra: dict[str, Any],
    lineage: list[dict[str, Any]],
    stats: dict[str, Any] | None,
) -> None:
    record = CaseRecord(
        hypothesis="h",
        nodeid="t.py::t",
        name="h",
        params=params,
        metrics=metrics,
        extra=extra,
        lineage=lineage,
        stats=stats,
    )
    _assert_like_asdict(record)
