"""Sequential decisions in real sessions: seeds run in waves and stop once the
claim is decided, serially and under ``-n 2``, with the same decision."""

from __future__ import annotations

import json
from typing import Any

import pytest

RESULTS = """
import json, os
def pytest_grd_session_results(results, config, session):
    with open(os.environ["GRD_RESULTS"], "w") as fh:
        json.dump({r.id: r.to_dict() | {"case_verdicts": [c.verdict.value for c in r.cases],
                   "not_needed": [c.seed for c in r.cases if c.not_needed]} for r in results}, fh)
"""

EARLY = """
import os, random, time, pytest
import pytest_grd as grd

def _acc(seed, mean):
    return min(1.0, max(0.0, random.Random(seed).gauss(mean, 0.02)))

def _mark(name, seed):
    with open(os.path.join(os.environ["GRD_MARKS"], f"{name}-{seed}"), "w"):
        pass
    # A seed takes a moment, as training does: the controller has time to
    # tell the workers that the later seeds are not needed.
    time.sleep(0.2)

@pytest.mark.hypothesis("ref", claim="the reference arm", seeds="auto", max_seeds=30)
def test_ref(grd_case, grd_seed):
    _mark("ref", grd_seed)
    grd_case.log_metric("acc", _acc(grd_seed, 0.70))

@pytest.mark.hypothesis(
    "hyp_big", claim="the big model beats the reference by 0.05", seeds="auto", max_seeds=30,
    decide=grd.greater("acc", than="ref", min_effect=0.05, sigma=0.05, paired=True),
)
def test_big(grd_case, grd_seed):
    _mark("big", grd_seed)
    grd_case.log_metric("acc", _acc(1000 + grd_seed, 0.95))

@pytest.mark.hypothesis(
    "hyp_threshold", claim="accuracy above 0.5", seeds="auto", max_seeds=30,
    decide=grd.greater("acc", than=0.5, bounds=(0, 1)),
)
def test_threshold(grd_case, grd_seed):
    _mark("thr", grd_seed)
    grd_case.log_metric("acc", _acc(2000 + grd_seed, 0.95))
"""


def _run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[pytest.RunResult, dict[str, Any], dict[str, int]]:
    marks = pytester.path / f"marks{len(list(pytester.path.glob('marks*')))}"
    marks.mkdir()
    out = pytester.path / "results.json"
    monkeypatch.setenv("GRD_MARKS", str(marks))
    monkeypatch.setenv("GRD_RESULTS", str(out))
    result = pytester.runpytest_subprocess("--grd-no-tracking", "-p", "no:cacheprovider", *args)
    started: dict[str, int] = {}
    for mark in marks.iterdir():
        name = mark.name.split("-")[0]
        started[name] = started.get(name, 0) + 1
    return result, json.loads(out.read_text()) if out.exists() else {}, started


def test_seeds_stop_once_decided_serial_and_xdist_alike(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest(RESULTS)
    pytester.makepyfile(test_seq=EARLY)
    serial, s_results, s_started = _run(pytester, monkeypatch, "-v")
    assert serial.ret == pytest.ExitCode.OK, serial.stdout.str()
    for hid in ("hyp_big", "hyp_threshold"):
        assert s_results[hid]["verdict"] == "VALIDATED"
        stats = s_results[hid]["stats"]
        assert stats["sequential"] is True and stats["max_seeds"] == 30
        assert stats["seeds_used"] < 30 and stats["seeds_saved"] > 0
    # Fewer cases started than max_seeds, in both arms of the comparison.
    assert s_started["big"] < 30 and s_started["ref"] < 30 and s_started["thr"] < 30
    assert s_results["ref"]["verdict"] == "VALIDATED"  # the reference arm's own roll-up
    assert s_results["hyp_big"]["counts"]["NOT NEEDED"] == 30 - s_started["big"]
    serial.stdout.fnmatch_lines(["*NOT NEEDED*", "*not needed*"])
    serial.stdout.fnmatch_lines(["*sequential: * of at most 30 seeds (* not needed)*"])

    parallel, p_results, p_started = _run(pytester, monkeypatch, "-n", "2")
    assert parallel.ret == pytest.ExitCode.OK, parallel.stdout.str()
    for hid in ("hyp_big", "hyp_threshold"):
        # The decision depends on the seeds' values, not on which worker
        # finished first: the same verdict, at the same seed count.
        assert p_results[hid]["verdict"] == s_results[hid]["verdict"]
        assert p_results[hid]["stats"]["seeds_used"] == s_results[hid]["stats"]["seeds_used"]
        assert p_results[hid]["stats"]["lower"] == pytest.approx(s_results[hid]["stats"]["lower"])
    assert p_started["big"] < 30 and p_started["thr"] < 30


def test_undecided_at_max_seeds_is_inconclusive_with_the_width_still_needed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest(RESULTS)
    pytester.makepyfile(
        test_seq="""
        import os, random, pytest
        import pytest_grd as grd

        @pytest.mark.hypothesis(
            "hyp_close", claim="a hair above 0.5", seeds="auto", max_seeds=6,
            decide=grd.greater("acc", than=0.5, bounds=(0, 1)),
        )
        def test_close(grd_case, grd_seed):
            open(os.path.join(os.environ["GRD_MARKS"], f"c-{grd_seed}"), "w").close()
            grd_case.log_metric("acc", 0.5 + random.Random(grd_seed).uniform(-0.05, 0.06))
        """
    )
    result, results, started = _run(pytester, monkeypatch)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert started["c"] == 6
    close = results["hyp_close"]
    assert close["verdict"] == "INCONCLUSIVE"
    assert close["stats"]["seeds_used"] == 6
    assert close["stats"]["width_needed"] and close["stats"]["width_needed"] > 0
    result.stdout.fnmatch_lines(["hyp_close*INCONCLUSIVE*"])


def test_a_sequential_rule_without_its_assumptions_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_seq="""
        import pytest
        import pytest_grd as grd

        @pytest.mark.hypothesis(
            "hyp_x", seeds="auto", max_seeds=10, decide=grd.greater("acc", than=0.5)
        )
        def test_x(grd_case, grd_seed):
            grd_case.log_metric("acc", 0.9)
        """
    )
    result = pytester.runpytest("--grd-no-tracking")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error
    result.stdout.fnmatch_lines(
        [
            "*test_seq.py:*: seeds='auto' decides with an anytime-valid confidence sequence, "
            "which needs the rule's assumptions: bounds=(lo, hi)*"
        ]
    )


