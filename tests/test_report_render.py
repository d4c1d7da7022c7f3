"""Report rendering, pure: view model, HTML, Markdown, JSON round trip, plots."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_grd.natural import natural_key, value_key
from pytest_grd.record import CaseRecord, HypothesisResult, group_by_hypothesis
from pytest_grd.report.markdown import MAX_CASE_ROWS, code, escape, render_markdown
from pytest_grd.report.model import build_view, fmt_value, run_url
from pytest_grd.report.plots import (
    MAX_PLOTS,
    MAX_PLOTS_PER_HYPOTHESIS,
    arm_slots,
    group_values,
    plan_plots,
)
from pytest_grd.report.render import ReportError, load_report, render_html, write_report
from pytest_grd.stats.decide import apply_decisions
from pytest_grd.stats.rules import greater

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
    rows = build_view([result], META, Path("/o"), plots=False).hypotheses[0].stats
    assert rows == [
        ("test", "Welch's t-test"),
        ("95% confidence interval of the effect", "[0.011, 0.031]"),
        ("p-value (adjusted)", "0.0246"),
        ("p-value", "0.0123"),
        ("effect size (cohen d)", "1.234"),
        ("probability of improvement", "0.87"),
        ("n", "5 vs 5"),
    ]


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
    # Shown relative to the project root, linked relative to the report folder.
    assert h.notebooks == [("runs/executed.ipynb", "../runs/executed.ipynb")]
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


# -- natural sort ---------------------------------------------------------------


def test_natural_key_orders_numbers_by_value() -> None:
    texts = ["seed=19", "seed=2", "C=100", "C=3", "lr=0.01", "lr=0.001", "lr=1e-05", "lr=-0.5"]
    texts += ["run-10", "run-2", "B", "a"]
    assert sorted(texts, key=natural_key) == [
        "a",
        "B",
        "C=3",
        "C=100",
        "lr=-0.5",
        "lr=1e-05",
        "lr=0.001",
        "lr=0.01",
        "run-2",  # a hyphen inside a name is no minus sign
        "run-10",
        "seed=2",
        "seed=19",
    ]
    assert natural_key("01") != natural_key("1")  # equal numbers, the text breaks the tie
    assert sorted([100, "x", 3, None, 0.5, 1e-05], key=value_key) == [None, 1e-05, 0.5, 3, 100, "x"]


# A digit run that stands on its own: not continuing a number (digit, decimal
# point, exponent) and not signed.
_PREFIX = st.text().filter(lambda p: not p or p[-1] not in "0123456789.-+eE")
_SUFFIX = st.text().filter(lambda s: not s[:1].isdigit())


@given(_PREFIX, _SUFFIX, st.integers(0, 10**40), st.integers(0, 10**40))
def test_natural_key_follows_integer_order_of_digit_runs(
    prefix: str, suffix: str, a: int, b: int
) -> None:
    ka, kb = natural_key(f"{prefix}{a}{suffix}"), natural_key(f"{prefix}{b}{suffix}")
    assert (ka < kb) == (a < b)
    assert (ka == kb) == (a == b)


@given(st.lists(st.text(alphabet="0129.-+eE=, aB_") | st.text(), max_size=12))
def test_natural_key_is_a_total_order(texts: list[str]) -> None:
    ordered = sorted(texts, key=natural_key)  # every pair of keys compares
    assert all(natural_key(x) <= natural_key(y) for x, y in itertools.pairwise(ordered))
    for x in texts:
        for y in texts:
            assert (natural_key(x) == natural_key(y)) == (x == y)
            assert (natural_key(x) < natural_key(y)) != (natural_key(y) <= natural_key(x))


# -- evidence first -------------------------------------------------------------


def _comparison(params: dict[str, object] | None = None) -> list[HypothesisResult]:
    """``new`` decided against its reference arm ``ref`` (5 seeds each,
    listed out of order), and an undecided sweep ``hyp_10`` / ``hyp_9``."""
    rule = greater("acc", than="ref", min_effect=0.01).to_dict()
    cases = []
    for s in (19, 2, 3, 10, 1):
        for hid, base in (("new", 0.95), ("ref", 0.90)):
            cases.append(
                _case(
                    hid,
                    seed=s,
                    params=dict(params or {}),
                    name=f"{hid}[seed={s}]",
                    nodeid=f"t.py::{hid}[seed{s}]",
                    metrics={"acc": base + (s % 4) / 200},
                    claim=f"claim of {hid}",
                    decide=rule if hid == "new" else None,
                    verdict="MEASURED" if hid == "new" else "VALIDATED",
                    family_size=2,
                )
            )
    cases += [_case(h, lr=lr, claim=f"claim of {h}") for h in ("hyp_10", "hyp_9") for lr in (1, 2)]
    results = group_by_hypothesis(cases)
    apply_decisions(results)
    return results


def test_summary_rows_show_claim_verdict_and_effect_first() -> None:
    view = build_view(_comparison(), META, Path("/o"), plots=False)
    by_id = {h.id: h for h in view.hypotheses}
    assert list(by_id) == ["hyp_9", "hyp_10", "new", "ref"]  # natural; the reference arm last
    new, ref = by_id["new"], by_id["ref"]
    assert new.verdict == "VALIDATED"
    assert new.effect.startswith("acc +0.0") and new.effect.endswith(" vs ref")
    assert new.interval.startswith("90% CI [0.0")
    assert new.p_text.startswith("p = ") and "(Holm-adjusted, 2 tests)" in new.p_text
    assert ref.reference_arm and ref.reference_of == ["new"]
    assert ref.note == "reference arm of new"
    assert ref.effect == "acc 0.9110 ± 0.0042 (n = 5)"  # undecided: mean ± sd (n)
    assert by_id["hyp_9"].effect == "acc 1.050 ± 0.071 (n = 2)"
    assert by_id["hyp_9"].metric_summary == [("acc", "1.050 ± 0.071", "2", "1 – 1.1")]
    html = render_html(view)
    top = html[html.index('id="grd-summary"') : html.index("</table>")]
    assert html.index('id="grd-summary"') < html.index('class="hyp"')
    for h in view.hypotheses:
        assert f">{h.id}</a>" in top and f">claim of {h.id}<" in top
        assert f'<span class="verdict {h.verdict}">{h.verdict}</span>' in top
        assert f"<b>{h.effect}</b>" in top
    assert new.interval in top and new.p_text in top
    assert top.index(">hyp_10</a>") < top.index("Reference arms") < top.index(">ref</a>")


def test_sequential_effect_says_when_it_was_decided() -> None:
    stats = {"sequential": True, "metric": "acc", "than": "ref", "estimate": 0.092}
    stats |= {"ci": [0.015, 0.169], "confidence": 0.95, "seeds_used": 4, "max_seeds": 20}
    result = HypothesisResult("seq", "c", "VALIDATED", "", [_case("seq")], stats=stats)
    h = build_view([result], META, Path("/o"), plots=False).hypotheses[0]
    assert h.effect == "acc +0.0920 vs ref"  # to the interval's precision
    assert h.interval == "95% anytime-valid CI [0.0150, 0.1690]"
    assert (h.p_text, h.note) == ("", "decided after 4 of 20 seeds")
    labels = dict(h.stats)
    assert labels["95% anytime-valid confidence sequence of the effect"] == "[0.015, 0.169]"
    assert labels["seeds used"] == "4"
    # A test without an interval (Mann-Whitney) still shows its effect and p.
    stats = {"metric": "acc", "than": 0.9, "estimate": 0.05, "p_value": 0.0123, "ci": None}
    result = HypothesisResult("mw", "c", "VALIDATED", "", [_case("mw")], stats=stats)
    h = build_view([result], META, Path("/o"), plots=False).hypotheses[0]
    assert (h.effect, h.interval, h.p_text) == ("acc +0.05 vs 0.9", "", "p = 0.012")


def test_statistics_show_readable_labels_only() -> None:
    results = _comparison()
    stats = next(r for r in results if r.id == "new").stats or {}
    internal = {"p_value_against", "family_size", "refused", "df", "p_adjusted", "prob_improvement"}
    assert internal <= set(stats)
    view = build_view(results, META, Path("/o"), plots=False)
    rows = dict(next(h for h in view.hypotheses if h.id == "new").stats)
    assert not (set(stats) - {"metric", "test", "n", "threshold"}) & set(rows)
    assert rows["p-value (Holm-adjusted)"] and rows["p-value against the claim"]
    assert rows["family size"] == "2" and rows["test refused"] == "no"
    assert rows["degrees of freedom"] and rows["test"] == "Welch's t-test"
    html = render_html(view)
    for key in internal:
        assert f'<th scope="row">{key}</th>' not in html
    for key in {k for k in stats if "_" in k}:  # raw in no label and no text
        assert key not in html.replace("min_effect=", ""), key  # (the rule as written)
    odd = HypothesisResult("h", "", "VALIDATED", "", [_case("h")], stats={"new_thing_x": 1})
    assert build_view([odd], META, Path("/o"), False).hypotheses[0].stats == [("new thing x", "1")]


def test_cases_and_plot_groups_sort_naturally() -> None:
    cases = [
        _case(params={"C": c}, seed=s, name=f"hyp_a[C={c},seed={s}]", nodeid=f"t.py::t[{c}-{s}]")
        for c in (100, 3, 0.01)
        for s in (19, 2)
    ]
    result = group_by_hypothesis(cases)[0]
    h = build_view([result], META, Path("/o"), plots=False).hypotheses[0]
    assert [(r.params, r.seed) for r in h.rows] == [
        (["0.01"], "2"),
        (["0.01"], "19"),
        (["3"], "2"),
        (["3"], "19"),
        (["100"], "2"),
        (["100"], "19"),
    ]
    html = render_html(build_view([result], META, Path("/o"), plots=False))
    names = [f">hyp_a[C={c},seed={s}]<" for c in (0.01, 3, 100) for s in (2, 19)]
    assert [html.index(n) for n in names] == sorted(html.index(n) for n in names)
    groups = group_values(result.cases, "acc")
    assert list(groups) == ["C=0.01", "C=3", "C=100"]
    assert [seed for seed, _ in groups["C=3"]] == [2, 19]
    models = [_case(params={"model": m}, seed=0) for m in ("resnet10", "resnet2", "Resnet3")]
    assert list(group_values(models, "acc")) == ["model=resnet2", "model=Resnet3", "model=resnet10"]


def test_comparison_plots_both_arms_side_by_side() -> None:
    results = _comparison()
    by_id = {r.id: r for r in results}
    new, ref = by_id["new"], by_id["ref"]
    assert plan_plots(new, {}, by_id)[0] == {
        "kind": "arms",
        "metric": "acc",
        "param": None,
        "than": "ref",
    }
    assert all(p["kind"] != "arms" for p in plan_plots(new, {}))  # the other arm is unknown
    assert plan_plots(ref, {}, by_id) == []  # its spread is in the comparison's plot
    slots = arm_slots(new, ref, "acc")
    assert [(group, arm) for group, arm, _ in slots] == [("all", "new"), ("all", "ref")]
    assert [seed for seed, _ in slots[0][2]] == [1, 2, 3, 10, 19]
    assert [v for _, v in slots[1][2]] == pytest.approx([0.905, 0.91, 0.915, 0.91, 0.915])
    swept = {r.id: r for r in _comparison({"lr": 0.1})}
    assert [(g, a) for g, a, _ in arm_slots(swept["new"], swept["ref"], "acc")] == [
        ("lr=0.1", "new"),
        ("lr=0.1", "ref"),
    ]
    view = build_view(results, META, Path("/o"), plots=True)
    plots = next(h for h in view.hypotheses if h.id == "new").plots
    assert plots[0].title == "acc: new vs ref, per seed"
    assert "of new and ref side by side" in plots[0].alt


def test_paths_are_shown_relative(tmp_path: Path) -> None:
    entry = {"target": "data/x.csv", "path": str(tmp_path / "data" / "x.csv")}
    case = _case(location=f"{tmp_path}/exp/test_a.py:12", lineage=[entry])
    case.artifacts = [str(tmp_path / "out" / "model.pt"), str(tmp_path.parent / "elsewhere.txt")]
    baseline = {"path": str(tmp_path / "b.json"), "scale": "full", "discrepancies": []}
    baseline |= {"compared_hypotheses": 1, "compared_cases": 2, "new": [], "skipped": []}
    meta = {**META, "rootdir": str(tmp_path / "exp"), "baseline": baseline}
    view = build_view(group_by_hypothesis([case]), meta, tmp_path / "out", plots=False)
    h = view.hypotheses[0]
    assert h.location == "test_a.py:12"
    assert h.lineage[0]["path"] == "../data/x.csv"  # outside the root: from the report folder
    assert h.artifacts == [("model.pt", "model.pt"), ("../../elsewhere.txt", "../../elsewhere.txt")]
    assert view.baseline is not None and view.baseline["path"] == "../b.json"
    html = render_html(view)
    assert str(tmp_path) not in html.replace(META["command"], "")  # type: ignore[arg-type]


def test_markdown_summary_has_the_effect() -> None:
    md = render_markdown(build_view(_comparison(), META, Path("/o"), plots=False))
    assert "| hypothesis | verdict | claim | effect | reason |" in md
    assert "| `ref` | ✅ **VALIDATED** | claim of ref | **acc 0.9110 ± 0.0042 (n = 5)**; " in md
    assert "<details><summary>Cases (5)</summary>" in md
