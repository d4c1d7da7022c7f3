"""The verdict is the outcome: a hypothesis decided across cases is a pytest
result of its own, so the exit status, JUnit, ``--lf`` and CI all say what the
claim's statistics say; and a claim is never VALIDATED on part of its evidence."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_grd.stats.multiple import adjust

RULES = """
import pytest
import pytest_grd as grd

REF = [0.80, 0.81, 0.79, 0.80, 0.82]
WORSE = [0.78, 0.80, 0.77, 0.79, 0.79]
BETTER = [0.90, 0.91, 0.89, 0.92, 0.90]

@pytest.mark.hypothesis("ref", claim="the reference", seeds=5)
def test_ref(grd_case, grd_seed):
    grd_case.log_metric("acc", REF[grd_seed])

@pytest.mark.hypothesis(
    "hyp_worse", claim="the new model beats the reference by 0.05", seeds=5,
    decide=grd.greater("acc", than="ref", min_effect=0.05),
)
def test_worse(grd_case, grd_seed):
    grd_case.log_metric("acc", WORSE[grd_seed])

@pytest.mark.hypothesis(
    "hyp_better", claim="the big model beats the reference by 0.05", seeds=5,
    decide=grd.greater("acc", than="ref", min_effect=0.05),
)
def test_better(grd_case, grd_seed):
    grd_case.log_metric("acc", BETTER[grd_seed])