def test_raising_fixed_seeds_after_an_inconclusive_result_is_flagged(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest(RESULTS)
    body = """
        import pytest
        import pytest_grd as grd

        VALUES = [0.52, 0.49, 0.55, 0.51, 0.56, 0.54, 0.53, 0.57, 0.55, 0.56, 0.54, 0.58]

        @pytest.mark.hypothesis("hyp_fixed", seeds=SEEDS, decide=grd.greater("acc", than=0.5))
        def test_fixed(grd_case, grd_seed):
            grd_case.log_metric("acc", VALUES[grd_seed])
        """
    pytester.makepyfile(test_fixed=body.replace("SEEDS", "3"))
    _, results, _ = _run(pytester, monkeypatch, "--grd-save-baseline")
    assert results["hyp_fixed"]["verdict"] == "INCONCLUSIVE"
    pytester.makepyfile(test_fixed=body.replace("SEEDS", "12"))
    again, results, _ = _run(pytester, monkeypatch)
    note = results["hyp_fixed"]["stats"]["optional_stopping"]
    assert "seeds raised from 3 to 12 after an INCONCLUSIVE result" in note
    assert "seeds='auto'" in note
    again.stdout.fnmatch_lines(["*optional stopping: seeds raised from 3 to 12*"])


def test_paired_fixed_n_comparison_uses_per_seed_differences(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each seed shifts both arms alike (a shared split): unpaired, the seed
    # spread hides a small, steady gain; paired by seed, it is clear.
    pytester.makeconftest(RESULTS)
    pytester.makepyfile(
        test_paired="""
        import pytest
        import pytest_grd as grd

        SPLIT = [0.60, 0.80, 0.70, 0.90, 0.65, 0.85]

        @pytest.mark.hypothesis("base", seeds=6)
        def test_base(grd_case, grd_seed):
            grd_case.log_metric("acc", SPLIT[grd_seed])

        @pytest.mark.hypothesis("hyp_unpaired", seeds=6, decide=grd.greater("acc", than="base"))
        def test_unpaired(grd_case, grd_seed):
            grd_case.log_metric("acc", SPLIT[grd_seed] + 0.02 + 0.001 * grd_seed)

        @pytest.mark.hypothesis(
            "hyp_paired", seeds=6, decide=grd.greater("acc", than="base", paired=True)
        )
        def test_paired(grd_case, grd_seed):
            grd_case.log_metric("acc", SPLIT[grd_seed] + 0.02 + 0.001 * grd_seed)
        """
    )
    _, results, _ = _run(pytester, monkeypatch)
    assert results["hyp_unpaired"]["verdict"] == "INCONCLUSIVE"
    assert results["hyp_paired"]["verdict"] == "VALIDATED"
    assert "paired" in results["hyp_paired"]["stats"]["rule"]


def test_the_decision_reads_seeds_in_order_up_to_the_first_gap() -> None:
    # Under xdist, seed 3 may report before seed 2: the evidence is seeds
    # 0, 1 (the run before the gap), never 0, 1, 3.
    from pytest_grd.record import CaseRecord
    from pytest_grd.stats.rules import greater
    from pytest_grd.stopping import NoSeedYet, decide_sequentially
    from pytest_grd.verdict import Verdict

    def case(hid: str, seed: int, acc: float) -> CaseRecord:
        return CaseRecord(
            hypothesis=hid, nodeid=f"t.py::x[seed{seed}]", name=f"{hid}[seed={seed}]",
            seed=seed, verdict=Verdict.MEASURED, metrics={"acc": acc}, sequential=True,
        )  # fmt: skip

    rule = greater("acc", than="ref", min_effect=0.05, sigma=0.05, paired=True)
    new = [case("hyp", s, 0.95) for s in (0, 1, 3)]
    ref = [case("ref", s, 0.70) for s in (0, 1, 2, 3)]
    result = decide_sequentially(new, ref, rule, min_seeds=3, max_seeds=10)
    assert result.n == 2 and not result.decided  # seed 3 waits for seed 2
    result = decide_sequentially([*new, case("hyp", 2, 0.94)], ref, rule, min_seeds=3, max_seeds=10)
    assert result.decided and result.verdict == "VALIDATED" and result.n == 3
    with pytest.raises(NoSeedYet):  # seed 0 of the reference has not reported
        decide_sequentially(new, ref[1:], rule, min_seeds=3, max_seeds=10)
