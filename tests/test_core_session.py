"""End to end: hypotheses in real pytest sessions (pytester)."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import RecordSink

EXPERIMENTS = """
import pytest
import pytest_grd as grd

@pytest.mark.hypothesis("hyp_ok", claim="it works")
@pytest.mark.parametrize("lr", [0.1, 0.01])
def test_works(lr):
    assert lr > 0

@pytest.mark.hypothesis("hyp_bad", claim="two is three")
def test_bad():
    assert 2 == 3, "two is not three"

@pytest.mark.hypothesis("hyp_err", claim="errors are inconclusive")
def test_err():
    raise ValueError("boom")

@pytest.mark.hypothesis("hyp_skip", claim="skips are inconclusive")
def test_skip():
    pytest.skip("no gpu")

@pytest.mark.hypothesis("hyp_rej", claim="explicit rejection")
def test_explicit():
    grd.reject("baseline wins")

@pytest.mark.hypothesis("hyp_inc", claim="explicit doubt")
def test_doubt():
    grd.inconclusive("too few seeds")

def test_plain():
    assert True
"""


def test_verdict_words_letters_and_summary(pytester: pytest.Pytester, sink: RecordSink) -> None:
    pytester.makepyfile(test_exp=EXPERIMENTS)
    result = pytester.runpytest("--grd-no-tracking", "-v")
    result.stdout.fnmatch_lines(
        [
            "*test_works?0.1? VALIDATED*",
            "*test_bad REJECTED*",
            "*test_err INCONCLUSIVE*",
            "*test_skip INCONCLUSIVE*",
            "*test_plain PASSED*",
            "*= grd verdicts =*",
            "hyp_bad*REJECTED*(1 rejected) - two is three",
            "*reason: two is not three",
            "hyp_err*INCONCLUSIVE*(1 inconclusive)*",
            "hyp_ok*VALIDATED*(2 validated) - it works",
        ]
    )
    # REJECTED and INCONCLUSIVE-by-error count as failures; a skip stays a skip.
    # hyp_ok's two cases are rolled up: its verdict is a result of its own.
    result.assert_outcomes(passed=4, failed=4, skipped=1)
    result.stdout.fnmatch_lines(["*test_exp.py::hyp_ok VALIDATED*"])
    by_node = {r["nodeid"].split("::")[1]: r for r in sink.records()}
    assert by_node["test_works[0.1]"]["verdict"] == "VALIDATED"
    assert by_node["test_works[0.1]"]["params"] == {"lr": 0.1}
    assert by_node["test_works[0.1]"]["name"] == "hyp_ok[lr=0.1]"
    assert by_node["test_bad"]["verdict"] == "REJECTED"
    assert by_node["test_err"]["reason"] == "error: ValueError: boom"
    assert by_node["test_skip"]["reason"] == "skipped: no gpu"
    assert by_node["test_explicit"]["verdict"] == "REJECTED"
    assert by_node["test_explicit"]["reason"] == "baseline wins"
    assert by_node["test_doubt"]["reason"] == "too few seeds"
    assert "test_plain" not in by_node


def test_short_letters(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_exp=EXPERIMENTS)
    result = pytester.runpytest("--grd-no-tracking", "-p", "no:randomly")
    result.stdout.fnmatch_lines(["test_exp.py VVRIIRI.V *"])


def test_roll_up_across_cases(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.hypothesis("hyp_mix", claim="mixed")
        @pytest.mark.parametrize("x", [1, 2, 3])
        def test_mix(x):
            if x == 3:
                raise RuntimeError("crash")
            assert x < 3
        """
    )
    result = pytester.runpytest("--grd-no-tracking")
    result.stdout.fnmatch_lines(["hyp_mix*INCONCLUSIVE*(2 validated, 1 inconclusive) - mixed"])


