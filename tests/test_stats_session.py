"""Statistical verdicts in real pytest sessions: in-test assertions, cross-case
rules decided on the xdist controller, refusals, multiple comparisons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from statsmodels.stats.multitest import multipletests

from tests.conftest import RecordSink

RESULTS_CONFTEST = (
    RecordSink.CONFTEST
    + """
def pytest_grd_session_results(results, config, session):
    path = os.environ.get("GRD_TEST_RESULTS")
    if path:
        with open(path, "w") as fh:
            json.dump([r.to_dict() for r in results], fh)
"""
)

STATS_KEYS = {
    "test",
    "alternative",
    "metric",
    "than",
    "n",
    "statistic",
    "p_value",
    "p_adjusted",
    "correction",
    "ci",
    "confidence",
    "alpha",
    "min_effect",
    "effect_size",
    "prob_improvement",
    "decision",
    "decision_rule",
    "suggested_n",
    "reason",
}


def lit(patterns: list[str]) -> list[str]:
    """fnmatch patterns with literal ``[`` (CI brackets); ``*`` stays a wildcard."""
    return [p.replace("[", "[[]") for p in patterns]


class Sinks:
    def __init__(self, records: Path, results: Path) -> None:
        self.record_sink = RecordSink(records)
        self.results_path = results

    def records(self) -> dict[str, dict[str, Any]]:
        return {r["nodeid"].split("::")[1]: r for r in self.record_sink.records()}

    def results(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in json.loads(self.results_path.read_text())}


@pytest.fixture
def sinks(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Sinks:
    records, results = pytester.path / "records.jsonl", pytester.path / "results.json"
    monkeypatch.setenv("GRD_TEST_SINK", str(records))
    monkeypatch.setenv("GRD_TEST_RESULTS", str(results))
    pytester.makeconftest(RESULTS_CONFTEST)
    return Sinks(records, results)


IN_TEST = """
import pytest
import pytest_grd as grd

NEW = [0.84, 0.85, 0.83, 0.86, 0.85, 0.84]
OLD = [0.80, 0.81, 0.79, 0.80, 0.82, 0.80]

@pytest.mark.hypothesis("hyp_val", claim="new beats old")
def test_validated():
    grd.assert_greater(NEW, OLD, min_effect=0.01, metric="auc")

@pytest.mark.hypothesis("hyp_rej", claim="old beats new")
def test_rejected():
    grd.assert_greater(OLD, NEW, metric="auc")

@pytest.mark.hypothesis("hyp_inc", claim="a tiny gain")
def test_inconclusive():
    grd.assert_greater([0.81, 0.79, 0.83], [0.80, 0.81, 0.79], metric="auc")

@pytest.mark.hypothesis("hyp_refused", claim="ranks on 3 seeds")
def test_refused():
    grd.assert_greater(NEW[:3], OLD[:3], test="mannwhitney", metric="auc")

@pytest.mark.hypothesis("hyp_latency", claim="latency under 120 ms")
def test_threshold():
    grd.assert_less([101.0, 98.0, 104.0, 99.0, 102.0], 120.0, metric="latency_ms")

def test_plain_outside_hypothesis():
    result = grd.assert_greater(NEW, OLD)
    assert result.validated and result.p_value < 0.001
"""


def test_in_test_assertions_show_numbers_in_terminal_and_record(
    pytester: pytest.Pytester, sinks: Sinks
) -> None:
    pytester.makepyfile(test_in=IN_TEST)
    result = pytester.runpytest("--grd-no-tracking", "-v", "-p", "no:randomly")
    result.stdout.fnmatch_lines(
        lit(
            [
                "*test_validated VALIDATED*",
                "*test_rejected REJECTED*",
                "*test_inconclusive INCONCLUSIVE*",
                "*test_refused INCONCLUSIVE*",
                "*test_threshold VALIDATED*",
                "*test_plain_outside_hypothesis PASSED*",
                "*= grd verdicts =*",
                "hyp_inc*INCONCLUSIVE*",
                "*stats: p = *, 90% CI [*], n = 3 vs 3, hedges_g = *welch, suggested n = *",
                "*reason: *INCONCLUSIVE (p = *, 90% CI [*], n = 3 vs 3 samples): the evidence "
                "cannot decide the claimed effect > 0; about * samples per arm would decide*",
                "hyp_latency*VALIDATED*",
                "*stats: p = *, 90% CI [-2*, n = 5, cohens_d = *, one_sample_t",
                "hyp_refused*INCONCLUSIVE*",
                "*reason: *INCONCLUSIVE: too little evidence: an exact Mann-Whitney U test with "
                "3 vs 3 samples cannot reach p < 0.05 (smallest possible p = 0.05)*",
                "hyp_rej*REJECTED*",
                "*reason: *REJECTED (p against the claim < 0.0001, 90% CI [-0.0*, -0.0*], "
                "n = 6 vs 6 samples): the evidence excludes the claimed effect > 0",
                "hyp_val*VALIDATED*",
                "*stats: p = *, 90% CI [0.0*, 0.0*], n = 6 vs 6, hedges_g = *, "
                "P(improvement) = 1.00, welch",
            ]
        )
    )
    result.assert_outcomes(passed=3, failed=3)
    records = sinks.records()
    for name, decision in [
        ("test_validated", "VALIDATED"),
        ("test_rejected", "REJECTED"),
        ("test_inconclusive", "INCONCLUSIVE"),
        ("test_refused", "INCONCLUSIVE"),
        ("test_threshold", "VALIDATED"),
    ]:
        record = records[name]
        assert record["verdict"] == decision
        assert set(record["stats"]) >= STATS_KEYS, name
        assert record["stats"]["decision"] == decision
        assert record["stats"]["metric"] in ("auc", "latency_ms")
    val = records["test_validated"]["stats"]
    assert val["p_value"] < 0.05 and val["ci"][0] > 0.01 and val["n"] == [6, 6]
    assert val["min_effect"] == 0.01 and val["effect_size"]["name"] == "hedges_g"
    assert val["prob_improvement"] == 1.0 and val["confidence"] == pytest.approx(0.9)
    assert records["test_rejected"]["reason"].startswith("REJECTED (p against the claim")
    assert records["test_inconclusive"]["stats"]["suggested_n"] > 3
    refused = records["test_refused"]["stats"]
    assert refused["refused"] is True and refused["p_value"] is None
    assert "too little evidence" in records["test_refused"]["reason"]
    latency = records["test_threshold"]["stats"]
    assert latency["test"] == "one_sample_t" and latency["than"] == 120.0
    assert latency["ci"][1] < 0  # mean - threshold, entirely below zero
    assert sinks.results()["hyp_val"]["stats"]["decision"] == "VALIDATED"


CROSS_CASE = """
import pytest
import pytest_grd as grd

BASE = [0.80, 0.81, 0.79, 0.80, 0.82]
NEW = [0.84, 0.85, 0.83, 0.86, 0.85]
LOSS = [0.30, 0.29, 0.31, 0.30, 0.28]

@pytest.mark.hypothesis("hyp_000", claim="the baseline", seeds=5)
def test_baseline(grd_case, grd_seed):
    grd_case.log_metric("auc", BASE[grd_seed])
    grd_case.log_metric("loss", LOSS[grd_seed])

@pytest.mark.hypothesis(
    "hyp_001", claim="attention beats the baseline", seeds=5,
    decide=grd.greater("auc", than="hyp_000", min_effect=0.01),
)
def test_new(grd_case, grd_seed):
    grd_case.log_metric("auc", NEW[grd_seed])
    grd_case.log_metric("loss", LOSS[grd_seed] - 0.05)

@pytest.mark.hypothesis(
    "hyp_002", claim="the loss goes down", seeds=5, decide=grd.less("loss", than="hyp_000"),
)
def test_loss(grd_case, grd_seed):
    grd_case.log_metric("loss", LOSS[grd_seed] + 0.02)

@pytest.mark.hypothesis(
    "hyp_004", claim="one seed crashes", seeds=5, decide=grd.greater("auc", than=0.5),
)
def test_error(grd_case, grd_seed):
    if grd_seed == 3:
        raise RuntimeError("diverged")
    grd_case.log_metric("auc", NEW[grd_seed])

@pytest.mark.hypothesis(
    "hyp_005", claim="ranks on three seeds", seeds=3,
    decide=grd.greater("auc", than=0.5, test="permutation"),
)
def test_ranks(grd_case, grd_seed):
    grd_case.log_metric("auc", NEW[grd_seed])
"""


def test_cross_case_decision_on_the_xdist_controller(
    pytester: pytest.Pytester, sinks: Sinks
) -> None:
    pytester.makepyfile(test_cross=CROSS_CASE)
    result = pytester.runpytest_subprocess("-n", "2", "--grd-no-tracking", "-p", "no:randomly")
    result.stdout.fnmatch_lines(
        lit(
            [
                "*= grd verdicts =*",
                "hyp_001*VALIDATED*(5 measured) - attention beats the baseline",
                "*stats: p = * (holm-adjusted *), 90% CI [*], n = 5 vs 5, hedges_g = *, "
                "P(improvement) = 1.00, welch",
                "hyp_002*REJECTED*(5 measured) - the loss goes down",
                "*reason: REJECTED (p against the claim *, holm-adjusted * over 4 hypotheses, "
                "90% CI [0.0*], n = 5 vs 5 seeds): the evidence excludes the claimed effect < 0",
                "hyp_004*INCONCLUSIVE*",
                "*reason: INCONCLUSIVE: hyp_004: 1 of 5 case(s) inconclusive and the statistics "
                "need every seed; first: hyp_004[seed=3]: error: RuntimeError: diverged",
                "hyp_005*INCONCLUSIVE*",
                "*reason: INCONCLUSIVE: too little evidence: an exact permutation test of the mean "
                "with 3 seeds cannot reach p < 0.05 (smallest possible p = 0.125)*",
            ]
        )
    )
    records = sinks.records()
    workers = {r["worker"] for r in records.values()}
    assert len(workers) == 2, workers  # the seeds really ran on two workers
    assert records["test_new[seed0]"]["decide"]["than"] == "hyp_000"
    results = sinks.results()
    new = results["hyp_001"]
    assert new["verdict"] == "VALIDATED"
    stats = new["stats"]
    assert set(stats) >= STATS_KEYS
    assert stats["n"] == [5, 5] and stats["than"] == "hyp_000" and stats["metric"] == "auc"
    # The family is every decided hypothesis collected (hyp_001, 002, 004,
    # 005), not only the ones the statistics could test.
    assert stats["correction"] == "holm" and stats["family_size"] == 4
    assert stats["family"] == "session"
    assert stats["p_adjusted"] >= stats["p_value"]
    assert stats["ci"][0] > 0.01  # the claimed effect lies below the interval
    assert stats["rule"] == "grd.greater('auc', than='hyp_000', min_effect=0.01)"
    assert new["reason"].startswith("VALIDATED (p = ")
    assert results["hyp_002"]["verdict"] == "REJECTED"
    assert results["hyp_004"]["stats"]["decision"] == "INCONCLUSIVE"
    assert results["hyp_005"]["stats"]["refused"] is True
    assert results["hyp_000"]["verdict"] == "VALIDATED"  # no rule: the roll-up


FAMILY = """
import pytest
import pytest_grd as grd

OFFSETS = [-0.2, -0.1, 0.0, 0.1, 0.2]

@pytest.mark.hypothesis("hyp_a", seeds=5, decide=grd.greater("gain", than=0.0))
def test_a(grd_case, grd_seed):
    grd_case.log_metric("gain", 0.6 + OFFSETS[grd_seed])

@pytest.mark.hypothesis("hyp_b", seeds=5, decide=grd.greater("gain", than=0.0))
def test_b(grd_case, grd_seed):
    grd_case.log_metric("gain", 0.17 + OFFSETS[grd_seed])

@pytest.mark.hypothesis("hyp_c", seeds=5, decide=grd.greater("gain", than=0.0))
def test_c(grd_case, grd_seed):
    grd_case.log_metric("gain", 0.155 + OFFSETS[grd_seed])
"""


@pytest.mark.parametrize(
    ("correction", "method", "expected"),
    [
        ("holm", "holm", {"hyp_a": "VALIDATED", "hyp_b": "INCONCLUSIVE", "hyp_c": "INCONCLUSIVE"}),
        ("bh", "fdr_bh", {"hyp_a": "VALIDATED", "hyp_b": "VALIDATED", "hyp_c": "VALIDATED"}),
    ],
)
def test_multiple_comparison_adjustment(
    pytester: pytest.Pytester,
    sinks: Sinks,
    correction: str,
    method: str,
    expected: dict[str, str],
) -> None:
    pytester.makepyfile(test_family=FAMILY)
    result = pytester.runpytest("--grd-no-tracking", "-o", f"grd_correction={correction}")
    results = sinks.results()
    assert {k: v["verdict"] for k, v in results.items()} == expected
    raw = [results[h]["stats"]["p_value"] for h in ("hyp_a", "hyp_b", "hyp_c")]
    assert all(p < 0.05 for p in raw)  # each would be VALIDATED alone
    adjusted = multipletests(raw, method=method)[1]
    for hid, p_adj in zip(("hyp_a", "hyp_b", "hyp_c"), adjusted, strict=True):
        stats = results[hid]["stats"]
        assert stats["p_adjusted"] == pytest.approx(p_adj)
        assert stats["correction"] == correction and stats["family_size"] == 3
    if correction == "holm":
        result.stdout.fnmatch_lines(
            lit(
                [
                    "hyp_b*INCONCLUSIVE*",
                    "*stats: p = 0.037 (holm-adjusted 0.074)*",
                    "*reason: INCONCLUSIVE (p = 0.037, holm-adjusted = 0.074 over 3 hypotheses, "
                    "90% CI [*], n = 5 seeds): significant alone, not after the holm correction*",
                ]
            )
        )


def test_unknown_correction_is_a_usage_error_at_start(
    pytester: pytest.Pytester, sinks: Sinks
) -> None:
    pytester.makepyfile(test_family=FAMILY)
    result = pytester.runpytest("--grd-no-tracking", "-o", "grd_correction=bonferoni")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: ini grd_correction must be one of holm, bh, none, got 'bonferoni'"]
    )
    # The session stops at start: no case ran, no roll-up was reported.
    assert not sinks.results_path.exists()
    assert not sinks.record_sink.path.exists()


def test_bad_rule_is_one_line_at_collection(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
        import pytest
        import pytest_grd as grd

        @pytest.mark.hypothesis("hyp_x", decide=grd.greater("auc", than=[0.9]))
        def test_x():
            pass
        """
    )
    result = pytester.runpytest("--grd-no-tracking")
    result.stdout.fnmatch_lines(
        lit(["*RuleError: than= must be a finite number (a threshold) or a hypothesis id*"])
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
