"""Baselines, pure logic: building, loading, merging and comparing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_grd.baseline import (
    BaselineError,
    Collection,
    build_baseline,
    compare,
    default_direction,
    default_tolerance,
    dump_baseline,
    load_baseline,
    merge_baseline,
    metric_rules,
)
from pytest_grd.record import CaseRecord, HypothesisResult, group_by_hypothesis


def _case(
    hid: str,
    lr: float,
    verdict: str = "VALIDATED",
    acc: float = 0.9,
    baseline: dict[str, dict[str, object]] | None = None,
) -> CaseRecord:
    return CaseRecord(
        hypothesis=hid,
        nodeid=f"exp/test_{hid}.py::test[{lr}]",
        name=f"{hid}[lr={lr}]",
        params={"lr": lr},
        verdict=verdict,
        metrics={"acc": acc, "loss": 1 - acc},
        baseline=baseline or {},
    )


def _results(*cases: CaseRecord) -> list[HypothesisResult]:
    return group_by_hypothesis(cases)


def _saved(*cases: CaseRecord) -> dict[str, object]:
    return merge_baseline(None, build_baseline(_results(*cases), "smoke"))


def _collection(*cases: CaseRecord) -> Collection:
    coll = Collection(roots=["exp"])
    for c in cases:
        coll.collected.setdefault(c.hypothesis, []).append(c.name)
        coll.selected.add(c.name)
    return coll


def test_default_rules_and_declared_rules() -> None:
    assert default_direction("val_loss") == "lower"
    assert default_direction("rmse") == "lower"
    assert default_direction("auc") == "higher"
    rules = metric_rules(_case("h", 0.1, acc=0.8))
    assert rules["acc"] == {"value": 0.8, "direction": "higher", "tolerance": 0.005}
    assert rules["loss"]["direction"] == "lower"
    declared = metric_rules(
        _case("h", 0.1, baseline={"acc": {"direction": "equal", "tolerance": 0.001}})
    )
    assert declared == {"acc": {"value": 0.9, "direction": "equal", "tolerance": 0.001}}


def test_unchanged_run_has_no_discrepancy() -> None:
    cases = [_case("h1", 0.1), _case("h1", 0.01), _case("h2", 0.1, "REJECTED")]
    cmp = compare(_saved(*cases), _results(*cases), "smoke", _collection(*cases))
    assert cmp.ok, cmp.discrepancies
    assert (cmp.compared_hypotheses, cmp.compared_cases) == (2, 3)
    assert cmp.reference["h1"]["h1[lr=0.1]"]["acc"] == 0.9


def test_rejected_recorded_as_rejected_is_no_change_but_flips_are() -> None:
    before = [_case("h1", 0.1, "REJECTED"), _case("h2", 0.1, "REJECTED")]
    after = [_case("h1", 0.1, "REJECTED"), _case("h2", 0.1, "VALIDATED")]
    cmp = compare(_saved(*before), _results(*after), "smoke", _collection(*after))
    kinds = [(d.kind, d.hypothesis, d.case) for d in cmp.discrepancies]
    assert kinds == [("flipped", "h2", None), ("flipped", "h2", "h2[lr=0.1]")]
    assert cmp.discrepancies[0].message.startswith("verdict REJECTED -> VALIDATED")


def test_drift_only_in_the_bad_direction_beyond_tolerance() -> None:
    before = [_case("h", 0.1, acc=0.90)]
    better = [_case("h", 0.1, acc=0.99)]  # acc up, loss down: both good
    within = [_case("h", 0.1, acc=0.896)]
    worse = [_case("h", 0.1, acc=0.80)]
    saved = _saved(*before)
    assert compare(saved, _results(*better), "smoke", _collection(*better)).ok
    drifted = compare(saved, _results(*worse), "smoke", _collection(*worse)).discrepancies
    assert {d.metric for d in drifted} == {"acc", "loss"}
    acc = next(d for d in drifted if d.metric == "acc")
    assert acc.kind == "drifted"
    assert acc.message == ("metric acc 0.9 -> 0.8 (-0.1; higher is better, tolerance 0.005)")
    small = compare(saved, _results(*within), "smoke", _collection(*within)).discrepancies
    # acc dropped 0.004 and loss rose 0.004: within half a point.
    assert small == []


def test_declared_tolerance_wins_over_the_saved_one() -> None:
    before = [_case("h", 0.1, acc=0.90)]
    saved = _saved(*before)
    loose = [_case("h", 0.1, acc=0.80, baseline={"acc": {"direction": "higher", "tolerance": 0.2}})]
    # Only the declared metric is key now: loss (recorded, since nothing was
    # declared at save time) is no longer compared.
    assert compare(saved, _results(*loose), "smoke", _collection(*loose)).ok
    strict = [_case("h", 0.1, acc=0.89, baseline={"acc": {"direction": "higher", "tolerance": 0}})]
    drifted = compare(saved, _results(*strict), "smoke", _collection(*strict)).discrepancies
    assert [(d.metric, d.baseline, d.current) for d in drifted] == [("acc", 0.9, 0.89)]


def test_missing_hypothesis_and_case_versus_deselected() -> None:
    before = [_case("h1", 0.1), _case("h1", 0.01), _case("h2", 0.1), _case("h3", 0.1)]
    after = [_case("h1", 0.1)]
    coll = _collection(*after)
    # h3 was collected but deselected (-k); h2 is gone; h1's lr=0.01 case is gone.
    coll.collected["h3"] = ["h3[lr=0.1]"]
    cmp = compare(_saved(*before), _results(*after), "smoke", coll)
    assert [(d.kind, d.hypothesis, d.case) for d in cmp.discrepancies] == [
        ("missing", "h1", "h1[lr=0.01]"),
        ("missing", "h2", None),
    ]
    assert cmp.skipped == ["h3: deselected"]


def test_hypothesis_outside_the_collected_paths_is_not_missing() -> None:
    before = [_case("h1", 0.1), _case("h2", 0.1)]
    after = [_case("h1", 0.1)]
    coll = _collection(*after)
    coll.roots = ["exp/test_h1.py"]
    cmp = compare(_saved(*before), _results(*after), "smoke", coll)
    assert cmp.ok
    assert cmp.skipped == ["h2: not selected"]


def test_selected_but_not_run_and_unknown_collection() -> None:
    before = [_case("h1", 0.1), _case("h2", 0.1)]
    after = [_case("h1", 0.1)]
    coll = _collection(*before)  # h2 selected, yet no result (-x stopped the run)
    cmp = compare(_saved(*before), _results(*after), "smoke", coll)
    assert [(d.kind, d.hypothesis) for d in cmp.discrepancies] == [("not-run", "h2")]
    unknown = Collection(known=False)
    cmp = compare(_saved(*before), _results(*after), "smoke", unknown)
    assert [(d.kind, d.hypothesis) for d in cmp.discrepancies] == [("not-run", "h2")]


def test_new_hypotheses_are_listed_not_failed() -> None:
    before = [_case("h1", 0.1)]
    after = [_case("h1", 0.1), _case("h9", 0.1)]
    cmp = compare(_saved(*before), _results(*after), "smoke", _collection(*after))
    assert cmp.ok
    assert cmp.new == ["h9"]


def test_other_scale_is_not_compared() -> None:
    saved = _saved(_case("h", 0.1))
    with pytest.raises(BaselineError, match="no results at scale 'full' \\(it has: smoke\\)"):
        compare(saved, [], "full", Collection())


def test_merge_keeps_other_scales_and_hypotheses_and_drops_gone_ones() -> None:
    first = merge_baseline(None, build_baseline(_results(_case("h1", 0.1), _case("h2", 0.1)), "s"))
    first = merge_baseline(first, build_baseline(_results(_case("h1", 0.1)), "full"))
    coll = Collection(collected={"h1": ["h1[lr=0.1]"]}, roots=["exp/test_h1.py"])
    again = merge_baseline(first, build_baseline(_results(_case("h1", 0.1, acc=0.5)), "s"), coll)
    assert sorted(again["scales"]) == ["full", "s"]
    hyps = again["scales"]["s"]["hypotheses"]
    assert sorted(hyps) == ["h1", "h2"]  # h2 lies outside what was collected: kept
    assert hyps["h1"]["cases"]["h1[lr=0.1]"]["metrics"]["acc"]["value"] == 0.5
    coll.roots = ["exp"]
    gone = merge_baseline(first, build_baseline(_results(_case("h1", 0.1)), "s"), coll)
    assert sorted(gone["scales"]["s"]["hypotheses"]) == ["h1"]


def test_load_round_trip_and_malformed_files(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    data = _saved(_case("h", 0.1))
    path.write_text(dump_baseline(data))
    assert load_baseline(path) == json.loads(dump_baseline(data))
    with pytest.raises(BaselineError, match="does not exist; record one with --grd-save-baseline"):
        load_baseline(tmp_path / "nope.json")
    bad = {
        "{not json": "not JSON",
        "[]": "expected a JSON object",
        '{"format": "x"}': "'format' is not 'pytest-grd-baseline'",
        '{"format": "pytest-grd-baseline", "format_version": 99, "scales": {}}': "upgrade",
    }
    for text, message in bad.items():
        path.write_text(text)
        with pytest.raises(BaselineError, match=message):
            load_baseline(path)
    broken = json.loads(dump_baseline(data))
    broken["scales"]["smoke"]["hypotheses"]["h"]["cases"]["h[lr=0.1]"]["metrics"]["acc"][
        "direction"
    ] = "up"
    path.write_text(json.dumps(broken))
    with pytest.raises(BaselineError, match=r"metric 'acc' of case 'h\[lr=0.1\]'.*direction"):
        load_baseline(path)


# -- tolerances: the default, the ini's, the marker's -----------------------------------


def test_default_tolerance_is_half_a_point_within_one_and_one_percent_beyond() -> None:
    assert default_tolerance(0.912) == default_tolerance(-0.3) == default_tolerance(1.0) == 0.005
    assert default_tolerance(0.0) == 0.005
    assert default_tolerance(2.5) == pytest.approx(0.025)
    assert default_tolerance(-300.0) == pytest.approx(3.0)


def test_an_accuracy_drop_of_4_8_points_is_a_change() -> None:
    """The report: 5 % of 0.96 (0.048) let a drop from 0.96 to 0.912 pass."""
    saved = _saved(_case("h", 0.1, acc=0.96))
    after = [_case("h", 0.1, acc=0.912)]
    drifted = compare(saved, _results(*after), "smoke", _collection(*after)).discrepancies
    acc = next(d for d in drifted if d.metric == "acc")
    assert acc.message == "metric acc 0.96 -> 0.912 (-0.048; higher is better, tolerance 0.005)"
    # Exactly half a point is within (despite float rounding); more is not.
    edge = [_case("h", 0.1, acc=0.955)]
    assert compare(saved, _results(*edge), "smoke", _collection(*edge)).ok
    beyond = [_case("h", 0.1, acc=0.9549)]
    assert not compare(saved, _results(*beyond), "smoke", _collection(*beyond)).ok


def test_a_file_holding_the_old_five_percent_default_gets_the_new_default() -> None:
    """Baselines saved before the new default hold 5 % of each value: that
    number was a default, not a choice, so the new default applies; any other
    number in the file is a reviewer's edit and is kept."""
    saved = merge_baseline(None, build_baseline(_results(_case("h", 0.1, acc=0.96)), "smoke"))
    rules = saved["scales"]["smoke"]["hypotheses"]["h"]["cases"]["h[lr=0.1]"]["metrics"]
    rules["acc"]["tolerance"] = 0.96 * 0.05  # what pytest-grd 0.2 wrote
    rules["loss"]["tolerance"] = 0.1  # an edit: loss may rise 0.1
    after = [_case("h", 0.1, acc=0.912)]  # loss 0.04 -> 0.088
    drifted = compare(saved, _results(*after), "smoke", _collection(*after)).discrepancies
    assert [(d.metric, d.message.rsplit(", ", 1)[1]) for d in drifted] == [
        ("acc", "tolerance 0.005)")
    ]


