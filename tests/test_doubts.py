"""Doubts that must survive: a swallowed Inconclusive, a failing teardown, a
grd fixture in a plain test."""

from __future__ import annotations

import pytest

from tests.conftest import RecordSink


def test_swallowed_doubts_are_never_validated(pytester: pytest.Pytester, sink: RecordSink) -> None:
    pytester.makepyfile(
        """
        import pytest
        import pytest_grd as grd

        @pytest.mark.hypothesis("hyp_data", claim="missing data caught by the test")
        def test_missing(grd_data):
            try:
                grd_data.load("data/absent.csv")
            except Exception:
                pass

        @pytest.mark.hypothesis("hyp_stats", claim="an undecided comparison caught by the test")
        def test_stats():
            try:
                grd.assert_greater([0.5, 0.6, 0.4], [0.5, 0.55, 0.45])
            except Exception:
                pass
        """
    )
    result = pytester.runpytest("--grd-no-tracking")
    result.assert_outcomes(failed=2)
    by_id = {r["hypothesis"]: r for r in sink.records()}
    assert by_id["hyp_data"]["verdict"] == "INCONCLUSIVE"
    assert by_id["hyp_data"]["reason"].startswith("data missing:")
    assert by_id["hyp_stats"]["verdict"] == "INCONCLUSIVE"


def test_teardown_error_turns_the_verdict_inconclusive(
    pytester: pytest.Pytester, sink: RecordSink
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def checkpoint():
            yield
            raise OSError("checkpoint upload failed")

        @pytest.mark.hypothesis("hyp_td", claim="passes, then its teardown fails")
        def test_td(checkpoint):
            assert True
        """
    )
    result = pytester.runpytest("--grd-no-tracking", "-p", "no:randomly")
    result.stdout.fnmatch_lines(["hyp_td*INCONCLUSIVE*", "*teardown error: OSError: checkpoint*"])
    records = sink.records()
    assert records[-1]["verdict"] == "INCONCLUSIVE"
    assert records[-1]["reason"] == "teardown error: OSError: checkpoint upload failed"
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_grd_fixture_in_a_plain_test_is_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain(grd_run):\n    pass\n")
    result = pytester.runpytest("--grd-no-tracking")
    result.stdout.fnmatch_lines(["*grd_run is for hypotheses: mark test_plain with*"])
    assert "def grd_run" not in result.stdout.str()
    assert "pytest_grd/" not in result.stdout.str()


def test_decide_without_the_stats_extra_is_inconclusive_not_a_crash(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    pytester.makepyfile(
        """
        import pytest
        import pytest_grd as grd

        @pytest.mark.hypothesis("hyp_dec", claim="decided", seeds=2,
                                decide=grd.greater("auc", than=0.5))
        def test_dec(grd_run, grd_seed):
            grd_run.log_metric("auc", 0.9)
        """
    )
    # As if scipy/statsmodels (the [stats] extra) were not installed.
    monkeypatch.setitem(sys.modules, "pytest_grd.stats.decide", None)
    result = pytester.runpytest("--grd-no-tracking")
    result.stdout.fnmatch_lines(
        ["hyp_dec*INCONCLUSIVE*", "*cannot decide statistically*pytest-grd[[]stats[]]*"]
    )
    assert "INTERNALERROR" not in result.stdout.str()
