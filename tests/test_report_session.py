"""End to end: the --grd-report files from real sessions (serial and xdist)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_grd.record import RECORD_SCHEMA_VERSION
from pytest_grd.report.render import REPORT_SCHEMA_VERSION, load_report

EXPERIMENTS = """
import pytest

@pytest.mark.hypothesis(
    "hyp_lr", claim="<script>document.title='pwned'</script> higher lr | better", seeds=2
)
@pytest.mark.parametrize("lr", [0.001, 0.01, 0.1])
def test_lr(lr, grd_seed, grd_run):
    grd_run.log_metric("acc", 0.8 + lr + grd_seed * 0.01)

@pytest.mark.hypothesis("hyp_bad", claim="two is three")
def test_bad(grd_run):
    grd_run.log_metric("acc", 0.5)
    assert 2 == 3, "two is not <b>three</b>"

def test_plain():
    pass
"""


@pytest.fixture(autouse=True)
def _no_job_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions under test must not append to the CI job's own summary."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_exp=EXPERIMENTS)
    return pytester.runpytest_subprocess("--grd-no-tracking", "-p", "no:cacheprovider", *args)


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_report_files(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, xdist: bool
) -> None:
    summary = pytester.path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = _run(pytester, "--grd-report=out", *(["-n", "2"] if xdist else []))
    result.stdout.fnmatch_lines(["*grd report: *out/report.html"])
    out = pytester.path / "out"

    doc = json.loads((out / "report.json").read_text())
    assert doc["format"] == "pytest-grd-report"
    assert doc["schema_version"] == REPORT_SCHEMA_VERSION
    assert doc["record_schema_version"] == RECORD_SCHEMA_VERSION
    assert [h["id"] for h in doc["hypotheses"]] == ["hyp_bad", "hyp_lr"]
    lr = doc["hypotheses"][1]
    assert lr["verdict"] == "VALIDATED"
    assert len(lr["cases"]) == 6
    assert {c["params"]["lr"] for c in lr["cases"]} == {0.001, 0.01, 0.1}
    assert sorted(c["seed"] for c in lr["cases"]) == [0, 0, 0, 1, 1, 1]
    assert all("acc" in c["metrics"] for c in lr["cases"])
    assert doc["meta"]["command"].startswith("pytest ")
    assert "--grd-report=out" in doc["meta"]["command"]
    assert doc["meta"]["packages"]["pytest"] == pytest.__version__
    bad = doc["hypotheses"][0]
    assert bad["verdict"] == "REJECTED"
    assert bad["cases"][0]["reason"] == "two is not <b>three</b>"

    results, meta = load_report(out)
    assert [r.id for r in results] == ["hyp_bad", "hyp_lr"]
    assert results[1].cases[0].metrics["acc"] == lr["cases"][0]["metrics"]["acc"]
    assert meta["scale"] == "full"

    html = (out / "report.html").read_text()
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in html
    assert "<script" not in html  # the page has no script at all
    assert "two is not &lt;b&gt;three&lt;/b&gt;" in html
    assert "data:image/png;base64," in html  # acc against lr
    assert "http://" not in html and "https://" not in html  # nothing to fetch
    assert html.count('class="verdict VALIDATED">VALIDATED') >= 7

    md = (out / "report.md").read_text()
    assert "| `hyp_lr` | ✅ **VALIDATED** |" in md
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt; higher lr \\| better" in md
    assert "<script" not in md
    assert "| `hyp_bad[...]`" not in md
    assert "`hyp_lr[lr=0.1,seed=1]`" in md

    step = summary.read_text()
    assert step.startswith("earlier step\n## pytest-grd results")
    assert "**2 hypotheses**: 1 validated, 1 rejected (6 validated, 1 rejected cases)" in step
    assert "`hyp_lr[lr=0.1,seed=1]`" not in step  # the summary part only


def test_report_error_is_one_line(pytester: pytest.Pytester) -> None:
    (pytester.path / "blocked").write_text("a file where the folder should be")
    pytester.makepyfile(test_exp=EXPERIMENTS)
    result = pytester.runpytest("--grd-no-tracking", "--grd-report=blocked")
    result.stdout.fnmatch_lines(["grd report: not written: FileExistsError: *"])
    assert "Traceback" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # test_bad, as without a report


def test_no_hypotheses_no_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest("--grd-no-tracking", "--grd-report=out")
    result.stdout.fnmatch_lines(["grd report: no hypothesis ran; no report written"])
    assert not Path(pytester.path / "out").exists()
    assert result.ret == 0


def test_run_ids_from_real_tracking(pytester: pytest.Pytester) -> None:
    """With MLflow tracking on, the report and the JUnit XML carry each case's
    run id (the link form for http servers is covered in test_report_render)."""
    import xml.etree.ElementTree as ET

    pytester.makepyfile(test_exp=EXPERIMENTS)
    uri = f"sqlite:///{pytester.path.as_posix()}/m.db"
    pytester.runpytest_subprocess(
        "--grd-tracking-uri", uri, "--grd-report=out", "--junitxml=junit.xml", "-k", "bad"
    )
    doc = json.loads((pytester.path / "out" / "report.json").read_text())
    (case,) = doc["hypotheses"][0]["cases"]
    assert len(case["run_id"]) == 32
    assert case["tracking_uri"] == uri
    html = (pytester.path / "out" / "report.html").read_text()
    assert f"<code>{case['run_id'][:12]}</code>" in html
    junit = ET.parse(pytester.path / "junit.xml").getroot()
    properties = [(p.attrib["name"], p.attrib["value"]) for p in junit.iter("property")]
    # The case's run is made by the session's writer after the case: JUnit
    # has the key that finds it (its grd.run_key tag), the report its id.
    (key,) = [value for name, value in properties if name == "grd.run_key"]
    from mlflow.tracking import MlflowClient

    run = MlflowClient(tracking_uri=uri).get_run(case["run_id"])
    assert run.data.tags["grd.run_key"] == key
