"""End to end: --grd-save-baseline and --grd-baseline in real sessions."""

from __future__ import annotations

import json

# In-process pytester runs restore sys.modules afterwards, and numpy (which
# the report's plots import) cannot be loaded twice in one process: load it
# before any inner session does.
import matplotlib.figure  # noqa: F401
import pytest

EXPERIMENTS = """
import pytest

ACC = {acc}

@pytest.mark.hypothesis("hyp_lr", claim="lr helps", baseline={{"acc": "higher"}})
@pytest.mark.parametrize("lr", [0.01, 0.1])
def test_lr(lr, grd_run):
    grd_run.log_metric("acc", ACC + lr)

@pytest.mark.hypothesis("hyp_bad", claim="two is three")
def test_bad():
    assert 2 == {three}, "two is not three"
"""

OTHER = """
import pytest

@pytest.mark.hypothesis("hyp_other", claim="another file")
def test_other():
    pass
"""


@pytest.fixture(autouse=True)
def _no_job_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions under test must not append to the CI job's own summary."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def _write(pytester: pytest.Pytester, acc: float = 0.8, three: int = 3, other: bool = True) -> None:
    pytester.makepyfile(test_exp=EXPERIMENTS.format(acc=acc, three=three))
    if other:
        pytester.makepyfile(test_other=OTHER)
    elif (pytester.path / "test_other.py").exists():
        (pytester.path / "test_other.py").unlink()


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--grd-no-tracking", "-p", "no:cacheprovider", *args)