def test_k_selects_by_id(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        @pytest.mark.hypothesis("hyp_001", claim="a")
        def test_alpha():
            pass
        @pytest.mark.hypothesis("hyp_002", claim="b")
        def test_beta():
            pass
        def test_plain():
            pass
        """
    )
    result = pytester.runpytest("--grd-no-tracking", "-k", "hyp_001", "-v")
    result.stdout.fnmatch_lines(["*test_alpha VALIDATED*"])
    result.assert_outcomes(passed=1, deselected=2)
    result = pytester.runpytest("--grd-no-tracking", "-m", "hypothesis")
    result.assert_outcomes(passed=2, deselected=1)


def test_class_and_module_markers(pytester: pytest.Pytester, sink: RecordSink) -> None:
    pytester.makepyfile(
        test_mod="""
        import pytest
        pytestmark = pytest.mark.hypothesis("hyp_mod", claim="module-wide")
        def test_a():
            pass
        def test_b():
            pass
        """,
        test_cls="""
        import pytest
        @pytest.mark.hypothesis("hyp_cls", claim="class-wide")
        class TestThing:
            def test_one(self):
                pass
            def test_two(self):
                assert False
        """,
    )
    result = pytester.runpytest("--grd-no-tracking")
    result.stdout.fnmatch_lines(
        ["hyp_cls*REJECTED*(1 validated, 1 rejected)*", "hyp_mod*VALIDATED*(2 validated)*"]
    )
    assert {r["hypothesis"] for r in sink.records()} == {"hyp_mod", "hyp_cls"}


def test_duplicate_id_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_a="""
        import pytest
        @pytest.mark.hypothesis("hyp_dup", claim="a")
        def test_first():
            pass
        """,
        test_b="""
        import pytest
        @pytest.mark.hypothesis("hyp_dup", claim="b")
        def test_second():
            pass
        """,
    )
    result = pytester.runpytest("--grd-no-tracking")
    result.stdout.fnmatch_lines(
        ["*duplicate hypothesis id 'hyp_dup': declared at *test_a.py:2 and at *test_b.py:2*"]
    )
    assert "Traceback" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED


@pytest.mark.parametrize(
    ("marker", "fragment"),
    [
        ('claim="no id"', "needs an id"),
        ("42", "must be a string"),
        ('"has space"', "is not valid"),
        ('"h", claim=7', "claim= must be a string"),
    ],
)
def test_bad_marker_is_one_line_naming_file_and_line(
    pytester: pytest.Pytester, marker: str, fragment: str
) -> None:
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.hypothesis({marker})
        def test_x():
            pass
        """
    )
    result = pytester.runpytest("--grd-no-tracking")
    result.stdout.fnmatch_lines([f"*test_bad.py:3: *{fragment}*"])
    assert "pytest_grd/" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_given_tests_are_untouched(pytester: pytest.Pytester, sink: RecordSink) -> None:
    pytester.makepyfile(
        """
        import pytest
        from hypothesis import given, settings, strategies as st

        @given(st.integers())
        @settings(max_examples=5)
        def test_property(x):
            assert isinstance(x, int)

        @pytest.mark.hypothesis("hyp_given", claim="a research hypothesis using @given")
        @given(st.integers(min_value=0))
        @settings(max_examples=5)
        def test_research(x):
            assert x >= 0
        """
    )
    result = pytester.runpytest("--grd-no-tracking", "-v")
    result.stdout.fnmatch_lines(["*test_property PASSED*", "*test_research VALIDATED*"])
    assert [r["hypothesis"] for r in sink.records()] == ["hyp_given"]


def test_plugin_import_is_cheap(pytester: pytest.Pytester) -> None:
    heavy = "mlflow dvc pandas numpy pandera papermill jupytext scipy matplotlib sqlalchemy"
    result = pytester.run(
        sys.executable,
        "-c",
        "import sys, pytest_grd.plugin, pytest_grd; "
        f"print(sorted(m for m in {heavy.split()!r} if m in sys.modules))",
    )
    assert result.stdout.lines[-1] == "[]"


def _summary(result: pytest.RunResult) -> list[str]:
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "grd verdicts" in line)
    end = next(i for i, line in enumerate(lines) if i > start and line.startswith("="))
    return lines[start + 1 : end]


def test_same_records_serial_and_parallel(pytester: pytest.Pytester, sink: RecordSink) -> None:
    from pytest_grd.record import CaseRecord

    pytester.makepyfile(test_exp=EXPERIMENTS)
    serial = pytester.runpytest_subprocess("--grd-no-tracking", "-p", "no:xdist")
    serial_records = sorted(
        (CaseRecord.from_dict(r).comparable() for r in sink.records()), key=lambda r: r["nodeid"]
    )
    sink.path.unlink()
    parallel = pytester.runpytest_subprocess("--grd-no-tracking", "-n", "2")
    parallel_records = sorted(
        (CaseRecord.from_dict(r).comparable() for r in sink.records()), key=lambda r: r["nodeid"]
    )
    assert len(serial_records) == 7
    assert serial_records == parallel_records
    assert _summary(serial) == _summary(parallel)
