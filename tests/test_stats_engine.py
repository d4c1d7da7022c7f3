"""Unit tests of the statistics (no pytester): tests, refusals, rules,
corrections and the controller-side decisions."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

import pytest_grd as grd
from pytest_grd.record import CaseRecord, group_by_hypothesis
from pytest_grd.stats.decide import apply_decisions
from pytest_grd.stats.engine import analyse
from pytest_grd.stats.multiple import CorrectionError, adjust
from pytest_grd.stats.rules import DecisionRule, RuleError
from pytest_grd.stats.significance import min_attainable_p
from pytest_grd.summary import format_stats

NEW = [0.84, 0.85, 0.83, 0.86, 0.85, 0.84, 0.86, 0.85]
OLD = [0.80, 0.81, 0.79, 0.80, 0.82, 0.80, 0.81, 0.79]


@pytest.mark.parametrize("test", ["welch", "mannwhitney", "permutation", "bootstrap_bca"])
def test_each_test_validates_a_clear_gain_and_rejects_a_clear_loss(test: str) -> None:
    gain = analyse(NEW, OLD, test=test, min_effect=0.01)
    assert gain.verdict == "VALIDATED", gain.reason
    assert gain.p_value is not None and gain.p_value < 0.05
    loss = analyse(OLD, NEW, test=test)
    assert loss.verdict == "REJECTED", loss.reason
    assert gain.n == [8, 8] and gain.prob_improvement == 1.0
    assert json.loads(json.dumps(gain.to_dict()))["decision"] == "VALIDATED"


@pytest.mark.parametrize(
    ("test", "name"),
    [
        ("welch", "one_sample_t"),
        ("mannwhitney", "wilcoxon"),
        ("permutation", "permutation"),
        ("bootstrap_bca", "bootstrap_bca"),
    ],
)
def test_one_sample_variants_against_a_threshold(test: str, name: str) -> None:
    result = analyse(NEW, 0.8, test=test)
    assert result.test == name and result.n == [8] and result.than == 0.8
    assert result.verdict == "VALIDATED", result.reason
    assert analyse(NEW, 0.9, test=test).verdict == "REJECTED"
    assert result.estimate == pytest.approx(np.mean(NEW) - 0.8)


def test_welch_matches_scipy_and_its_interval_decides() -> None:
    result = analyse(NEW, OLD, min_effect=0.02)
    shifted = np.array(NEW) - 0.02
    expected = sps.ttest_ind(shifted, OLD, equal_var=False, alternative="greater")
    assert result.p_value == pytest.approx(expected.pvalue)
    ci = sps.ttest_ind(NEW, OLD, equal_var=False).confidence_interval(0.9)
    assert result.ci == pytest.approx([ci.low, ci.high])
    # The decision reads off the interval: the claimed effect lies below it.
    assert (result.ci[0] > 0.02) == (result.verdict == "VALIDATED")
    assert result.effect_size is not None and result.effect_size["name"] == "hedges_g"
    assert result.details["df"] == pytest.approx(expected.df)


def test_less_is_a_mirror_of_greater() -> None:
    lower = analyse(OLD, NEW, alternative="less", min_effect=0.01)
    assert lower.verdict == "VALIDATED"
    assert lower.ci is not None and lower.ci[1] < -0.01
    assert "lies entirely < -0.01" in lower.decision_rule


def test_inconclusive_suggests_seeds_from_a_power_analysis() -> None:
    result = analyse([0.81, 0.79, 0.83, 0.80], [0.80, 0.81, 0.79, 0.795])
    assert result.verdict == "INCONCLUSIVE"
    assert result.suggested_n is not None and result.suggested_n > 4
    from statsmodels.stats.power import TTestIndPower

    d = result.estimate / math.sqrt(
        (np.var([0.81, 0.79, 0.83, 0.80], ddof=1) + np.var([0.80, 0.81, 0.79, 0.795], ddof=1)) / 2
    )
    expected = TTestIndPower().solve_power(
        effect_size=d, alpha=0.05, power=0.8, alternative="larger"
    )
    assert result.suggested_n == math.ceil(expected)
    assert f"about {result.suggested_n} samples per arm" in result.reason


@pytest.mark.parametrize(
    ("new", "baseline", "test", "words"),
    [
        ([0.9, 0.8, 0.85], [0.1, 0.2, 0.15], "mannwhitney", "smallest possible p = 0.05"),
        ([0.9, 0.8, 0.85, 0.9], 0.5, "wilcoxon", "smallest possible p = 0.0625"),
        ([0.9, 0.8, 0.85], [0.1, 0.2, 0.15], "permutation", "cannot reach p < 0.05"),
        ([0.9], [0.1, 0.2], "welch", "needs at least 2 samples per arm, got 1 vs 2"),
        ([0.5, 0.5, 0.5], [0.4, 0.4, 0.4], "welch", "zero variance"),
        ([0.5, 0.5, 0.5], 0.4, "welch", "the sample has zero variance"),
        (NEW[:5], OLD[:5], "bootstrap_bca", "at least 8 samples per arm"),
        ([0.9, float("nan"), 0.8], [0.1, 0.2, 0.3], "welch", "new has 1 non-finite value"),
    ],
)
def test_refuses_tests_that_cannot_decide(
    new: list[float], baseline: Any, test: str, words: str
) -> None:
    result = analyse(new, baseline, test=test)
    assert result.verdict == "INCONCLUSIVE" and result.refused
    assert result.reason.startswith("INCONCLUSIVE: too little evidence: ")
    assert words in result.reason
    assert result.p_value is None


def test_exact_tests_minimum_p_matches_facts() -> None:
    # The smallest exact two-sided p at 3 vs 3 is 0.10, at 4 vs 4 0.029, at 5 vs 5 0.008.
    assert 2 * min_attainable_p("mannwhitney", [3, 3]) == pytest.approx(0.10)  # type: ignore[operator]
    assert 2 * min_attainable_p("mannwhitney", [4, 4]) == pytest.approx(0.0286, abs=1e-3)  # type: ignore[operator]
    assert 2 * min_attainable_p("permutation", [5, 5]) == pytest.approx(0.0079, abs=1e-3)  # type: ignore[operator]
    # One-sided at 4 vs 4 the test can decide; scipy agrees on the exact p.
    result = analyse([5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 4.0], test="mannwhitney")
    assert result.p_value == pytest.approx(1 / 70) and result.verdict == "VALIDATED"


def test_bad_arguments_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match=r"alpha must be a number between 0 and 0\.5"):
        analyse(NEW, OLD, alpha=0.7)
    with pytest.raises(ValueError, match=r"min_effect must be a finite number >= 0"):
        analyse(NEW, OLD, min_effect=-1)
    with pytest.raises(ValueError, match="test must be one of welch"):
        analyse(NEW, OLD, test="ztest")
    with pytest.raises(ValueError, match="must be numbers"):
        analyse(["a", "b"], OLD)


def test_assertions_raise_with_stats_and_return_on_validated() -> None:
    result = grd.assert_greater(NEW, OLD)
    assert isinstance(result, grd.StatsResult) and result.validated
    with pytest.raises(grd.Rejected) as rejected:
        grd.assert_greater(OLD, NEW)
    assert isinstance(rejected.value, AssertionError)
    assert rejected.value.stats is not None and rejected.value.stats["decision"] == "REJECTED"
    with pytest.raises(grd.Inconclusive) as doubt:
        grd.assert_less([1.0, 2.0, 3.0], [1.5, 2.5, 3.5])
    assert doubt.value.stats is not None and doubt.value.stats["suggested_n"] is not None
    assert grd.compare(OLD, NEW, alternative="less").validated


# -- rules -------------------------------------------------------------------


def test_rules_read_as_the_claim_and_round_trip() -> None:
    rule = grd.greater("auc", than="hyp_000", min_effect=0.01)
    assert repr(rule) == "grd.greater('auc', than='hyp_000', min_effect=0.01)"
    assert rule.describe() == (
        "mean auc over seeds > hyp_000's by more than 0.01 (Welch's t-test, alpha = 0.05)"
    )
    assert DecisionRule.from_dict(json.loads(json.dumps(rule.to_dict()))) == rule
    loss = grd.less("loss", than=0.3, test="mannwhitney", alpha=0.01)
    assert str(loss) == "mean loss over seeds < 0.3 (Wilcoxon signed-rank test, alpha = 0.01)"
    assert repr(loss) == "grd.less('loss', than=0.3, test='mannwhitney', alpha=0.01)"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"than": [0.9]}, "than= must be a finite number"),
        ({"than": "not an id!"}, "than= must be a number or a hypothesis id"),
        ({"than": 0.9, "alpha": 1}, "alpha must be"),
        ({"than": 0.9, "test": "t_paired"}, "test must be one of"),
        ({"than": 0.9, "min_effect": -0.1}, "min_effect must be"),
    ],
)
def test_bad_rules_fail_where_written(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(RuleError, match=words):
        grd.greater("auc", **kwargs)


# -- corrections ---------------------------------------------------------------


def test_adjust_uses_holm_and_bh() -> None:
    ps = [0.01, 0.04, 0.03]
    assert adjust(ps, "holm") == pytest.approx([0.03, 0.06, 0.06])
    assert adjust(ps, "bh") == pytest.approx([0.03, 0.04, 0.04])
    assert adjust(ps, "none") == ps
    with pytest.raises(CorrectionError, match="grd_correction must be one of"):
        adjust(ps, "sidak")


# -- controller decisions --------------------------------------------------------


def _cases(
    hid: str, values: list[float | None], rule: Any = None, **extra: Any
) -> list[CaseRecord]:
    out = []
    for seed, value in enumerate(values):
        record = CaseRecord(
            hypothesis=hid,
            nodeid=f"t.py::test_{hid}[seed{seed}]",
            name=f"{hid}[seed={seed}]",
            seed=seed,
            verdict="VALIDATED",
            metrics={} if value is None else {"auc": value},
            decide=rule.to_dict() if rule is not None else None,
        )
        for key, val in extra.items():
            setattr(record, key, val)
        out.append(record)
    return out


def test_controller_decides_from_the_cases_metrics() -> None:
    rule = grd.greater("auc", than="hyp_000", min_effect=0.01)
    results = group_by_hypothesis(_cases("hyp_000", list(OLD)) + _cases("hyp_001", NEW, rule))
    apply_decisions(results, correction="holm")
    decided = {r.id: r for r in results}["hyp_001"]
    expected = analyse(NEW, OLD, min_effect=0.01)
    assert decided.verdict == "VALIDATED"
    assert decided.stats is not None and decided.stats["p_value"] == expected.p_value
    assert decided.stats["n"] == [8, 8] and decided.stats["family_size"] == 1
    assert decided.reason.startswith("VALIDATED (p ") and "n = 8 vs 8 seeds" in decided.reason
    assert {r.id: r for r in results}["hyp_000"].stats is None


@pytest.mark.parametrize(
    ("setup", "verdict", "words"),
    [
        ("missing_metric", "INCONCLUSIVE", "case hyp_001[seed=2] did not log 'auc'"),
        ("errored_case", "INCONCLUSIVE", "1 of 8 case(s) inconclusive"),
        ("missing_baseline", "INCONCLUSIVE", "baseline hypothesis 'hyp_000' did not run"),
        ("baseline_errored", "INCONCLUSIVE", "baseline hyp_000: 1 of 8 case(s) inconclusive"),
        ("rejected_case", "INCONCLUSIVE", "but 1 case(s) were rejected"),
        ("rejected_before_logging", "REJECTED", "it was rejected: too slow"),
        ("baseline_rejected_before_logging", "INCONCLUSIVE", "baseline hyp_000: case"),
        ("nan_metric", "INCONCLUSIVE", "logged auc=nan"),
        ("bad_rule", "INCONCLUSIVE", "bad decision rule"),
    ],
)
def test_controller_is_honest_about_broken_evidence(setup: str, verdict: str, words: str) -> None:
    rule = grd.greater("auc", than="hyp_000")
    new_values: list[float | None] = list(NEW)
    base = _cases("hyp_000", list(OLD))
    if setup == "missing_metric":
        new_values[2] = None
    if setup == "nan_metric":
        new_values[2] = float("nan")
    new = _cases("hyp_001", new_values, rule)
    if setup == "errored_case":
        new[5].verdict, new[5].reason = "INCONCLUSIVE", "error: RuntimeError: diverged"
    if setup == "missing_baseline":
        base = []
    if setup == "baseline_errored":
        base[0].verdict = "INCONCLUSIVE"
    if setup == "rejected_case":
        new[1].verdict, new[1].reason = "REJECTED", "sanity check failed"
    if setup == "rejected_before_logging":
        new[1].verdict, new[1].reason, new[1].metrics = "REJECTED", "too slow", {}
    if setup == "baseline_rejected_before_logging":
        # The comparison arm failing does not reject the claim being decided.
        base[1].verdict, base[1].reason, base[1].metrics = "REJECTED", "too slow", {}
    if setup == "bad_rule":
        for case in new:
            case.decide = {"metric": "auc", "alternative": "sideways", "than": 0.5}
    results = group_by_hypothesis(base + new)
    apply_decisions(results)
    decided = {r.id: r for r in results}["hyp_001"]
    assert decided.verdict == verdict, decided.reason
    assert words in decided.reason
    assert decided.stats is not None and decided.stats["decision"] == verdict


def test_correction_turns_a_lone_significance_inconclusive() -> None:
    offsets = [-0.2, -0.1, 0.0, 0.1, 0.2]
    records: list[CaseRecord] = []
    for hid, mu in (("hyp_a", 0.6), ("hyp_b", 0.17), ("hyp_c", 0.155)):
        records += _cases(hid, [mu + o for o in offsets], grd.greater("auc", than=0.0))
    results = group_by_hypothesis(records)
    apply_decisions(results, correction="holm")
    by_id = {r.id: r for r in results}
    assert [by_id[h].verdict for h in ("hyp_a", "hyp_b", "hyp_c")] == [
        "VALIDATED",
        "INCONCLUSIVE",
        "INCONCLUSIVE",
    ]
    b = by_id["hyp_b"].stats
    assert b is not None and b["p_value"] < 0.05 <= b["p_adjusted"]
    assert "significant alone, not after the holm correction" in by_id["hyp_b"].reason
    assert b["suggested_n"] is not None


def test_format_stats_lists_the_numbers() -> None:
    stats = analyse(NEW, OLD).to_dict()
    text = format_stats(stats)
    assert text.startswith("p = ")
    assert "90% CI [" in text and "n = 8 vs 8" in text and "hedges_g = " in text
    assert "P(improvement) = 1.00" in text and text.endswith("welch")
    assert format_stats(None) == ""