@pytest.fixture
def saved(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with a baseline saved at scale 'smoke' (hyp_bad REJECTED)."""
    _write(pytester)
    result = _run(pytester, "--grd-scale=smoke", "--grd-save-baseline")
    result.stdout.fnmatch_lines(
        ["grd baseline: saved 3 hypothesis(es), 4 case(s) at scale 'smoke' to *grd-baseline.json"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # saving changes no exit status
    return pytester


def test_saved_file_content(saved: pytest.Pytester) -> None:
    data = json.loads((saved.path / "grd-baseline.json").read_text())
    assert data["format"] == "pytest-grd-baseline"
    section = data["scales"]["smoke"]
    assert section["scale"] == "smoke"
    hyps = section["hypotheses"]
    assert sorted(hyps) == ["hyp_bad", "hyp_lr", "hyp_other"]
    assert hyps["hyp_bad"]["verdict"] == "REJECTED"
    assert hyps["hyp_lr"]["file"] == "test_exp.py"
    case = hyps["hyp_lr"]["cases"]["hyp_lr[lr=0.1]"]
    assert case["verdict"] == "VALIDATED"
    assert case["metrics"]["acc"]["value"] == pytest.approx(0.9)
    assert case["metrics"]["acc"]["direction"] == "higher"
    assert case["metrics"]["acc"]["tolerance"] == 0.005  # half a point


def test_unchanged_exits_zero_with_rejected_as_recorded(saved: pytest.Pytester) -> None:
    result = _run(saved, "--grd-scale=smoke", "--grd-baseline", "--grd-report=out")
    result.stdout.fnmatch_lines(
        [
            "*= grd baseline =*",
            "grd baseline: no change against *grd-baseline.json (3 hypothesis(es), 4 case(s)*",
            "grd baseline: exit status 0: every failed case is as the baseline records",
        ]
    )
    assert result.ret == 0
    doc = json.loads((saved.path / "out" / "report.json").read_text())
    assert doc["meta"]["baseline"]["discrepancies"] == []
    assert "No change against the baseline." in (saved.path / "out" / "report.html").read_text()


def test_flipped_verdict_fails(saved: pytest.Pytester) -> None:
    _write(saved, three=2)
    result = _run(saved, "--grd-scale=smoke", "--grd-baseline", "--grd-report=out")
    result.stdout.fnmatch_lines(
        [
            "grd baseline: 1 change(s) against *grd-baseline.json (scale 'smoke')",
            "FLIPPED hyp_bad: verdict REJECTED -> VALIDATED*",
        ]
    )
    assert result.stdout.str().count("FLIPPED hyp_bad") == 1
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    html = (saved.path / "out" / "report.html").read_text()
    assert '<div class="discrepancy"><b>FLIPPED</b> <code>hyp_bad</code>' in html
    md = (saved.path / "out" / "report.md").read_text()
    assert "- **FLIPPED** `hyp_bad`: verdict REJECTED -&gt; VALIDATED" in md


def test_drifted_metric_fails_only_in_the_bad_direction(saved: pytest.Pytester) -> None:
    _write(saved, acc=0.95)  # better: no change
    assert _run(saved, "--grd-scale=smoke", "--grd-baseline").ret == 0
    _write(saved, acc=0.7)
    result = _run(saved, "--grd-scale=smoke", "--grd-baseline")
    result.stdout.fnmatch_lines(
        [
            "DRIFTED hyp_lr[[]lr=0.01[]]: metric acc 0.81 -> 0.71 (-0.1; higher is better, "
            "tolerance 0.005)",
            "DRIFTED hyp_lr[[]lr=0.1[]]: metric acc 0.9 -> 0.8 *",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_missing_hypothesis_fails_deselected_does_not(saved: pytest.Pytester) -> None:
    result = _run(saved, "--grd-scale=smoke", "--grd-baseline", "-k", "not other")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["grd baseline: 1 left out of this run"])
    # Only test_exp.py collected: hyp_other's file lies outside, so not missing.
    # (A path right after --grd-baseline would be taken as the baseline's.)
    assert _run(saved, "test_exp.py", "--grd-scale=smoke", "--grd-baseline").ret == 0
    _write(saved, other=False)
    result = _run(saved, "--grd-scale=smoke", "--grd-baseline")
    result.stdout.fnmatch_lines(
        ["MISSING hyp_other: recorded as VALIDATED in the baseline but no longer exists"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_other_failures_still_fail(saved: pytest.Pytester) -> None:
    saved.makepyfile(test_plain="def test_plain():\n    assert False\n")
    result = _run(saved, "--grd-scale=smoke", "--grd-baseline")
    result.stdout.fnmatch_lines(["grd baseline: no change against *"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    saved.makepyfile(test_plain="import nonexistent_module_xyz\n")
    result = _run(saved, "--grd-scale=smoke", "--grd-baseline")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            None,
            "ERROR: grd: baseline */nope.json does not exist; record one with --grd-save-baseline",
        ),
        ("{oops", "ERROR: grd: baseline */nope.json is malformed: not JSON*"),
    ],
    ids=["missing-file", "malformed-file"],
)
def test_unusable_baseline_is_a_usage_error(
    pytester: pytest.Pytester, content: str | None, message: str
) -> None:
    _write(pytester)
    if content is not None:
        (pytester.path / "nope.json").write_text(content)
    result = _run(pytester, "--grd-baseline=nope.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_other_scale_is_not_compared(saved: pytest.Pytester) -> None:
    result = _run(saved, "--grd-baseline")  # scale 'full'; the file has 'smoke'
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: grd: baseline *grd-baseline.json has no results at scale 'full' "
            "(it has: smoke); a baseline is compared only at its own scale: record one with "
            "--grd-scale full --grd-save-baseline"
        ]
    )


def test_under_xdist(saved: pytest.Pytester) -> None:
    """Workers report what they collected: -k deselection is no 'missing'
    there either, and a hypothesis that is gone is."""
    _write(saved, other=False)
    result = saved.runpytest_subprocess(
        "--grd-no-tracking",
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "--grd-scale=smoke",
        "--grd-baseline",
        "-k",
        "lr or bad",
    )
    result.stdout.fnmatch_lines(
        ["MISSING hyp_other: recorded as VALIDATED in the baseline but no longer exists"]
    )
    assert "hyp_lr" not in "".join(line for line in result.outlines if "MISSING" in line)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    _write(saved)
    result = saved.runpytest_subprocess(
        "--grd-no-tracking",
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "--grd-scale=smoke",
        "--grd-baseline",
        "-k",
        "not bad",
    )
    result.stdout.fnmatch_lines(["grd baseline: no change against *", "*1 left out of this run"])
    assert result.ret == 0


def test_crashed_worker_fails_even_as_recorded(pytester: pytest.Pytester) -> None:
    """A case whose worker died fails the run, whatever the baseline says."""
    pytester.makepyfile(
        test_crash="""
import os, pytest

@pytest.mark.hypothesis("hyp_crash", claim="survives")
@pytest.mark.parametrize("n", [1, 2])
def test_die(n):
    if n == 2:
        os._exit(3)
"""
    )
    cases = {
        f"hyp_crash[n={n}]": {
            "nodeid": f"test_crash.py::test_die[{n}]",
            "verdict": verdict,
            "metrics": {},
        }
        for n, verdict in ((1, "VALIDATED"), (2, "INCONCLUSIVE"))
    }
    baseline = {
        "format": "pytest-grd-baseline",
        "format_version": 1,
        "scales": {
            "full": {
                "scale": "full",
                "hypotheses": {
                    "hyp_crash": {
                        "verdict": "INCONCLUSIVE",
                        "file": "test_crash.py",
                        "cases": cases,
                    }
                },
            }
        },
    }
    (pytester.path / "grd-baseline.json").write_text(json.dumps(baseline))
    result = pytester.runpytest_subprocess(
        "--grd-no-tracking", "-p", "no:cacheprovider", "-n", "2", "--grd-baseline"
    )
    result.stdout.fnmatch_lines(
        ["grd baseline: no change against *", "grd baseline: 1 case(s) crashed"]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_new_failing_hypothesis_is_not_forgiven(saved: pytest.Pytester) -> None:
    """hyp_bad's REJECTED is recorded; a new hypothesis that errors is not."""
    saved.makepyfile(
        test_new="""
        import pytest

        @pytest.mark.hypothesis("hyp_new", claim="added after the baseline")
        def test_new():
            1 / 0
        """
    )
    result = _run(saved, "--grd-scale=smoke", "--grd-baseline")
    result.stdout.fnmatch_lines(
        ["grd baseline: failed case(s) the baseline does not record: hyp_new: INCONCLUSIVE"]
    )
    assert "every failed case is as the baseline records" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_baseline_entry_with_a_bad_file_is_a_usage_error(saved: pytest.Pytester) -> None:
    path = saved.path / "grd-baseline.json"
    data = json.loads(path.read_text())
    data["scales"]["smoke"]["hypotheses"]["hyp_lr"]["file"] = 5
    path.write_text(json.dumps(data))
    result = _run(saved, "--grd-scale=smoke", "--grd-baseline")
    result.stderr.fnmatch_lines(["*hypothesis 'hyp_lr' (scale 'smoke'): 'file' is not text*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_ini_tolerances_are_saved_and_compared(pytester: pytest.Pytester) -> None:
    """``grd_baseline_tolerances``: ``acc`` may drop 0.15 (absolute)."""
    pytester.makeini("[pytest]\ngrd_baseline_tolerances =\n    acc = 0.15\n    loss = 2%\n")
    _write(pytester)
    _run(pytester, "--grd-save-baseline")
    data = json.loads((pytester.path / "grd-baseline.json").read_text())
    case = data["scales"]["full"]["hypotheses"]["hyp_lr"]["cases"]["hyp_lr[lr=0.1]"]
    assert case["metrics"]["acc"]["tolerance"] == 0.15
    _write(pytester, acc=0.7)  # acc -0.1: within the ini's 0.15
    result = _run(pytester, "--grd-baseline")
    result.stdout.fnmatch_lines(["grd baseline: no change against *"])
    assert result.ret == 0
    # The ini at comparison time wins over the file's number.
    pytester.makeini("[pytest]\ngrd_baseline_tolerances = acc = 5%\n")
    result = _run(pytester, "--grd-baseline")
    result.stdout.fnmatch_lines(
        ["DRIFTED hyp_lr[[]lr=0.1[]]: metric acc 0.9 -> 0.8 (-0.1; higher is better, "
         "tolerance 0.045)"]
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize(
    "line", ["acc 0.01", "acc = much", "acc = -1", "= 0.01", "acc = nan%"]
)  # fmt: skip
def test_a_malformed_tolerance_line_is_a_usage_error(pytester: pytest.Pytester, line: str) -> None:
    pytester.makeini(f"[pytest]\ngrd_baseline_tolerances =\n    {line}\n")
    _write(pytester)
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: ini grd_baseline_tolerances: {line!r} is not 'metric = 0.01' (absolute) "
         "or 'metric = 2%' (relative), with a number >= 0"]
    )  # fmt: skip
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


DECIDED = """
import pytest
import pytest_grd as grd

@pytest.mark.hypothesis("hyp_stats", claim="new beats old")
def test_stats():
    grd.assert_greater([0.91, 0.92, 0.93, 0.92, 0.94], [0.80, 0.81, 0.79, 0.82, 0.80])
"""


def test_a_decision_keeps_its_numbers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_decided=DECIDED)
    assert _run(pytester, "--grd-save-baseline").ret == 0
    data = json.loads((pytester.path / "grd-baseline.json").read_text())
    stats = data["scales"]["full"]["hypotheses"]["hyp_stats"]["stats"]
    assert set(stats) == {"estimate", "ci", "p_value", "p_adjusted"}
    assert stats["estimate"] == pytest.approx(0.12) and 0 < stats["p_value"] < 0.001
    result = _run(pytester, "--grd-baseline")
    result.stdout.fnmatch_lines(["grd baseline: no change against *"])
    assert "note:" not in result.stdout.str()
    assert result.ret == 0
    # Still VALIDATED, with a much smaller effect: a note, not a change.
    pytester.makepyfile(
        test_decided=DECIDED.replace("0.91, 0.92, 0.93, 0.92, 0.94", "0.84, 0.86, 0.83, 0.85, 0.84")
    )
    result = _run(pytester, "--grd-baseline")
    result.stdout.fnmatch_lines(
        [
            "grd baseline: no change against *",
            "grd baseline: note: hyp_stats: p moved 8.59e-08 -> 0.000271",
            "grd baseline: note: hyp_stats: effect 0.12 -> 0.04, outside the recorded interval "
            "[[]0.107, 0.133[]]",
        ]
    )
    assert result.ret == 0