def test_ini_tolerances_are_saved_and_win_over_the_file_and_the_default() -> None:
    ini = {"acc": (0.05, False), "loss": (0.5, True)}  # acc = 0.05, loss = 50%
    section = build_baseline(_results(_case("h", 0.1, acc=0.9)), "smoke", tolerances=ini)
    rules = section["hypotheses"]["h"]["cases"]["h[lr=0.1]"]["metrics"]
    assert rules["acc"]["tolerance"] == 0.05
    assert rules["loss"]["tolerance"] == pytest.approx(0.05)  # 50 % of 0.1
    saved = _saved(_case("h", 0.1, acc=0.9))  # saved with the defaults
    after = [_case("h", 0.1, acc=0.86)]  # acc -0.04, loss +0.04
    assert not compare(saved, _results(*after), "smoke", _collection(*after)).ok
    assert compare(saved, _results(*after), "smoke", _collection(*after), tolerances=ini).ok
    relative = {"acc": (0.02, True), "loss": (1.0, True)}  # acc: 2 % of 0.9 = 0.018
    drifted = compare(
        saved, _results(*after), "smoke", _collection(*after), tolerances=relative
    ).discrepancies
    assert [(d.metric, d.message.rsplit(", ", 1)[1]) for d in drifted] == [
        ("acc", "tolerance 0.018)")
    ]