"""

MODES = [pytest.param([], id="serial"), pytest.param(["-n", "2"], id="xdist")]


def _junit(path: Path) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in ET.parse(path).getroot().iter("testcase")}


@pytest.mark.parametrize("mode", MODES)
def test_a_rejected_claim_fails_the_run_and_its_junit_testcase(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    pytester.makepyfile(test_claims=RULES)
    result = pytester.runpytest_subprocess(
        "--grd-no-tracking", "-v", "-ra", "--junitxml=junit.xml", *mode
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines_random(
        [
            "*test_claims.py::hyp_worse REJECTED*",
            "*test_claims.py::hyp_better VALIDATED*",
            "*test_claims.py::ref VALIDATED*",
            "REJECTED test_claims.py::hyp_worse - REJECTED: *",
        ]
    )
    # Cases of a decided hypothesis are evidence: they say the measurement ran.
    lines = [line for line in result.stdout.lines if "test_worse[seed0]" in line]
    assert any("MEASURED" in line for line in lines)
    assert not any("VALIDATED" in line for line in lines)
    result.stdout.fnmatch_lines(["hyp_worse*REJECTED*(5 measured)*"])
    cases = _junit(pytester.path / "junit.xml")
    worse, better = cases["hyp_worse"], cases["hyp_better"]
    assert worse.find("failure") is not None
    assert "REJECTED" in (worse.find("failure").get("message") or "")  # type: ignore[union-attr]
    assert better.find("failure") is None
    props = {p.get("name"): p.get("value") for p in worse.iter("property")}
    assert props["grd.verdict"] == "REJECTED"
    assert props["grd.family"] == "session" and props["grd.family_size"] == "2"
    assert all(cases[f"test_worse[seed{i}]"].find("failure") is None for i in range(5))


def test_a_validated_claim_passes_and_an_inconclusive_one_fails(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_claims=RULES.replace(
            "BETTER = [0.90, 0.91, 0.89, 0.92, 0.90]", "BETTER = [0.85, 0.91, 0.80, 0.90, 0.84]"
        )
    )
    result = pytester.runpytest_subprocess("--grd-no-tracking", "-k", "not worse", "-v")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*test_claims.py::hyp_better INCONCLUSIVE*"])
    pytester.makepyfile(test_claims=RULES)
    result = pytester.runpytest_subprocess("--grd-no-tracking", "-k", "not worse")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=12)  # 10 cases, 2 hypotheses decided across cases


def test_lf_reruns_a_failed_decision_with_the_cases_it_needs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_claims=RULES)
    first = pytester.runpytest("--grd-no-tracking", "-p", "cacheprovider")
    assert first.ret == pytest.ExitCode.TESTS_FAILED
    again = pytester.runpytest("--grd-no-tracking", "-p", "cacheprovider", "--lf", "-v")
    assert again.ret == pytest.ExitCode.TESTS_FAILED
    out = again.stdout.str()
    # The rejected decision again, with its own cases and its reference's.
    again.stdout.fnmatch_lines(["*test_claims.py::hyp_worse REJECTED*"])
    assert out.count("test_worse[seed") == 5 and out.count("test_ref[seed") == 5
    assert "test_better[" not in out


def test_a_finer_k_never_validates_a_claim_on_part_of_its_cases(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_sweep="""
        import pytest

        @pytest.mark.hypothesis("hyp_sweep", claim="every lr converges")
        @pytest.mark.parametrize("lr", [0.1, 0.01, 0.001])
        def test_lr(lr):
            assert lr < 1
        """
    )
    result = pytester.runpytest("--grd-no-tracking", "-k", "0.01", "--grd-report")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["hyp_sweep*INCONCLUSIVE*", "*reason: INCONCLUSIVE: partial*: 1 of 3 cases ran*"]
    )
    report = json.loads((pytester.path / "grd-report" / "report.json").read_text())
    assert report["hypotheses"][0]["verdict"] == "INCONCLUSIVE"


def test_a_stopped_run_decides_nothing_validated(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_stop="""
        import pytest

        def test_plain_fails_first():
            assert False

        @pytest.mark.hypothesis("hyp_all", claim="all fine")
        @pytest.mark.parametrize("x", [1, 2, 3])
        def test_x(x):
            assert x
        """
    )
    result = pytester.runpytest("--grd-no-tracking", "-x", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "hyp_all  VALIDATED" not in result.stdout.str()


def test_unknown_than_is_a_usage_error_naming_where(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_typo="""
        import pytest
        import pytest_grd as grd

        @pytest.mark.hypothesis("ref", seeds=3)
        def test_ref(grd_case, grd_seed):
            grd_case.log_metric("acc", 0.8)

        @pytest.mark.hypothesis("hyp_x", seeds=3, decide=grd.greater("acc", than="hyp_nope"))
        def test_x(grd_case, grd_seed):
            grd_case.log_metric("acc", 0.9)
        """
    )
    result = pytester.runpytest_subprocess("--grd-no-tracking")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: grd: *test_typo.py:*: hyp_x's decide= compares with 'hyp_nope' (than=), "
            "which no collected test declares; known: ref"
        ]
    )


def test_a_nan_metric_is_inconclusive_and_the_report_is_strict_json(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_nan="""
        import math
        import pytest

        @pytest.mark.hypothesis("hyp_nan", claim="converges")
        def test_nan(grd_run):
            grd_run.log_metric("acc", math.nan)

        @pytest.mark.hypothesis("hyp_inf_ok", claim="may overflow", allow_nonfinite=True)
        def test_inf(grd_run):
            grd_run.log_metric("loss", math.inf)
        """
    )
    result = pytester.runpytest("--grd-no-tracking", "--grd-report")
    result.stdout.fnmatch_lines(
        ["hyp_inf_ok*VALIDATED*", "hyp_nan*INCONCLUSIVE*", "*reason: metric acc is NaN"]
    )
    text = (pytester.path / "grd-report" / "report.json").read_text()

    def refuse(token: str) -> float:
        raise ValueError(f"not strict JSON: {token}")

    json.loads(text, parse_constant=refuse)  # no NaN / Infinity tokens


@given(
    family=st.lists(st.floats(min_value=1e-6, max_value=1.0), min_size=1, max_size=8),
    data=st.data(),
    method=st.sampled_from(["holm", "bh"]),
)
@settings(max_examples=300, deadline=None)
def test_a_subset_of_a_family_is_never_corrected_less(
    family: list[float], data: st.DataObject, method: str
) -> None:
    # Selection (-k, -m, --lf) runs a subset: its members are padded with
    # p = 1 up to the family's size, so no adjusted p can fall below the
    # full run's on the same data.
    full = adjust(family, method, len(family))
    chosen = data.draw(
        st.lists(st.sampled_from(range(len(family))), min_size=1, unique=True), label="subset"
    )
    subset = adjust([family[i] for i in chosen], method, len(family))
    for index, adjusted in zip(chosen, subset, strict=True):
        assert adjusted >= full[index] - 1e-12


def test_k_subset_of_a_session_gets_no_smaller_adjusted_p(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_claims=RULES)
    pytester.makeconftest(
        """
import json, os
def pytest_grd_session_results(results, config, session):
    with open(os.environ["GRD_RESULTS"], "w") as fh:
        json.dump({r.id: r.stats for r in results if r.stats}, fh)
"""
    )
    out = pytester.path / "results.json"
    monkeypatch.setenv("GRD_RESULTS", str(out))
    full = pytester.runpytest_subprocess("--grd-no-tracking")
    assert full.ret == pytest.ExitCode.TESTS_FAILED
    p_full = json.loads(out.read_text())["hyp_better"]
    pytester.runpytest_subprocess("--grd-no-tracking", "-k", "better or ref")
    p_subset = json.loads(out.read_text())["hyp_better"]
    assert p_subset["family_size"] == p_full["family_size"] == 2
    assert p_subset["p_adjusted"] >= p_full["p_adjusted"]
