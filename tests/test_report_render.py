"""Report rendering, pure: view model, HTML, Markdown, JSON round trip, plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_grd.record import CaseRecord, HypothesisResult, group_by_hypothesis
from pytest_grd.report.markdown import MAX_CASE_ROWS, code, escape, render_markdown
from pytest_grd.report.model import build_view, fmt_value, run_url
from pytest_grd.report.plots import MAX_PLOTS, MAX_PLOTS_PER_HYPOTHESIS, plan_plots
from pytest_grd.report.render import ReportError, load_report, render_html, write_report

META = {
    "date": "2025-01-02T03:04:05+00:00",
    "command": "pytest experiments --grd-report",
    "rootdir": "/project",
    "git": {"commit": "0123456789abcdef0123", "dirty": True, "branch": "main"},
    "machine": {"host": "lab1", "platform": "Linux", "python": "3.11.7", "cpus": 16},
    "devices": ["cuda:0", "cpu"],
    "packages": {"pytest": "9.2.0", "mlflow": "3.17.2"},
    "scale": "smoke",
    "extra": {"team": "<vision>"},
}


def _case(hid: str = "hyp_a", lr: float = 0.1, seed: int = 0, **kw: object) -> CaseRecord:
    fields: dict[str, object] = {
        "hypothesis": hid,
        "nodeid": f"t.py::test[{lr}-seed{seed}]",
        "name": f"{hid}[lr={lr},seed={seed}]",
        "params": {"lr": lr},
        "seed": seed,
        "metrics": {"acc": 0.9 + lr / 10 + seed / 100},
        "duration": 1.5,
        "verdict": "VALIDATED",
    }
    fields.update(kw)
    return CaseRecord(**fields)  # type: ignore[arg-type]


def test_header_and_counts() -> None:
    results = group_by_hypothesis([_case(), _case("hyp_b", verdict="REJECTED")])
    view = build_view(results, META, Path("/project/grd-report"), plots=False)
    header = dict(view.header)
    assert header["git commit"] == "0123456789ab on main (dirty: uncommitted changes)"
    assert header["machine"] == "lab1, Linux, Python 3.11.7, 16 CPUs"
    assert header["GPU"] == "cuda:0"
    assert header["scale"] == "smoke"
    assert header["team"] == "<vision>"
    assert view.counts == {"VALIDATED": 1, "REJECTED": 1, "INCONCLUSIVE": 0}
    assert view.packages == [("mlflow", "3.17.2"), ("pytest", "9.2.0")]


def test_run_links_only_for_http_servers() -> None:
    assert (
        run_url("http://mlflow:5000/", "3", "abc") == "http://mlflow:5000/#/experiments/3/runs/abc"
    )
    assert run_url("sqlite:///m.db", "3", "abc") is None
    assert run_url("https://x", None, "abc") is None
    case = _case(run_id="r1" * 16, experiment_id="7", tracking_uri="https://ml.example")
    html = render_html(build_view(group_by_hypothesis([case]), META, Path("/o"), plots=False))
    assert f'<a href="https://ml.example/#/experiments/7/runs/{"r1" * 16}">' in html
    local = _case(run_id="abc", experiment_id="7", tracking_uri="sqlite:///m.db")
    html = render_html(build_view(group_by_hypothesis([local]), META, Path("/o"), plots=False))
    assert "<code>abc</code>" in html and "#/experiments" not in html


def test_statistics_rows() -> None:
    result = HypothesisResult(
        id="h",
        claim="",
        verdict="VALIDATED",
        reason="",
        cases=[_case("h")],
        stats={
            "test": "welch",
            "p_value": 0.0123,
            "p_adjusted": 0.0246,
            "ci": [0.011, 0.031],
            "confidence": 0.95,
            "n": [5, 5],
            "effect_size": {"name": "cohen_d", "value": 1.234},
            "prob_improvement": 0.87,
            "suggested_n": None,
        },
    )
    rows = dict(build_view([result], META, Path("/o"), plots=False).hypotheses[0].stats)
    assert rows == {
        "test": "welch",
        "p": "0.0123",
        "p (adjusted)": "0.0246",
        "95% confidence interval": "[0.011, 0.031]",
        "n": "5 vs 5",
        "effect size (cohen_d)": "1.234",
        "P(improvement)": "0.87",
    }


def test_lineage_deduplicated_and_artifacts_linked_relative(tmp_path: Path) -> None:
    entry = {
        "target": "data/train.csv",
        "path": "data/train.csv",
        "rev_requested": "v1",
        "rev_resolved": "abcdef0123456789",
        "md5": "d41d8",
        "size": 10,
        "source": "dvc",
        "versioned": True,
        "schema": {"cols": 3},
        "validation": "passed",
    }
    nb = str(tmp_path / "runs" / "executed.ipynb")
    cases = [
        _case(seed=0, lineage=[entry], kind="notebook", artifacts=[nb]),
        _case(seed=1, lineage=[entry], kind="notebook", artifacts=["s3://bucket/model.pt"]),
    ]
    meta = {**META, "rootdir": str(tmp_path)}
    h = build_view(group_by_hypothesis(cases), meta, tmp_path / "grd-report", False).hypotheses[0]
    assert len(h.lineage) == 1
    assert h.lineage[0]["cases"] == "2"
    assert h.lineage[0]["versioned"] == "yes"
    assert h.lineage[0]["schema"] == "cols=3"
    assert h.notebooks == [(nb, "../runs/executed.ipynb")]
    assert h.artifacts == [("s3://bucket/model.pt", None)]


def test_markdown_escapes_user_text_and_caps_rows() -> None:
    assert escape("a|b <script>*x*_y_ [l](u)") == ("a\\|b &lt;script&gt;\\*x\\*\\_y\\_ \\[l\\](u)")
    assert code("a`b|c") == "`` a`b\\|c ``"
    cases = [_case(lr=i / 100, reason="<b>") for i in range(MAX_CASE_ROWS + 5)]
    results = group_by_hypothesis(cases)
    md = render_markdown(build_view(results, META, Path("/o"), plots=False))
    assert md.count("`hyp_a[lr=") == MAX_CASE_ROWS
    assert "… and 5 more case(s) in report.html / report.json." in md
    assert "<b>" not in md
    assert "Commit 0123456789ab on main (dirty: uncommitted changes)" in md


def test_plots_are_planned_only_where_they_help_and_capped() -> None:
    single = group_by_hypothesis([_case()])[0]
    assert plan_plots(single, {}) == []
    two_points = group_by_hypothesis([_case(lr=0.1), _case(lr=0.2)])[0]
    assert plan_plots(two_points, {}) == []  # nothing to sweep, no seeds, no reference
    sweep = group_by_hypothesis([_case(lr=lr, seed=s) for lr in (0.1, 0.2, 0.3) for s in (0, 1)])
    plans = plan_plots(sweep[0], {})
    assert [(p["kind"], p["metric"]) for p in plans] == [("sweep", "acc"), ("spread", "acc")]
    many = [
        _case(f"h{h}", lr=lr, seed=s, metrics={"acc": 1.0 + lr, "loss": 2.0, "f1": 0.3})
        for h in range(12)
        for lr in (0.1, 0.2, 0.3)
        for s in (0, 1)
    ]
    results = group_by_hypothesis(many)
    assert all(len(plan_plots(r, {})) <= MAX_PLOTS_PER_HYPOTHESIS for r in results)
    view = build_view(results, META, Path("/o"), plots=True)
    made = sum(len(h.plots) for h in view.hypotheses)
    assert made == MAX_PLOTS
    assert all(h.plots for h in view.hypotheses)  # every hypothesis gets its first plot
    assert any("left out" in note for note in view.notes)


def test_write_and_load_round_trip(tmp_path: Path) -> None:
    results = group_by_hypothesis([_case(lr=lr, seed=s) for lr in (0.1, 0.2, 0.3) for s in (0, 1)])
    results[0].stats = {"test": "welch", "p_value": 0.01}
    paths = write_report(results, META, tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == ["report.html", "report.json", "report.md"]
    html = paths["html"].read_text()
    assert html.count("data:image/png;base64,") == 2
    assert "&lt;vision&gt;" in html
    loaded, meta = load_report(tmp_path / "out")
    assert meta == META
    assert [c.to_dict() for c in loaded[0].cases] == [c.to_dict() for c in results[0].cases]
    assert loaded[0].stats == {"test": "welch", "p_value": 0.01}
    # grd report regenerates the same files from report.json.
    write_report(loaded, meta, tmp_path / "again")
    assert (tmp_path / "again" / "report.md").read_text() == paths["md"].read_text()


def test_load_report_errors(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="does not exist"):
        load_report(tmp_path / "none.json")
    bad = tmp_path / "report.json"
    bad.write_text("{")
    with pytest.raises(ReportError, match="not JSON"):
        load_report(bad)
    bad.write_text(json.dumps({"format": "pytest-grd-report", "schema_version": 99}))
    with pytest.raises(ReportError, match="upgrade pytest-grd"):
        load_report(bad)
    bad.write_text(
        json.dumps(
            {"format": "pytest-grd-report", "schema_version": 1, "hypotheses": [{"claim": "no id"}]}
        )
    )
    with pytest.raises(ReportError, match="malformed hypothesis entry"):
        load_report(bad)


def test_fmt_value() -> None:
    assert fmt_value(0.123456) == "0.1235"
    assert fmt_value(float("nan")) == "nan"
    assert fmt_value(True) == "yes"
    assert fmt_value([1, 0.5]) == "[1, 0.5]"
    assert fmt_value(None) == ""