def test_the_marker_tolerance_wins_over_the_ini() -> None:
    saved = _saved(_case("h", 0.1, acc=0.9))
    declared = {"acc": {"direction": "higher", "tolerance": 0.001}}
    after = [_case("h", 0.1, acc=0.89, baseline=declared)]
    loose = {"acc": (0.5, False)}
    drifted = compare(
        saved, _results(*after), "smoke", _collection(*after), tolerances=loose
    ).discrepancies
    assert [(d.metric, d.message.rsplit(", ", 1)[1]) for d in drifted] == [
        ("acc", "tolerance 0.001)")
    ]
    # A marker naming the metric without a tolerance leaves it to the ini.
    named = [_case("h", 0.1, acc=0.89, baseline={"acc": {"direction": "higher"}})]
    assert compare(saved, _results(*named), "smoke", _collection(*named), tolerances=loose).ok
    rules = metric_rules(named[0], loose)
    assert rules["acc"]["tolerance"] == 0.5


# -- the numbers behind a decision ------------------------------------------------------

WELCH = {
    "test": "welch",
    "n": [5, 5],
    "estimate": 0.021,
    "ci": [0.012, float("inf")],
    "p_value": 0.004,
    "p_adjusted": 0.012,
    "reason": "validated",
}
SEQUENTIAL = {
    "test": "sequential",
    "estimate": 0.03,
    "lower": 0.011,
    "upper": 0.049,
    "ci": [0.011, 0.049],
    "seeds_used": 6,
    "sequential": True,
}


