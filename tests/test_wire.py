"""Records cross from a worker to its controller compact and arrive whole:
equal value for value and type for type, whatever changed in between."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from pytest_grd.record import CaseRecord
from pytest_grd.verdict import Verdict
from pytest_grd.wire import BASE, RecordWire, with_defaults, without_defaults


def _partial() -> CaseRecord:
    return CaseRecord(
        hypothesis="hyp_lr",
        nodeid="test_x.py::test_lr[0.1]",
        name="hyp_lr[lr=0.1]",
        claim="small steps converge",
        params={"lr": 0.1, "layers": [1, 2], "flag": True},
        session_id="abc",
        worker="gw0",
        location="test_x.py:3",
        hypothesis_cases=3,
        device="cpu",
        started_at=1.5,
    )


def _travel(wire_out: RecordWire, wire_in: RecordWire, data: dict[str, Any]) -> dict[str, Any]:
    """What execnet does between the two: a copy of builtin values."""
    wire_out.pack(data)
    sent = json.loads(json.dumps(data))  # no object crosses as itself
    wire_in.unpack(sent)
    return sent


def _report(**attrs: Any) -> dict[str, Any]:
    return {"nodeid": "test_x.py::test_lr[0.1]", "when": "call", **attrs}


def _typed(value: Any) -> Any:
    """A value with every leaf's type spelled out (1 and 1.0 and True differ)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, repr(value))


def test_the_partial_and_the_record_arrive_whole() -> None:
    worker, controller = RecordWire(), RecordWire()
    record = _partial()
    partial = record.to_dict()
    got = _travel(worker, controller, _report(when="setup", grd_case=copy.deepcopy(partial)))
    assert _typed(got["grd_case"]) == _typed(partial)
    record.verdict = Verdict.REJECTED
    record.reason = "loss 0.2 too high"
    record.outcome = "failed"
    record.metrics = {"loss": 0.2, "steps": 10, "bad": math.inf}
    record.params["lr"] = 1  # an int now, equal to nothing sent before
    record.duration = 0.25
    whole = record.to_dict()
    data = _report(grd_record=copy.deepcopy(whole))
    worker.pack(data)
    packed = data["grd_record"]
    # Only what changed since the partial crossed.
    assert packed.pop(BASE) == "grd_case"
    assert set(packed) == {"verdict", "reason", "outcome", "metrics", "params", "duration"}
    packed[BASE] = "grd_case"
    controller_view = _report(grd_record=json.loads(json.dumps(packed)))
    controller.unpack(controller_view)
    assert _typed(controller_view["grd_record"]) == _typed(whole)
    assert CaseRecord.from_dict(controller_view["grd_record"]).verdict is Verdict.REJECTED


def test_a_value_equal_but_of_another_type_is_sent() -> None:
    worker, controller = RecordWire(), RecordWire()
    record = _partial()
    record.params = {"k": 1}
    _travel(worker, controller, _report(when="setup", grd_case=record.to_dict()))
    record.params = {"k": 1.0}
    record.is_error = False
    record.hypothesis_cases = 3
    got = _travel(worker, controller, _report(grd_record=record.to_dict()))
    assert type(got["grd_record"]["params"]["k"]) is float


def test_a_record_with_no_partial_before_it_and_a_second_one_for_teardown() -> None:
    """A failed setup sends no partial; a failed teardown sends the record again."""
    worker, controller = RecordWire(), RecordWire()
    record = _partial()
    record.verdict = Verdict.INCONCLUSIVE
    record.reason = "setup error: boom"
    record.metrics = {"nan": math.nan}
    got = _travel(worker, controller, _report(when="setup", grd_record=record.to_dict()))
    assert got["grd_record"]["reason"] == "setup error: boom"
    assert math.isnan(got["grd_record"]["metrics"]["nan"])
    assert _typed({**got["grd_record"], "metrics": {}}) == _typed(
        {**record.to_dict(), "metrics": {}}
    )
    record.extra["teardown_error"] = True
    again = _travel(worker, controller, _report(when="teardown", grd_record=record.to_dict()))
    assert again["grd_record"]["extra"] == {"teardown_error": True}
    assert again["grd_record"]["hypothesis"] == "hyp_lr"


def test_defaults_are_left_out_and_put_back_as_new_containers() -> None:
    whole = CaseRecord(hypothesis="h", nodeid="n", name="h").to_dict()
    sparse = without_defaults(whole)
    assert set(sparse) == {"hypothesis", "nodeid", "name"}
    first, second = with_defaults(sparse), with_defaults(sparse)
    assert first == whole
    first["params"]["x"] = 1
    assert second["params"] == {}  # never one dict shared by two records


def test_reports_without_records_and_unpacked_dicts_pass_unchanged() -> None:
    controller = RecordWire()
    plain = {"nodeid": "t.py::test", "when": "call", "outcome": "passed"}
    controller.unpack(dict(plain))
    whole = _partial().to_dict()
    data = _report(when="setup", grd_case=dict(whole))
    controller.unpack(data)  # a worker that sent it whole (an older version)
    assert data["grd_case"] == whole