def _decided(hid: str, stats: dict[str, object], verdict: str = "VALIDATED") -> HypothesisResult:
    cases = [_case(hid, 0.1, "MEASURED")]
    return HypothesisResult(hid, "c", verdict, "decided", cases, stats=stats)


def test_decision_stats_are_kept_and_round_trip(tmp_path: Path) -> None:
    section = build_baseline([_decided("h1", WELCH), _decided("h2", SEQUENTIAL)], "smoke")
    hyps = section["hypotheses"]
    assert hyps["h1"]["stats"] == {
        "estimate": 0.021,
        "ci": [0.012, None],  # strict JSON: no Infinity
        "p_value": 0.004,
        "p_adjusted": 0.012,
    }
    assert hyps["h2"]["stats"] == {
        "estimate": 0.03,
        "ci": [0.011, 0.049],
        "seeds_used": 6,
        "lower": 0.011,
        "upper": 0.049,
    }
    path = tmp_path / "b.json"
    path.write_text(dump_baseline(merge_baseline(None, section)))
    assert (
        load_baseline(path)["scales"]["smoke"]["hypotheses"]["h1"]["stats"] == (hyps["h1"]["stats"])
    )
    # A hypothesis without a decision has no stats; a file without any loads.
    plain = build_baseline(_results(_case("h3", 0.1)), "smoke")
    assert "stats" not in plain["hypotheses"]["h3"]
    path.write_text(dump_baseline(merge_baseline(None, plain)))
    load_baseline(path)


def test_malformed_decision_stats_are_refused(tmp_path: Path) -> None:
    data = merge_baseline(None, build_baseline([_decided("h1", WELCH)], "smoke"))
    data["scales"]["smoke"]["hypotheses"]["h1"]["stats"]["p_value"] = "small"
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data))
    with pytest.raises(BaselineError, match=r"hypothesis 'h1'.*stats p_value must be a number"):
        load_baseline(path)


def test_moved_decisions_are_noted_not_changes() -> None:
    saved = merge_baseline(None, build_baseline([_decided("h1", WELCH)], "smoke"))
    coll = Collection(collected={"h1": ["h1[lr=0.1]"]}, selected={"h1[lr=0.1]"}, roots=["exp"])
    same = compare(saved, [_decided("h1", {**WELCH, "p_adjusted": 0.02})], "smoke", coll)
    assert same.ok and same.notes == []
    moved = {**WELCH, "p_adjusted": 0.0009, "estimate": 0.005}
    cmp = compare(saved, [_decided("h1", moved)], "smoke", coll)
    assert cmp.ok
    assert cmp.notes == [
        "h1: p (adjusted) moved 0.012 -> 0.0009",
        "h1: effect 0.021 -> 0.005, outside the recorded interval [0.012, inf]",
    ]
    tiny = merge_baseline(
        None, build_baseline([_decided("h1", {**WELCH, "p_adjusted": 1e-9})], "smoke")
    )
    assert compare(tiny, [_decided("h1", {**WELCH, "p_adjusted": 1e-12})], "smoke", coll).ok
    assert (
        compare(tiny, [_decided("h1", {**WELCH, "p_adjusted": 1e-12})], "smoke", coll).notes == []
    )
    # A file without stats (written before they were kept): nothing to note.
    del saved["scales"]["smoke"]["hypotheses"]["h1"]["stats"]
    assert compare(saved, [_decided("h1", moved)], "smoke", coll).notes == []
