"""What a report shows, before it is HTML or Markdown.

:func:`build_view` turns results and the session metadata into plain view
objects (formatted strings, links, plots) that the HTML template and the
Markdown writer both render, so the two say the same thing.  Evidence first:
each hypothesis carries its one-line effect (the effect and its interval when
a rule decided it, mean ± sd and n of its first metric otherwise); claims come
before the reference arms they are compared with; parameters and seeds sort
naturally (``seed=2`` before ``seed=19``).  Pure logic: no pytest import; text
is *not* escaped here (each renderer escapes for its format).
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..natural import natural_key, value_key
from ..record import LINEAGE_KEYS, CaseRecord, HypothesisResult
from ..verdict import Verdict
from .meta import header_rows, stats_rows

__all__ = [
    "CaseRow",
    "HypothesisView",
    "Plot",
    "ReportView",
    "build_view",
    "fmt_value",
    "run_url",
]

#: Metric columns shown per hypothesis; the rest stay in report.json.
MAX_METRIC_COLUMNS = 8
#: Parameter columns shown per hypothesis.
MAX_PARAM_COLUMNS = 8
#: The verdict word of a case a sequential decision did not need.
NOT_NEEDED = "NOT NEEDED"


@dataclass
class Plot:
    """One image of a hypothesis section."""

    title: str
    alt: str
    png_base64: str


@dataclass
class CaseRow:
    """One row of a hypothesis's case table, every cell already a string."""

    name: str
    nodeid: str
    params: list[str]
    seed: str
    metrics: list[str]
    verdict: str
    reason: str
    duration: str
    run_id: str
    run_url: str | None
    artifacts: list[tuple[str, str | None]]


@dataclass
class HypothesisView:
    """One hypothesis: its row of the summary table and its section."""

    id: str
    anchor: str
    claim: str
    verdict: str
    reason: str
    kind: str
    location: str
    counts: dict[str, int]
    stats: list[tuple[str, str]]
    param_columns: list[str]
    metric_columns: list[str]
    hidden_metrics: int
    rows: list[CaseRow]
    lineage: list[dict[str, str]]
    artifacts: list[tuple[str, str | None]]
    notebooks: list[tuple[str, str | None]]
    parent_run_url: str | None
    parent_run_id: str
    discrepancies: list[str]
    plots: list[Plot] = field(default_factory=list)
    #: "auc +0.0566 vs tree_baseline", or "auc 0.952 ± 0.012 (n = 4)".
    effect: str = ""
    #: "90% CI [0.0332, 0.0801]" when a rule measured the effect.
    interval: str = ""
    #: The p-value the verdict rests on: "0.0113 (Holm-adjusted, 2 tests)".
    p_text: str = ""
    #: "decided after 4 of 20 seeds", "reference arm of hyp_007".
    note: str = ""
    #: The hypotheses compared with this one (``than=``).
    reference_of: list[str] = field(default_factory=list)
    #: Only a reference arm: compared with, without a rule of its own (listed last).
    reference_arm: bool = False
    #: (metric, mean ± sd, n, min – max) over the cases that ran.
    metric_summary: list[tuple[str, str, str, str]] = field(default_factory=list)


@dataclass
class ReportView:
    """The whole report."""

    title: str
    header: list[tuple[str, str]]
    packages: list[tuple[str, str]]
    counts: dict[str, int]
    case_counts: dict[str, int]
    hypotheses: list[HypothesisView]
    baseline: dict[str, Any] | None
    notes: list[str]


def fmt_value(value: Any) -> str:
    """A compact rendering of a number, list or value for a table cell."""
    if type(value) is float:  # the common case first: a metric
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={fmt_value(v)}" for k, v in value.items())
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _decimals(spread: float) -> int:
    """Decimal places that show ``spread`` with two significant digits."""
    if not math.isfinite(spread) or spread <= 0:
        return 4
    return min(max(1 - math.floor(math.log10(spread)), 0), 12)


def mean_sd(values: Sequence[float]) -> str:
    """``0.952 ± 0.012``: the mean to the precision of the (sample) sd."""
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return fmt_value(mean)
    sd = statistics.stdev(values)
    places = _decimals(sd)
    return f"{mean:.{places}f} ± {sd:.{places}f}"


def _fmt_duration(seconds: float) -> str:
    if seconds <= 0:
        return ""
    if seconds < 0.01:
        return "<0.01 s"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)} min {sec:.0f} s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)} h {int(minutes)} min"


def run_url(tracking_uri: str | None, experiment_id: str | None, run_id: str | None) -> str | None:
    """The MLflow UI page of a run, when the tracking URI is an http(s) server."""
    if not tracking_uri or not run_id or not experiment_id:
        return None
    if not tracking_uri.startswith(("http://", "https://")):
        return None
    return (
        f"{tracking_uri.rstrip('/')}/#/experiments/{quote(str(experiment_id), safe='')}"
        f"/runs/{quote(str(run_id), safe='')}"
    )


def shown_path(target: str, root: Path, out_dir: Path) -> str:
    """A local path as the report shows it: relative to the project root when
    inside it, else to the report folder; never an absolute machine path."""
    path = Path(target)
    if not path.is_absolute():
        return path.as_posix()  # already relative to the root
    for base in (root, out_dir):
        if base.is_absolute() and path.is_relative_to(base):
            return path.relative_to(base).as_posix()
    try:
        return Path(os.path.relpath(path, out_dir)).as_posix()
    except ValueError:  # another drive on Windows
        return path.name


def _link(target: str, root: Path, out_dir: Path) -> tuple[str, str | None]:
    """An artifact as (label, href): http(s) as is, local files relative to
    the report folder (so the folder can be moved with its artifacts), other
    schemes as text."""
    if target.startswith(("http://", "https://")):
        return target, target
    if "://" in target or target.startswith(("mlflow-artifacts:", "dbfs:")):
        return target, None
    path = Path(target)
    if not path.is_absolute():
        path = root / path
    label = shown_path(target, root, out_dir)
    try:
        rel = os.path.relpath(path, out_dir)
    except ValueError:  # another drive on Windows
        return label, None
    return label, quote(Path(rel).as_posix())


def _location(location: str, root: Path, out_dir: Path) -> str:
    """``file:line`` with the file shown relative (see :func:`shown_path`)."""
    file, sep, line = location.rpartition(":")
    if not sep or not line.isdigit():
        return shown_path(location, root, out_dir) if location else ""
    return f"{shown_path(file, root, out_dir)}:{line}"


def _lineage(cases: Sequence[CaseRecord], root: Path, out_dir: Path) -> list[dict[str, str]]:
    """Distinct lineage entries of a hypothesis, with how many cases read each."""
    seen: dict[Any, dict[str, str]] = {}
    counts: dict[Any, int] = {}
    for case in cases:
        for entry in case.lineage:
            if not isinstance(entry, Mapping):
                continue
            key: Any = tuple(entry.get(k) for k in LINEAGE_KEYS)
            try:
                hash(key)
            except TypeError:  # a schema or validation given as a dict
                key = repr(key)
            if key not in seen:
                seen[key] = {k: fmt_value(entry.get(k)) for k in LINEAGE_KEYS}
                if isinstance(entry.get("path"), str):
                    seen[key]["path"] = shown_path(entry["path"], root, out_dir)
            counts[key] = counts.get(key, 0) + 1
    return [{**row, "cases": str(counts[key])} for key, row in seen.items()]


def _columns(cases: Iterable[CaseRecord], attr: str) -> list[str]:
    seen: dict[str, None] = {}
    for case in cases:
        for key in getattr(case, attr):
            seen.setdefault(key, None)
    return list(seen)


def _anchor(hid: str) -> str:
    return "hyp-" + "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in hid)


def _values(cases: Iterable[CaseRecord], metric: str) -> list[float]:
    return [v for c in cases if (v := _number(c.metrics.get(metric))) is not None]


def _metric_summary(
    cases: Sequence[CaseRecord], metrics: list[str]
) -> list[tuple[str, str, str, str]]:
    rows = []
    for metric in metrics:
        values = _values(cases, metric)
        if values:
            spread = f"{fmt_value(min(values))} – {fmt_value(max(values))}" if values[1:] else ""
            rows.append((metric, mean_sd(values), str(len(values)), spread))
    return rows


def _than(result: HypothesisResult) -> Any:
    """The ``than=`` of a hypothesis's rule (a hypothesis id or a number)."""
    if result.stats and result.stats.get("than") is not None:
        return result.stats["than"]
    return next((c.decide.get("than") for c in result.cases if c.decide), None)


def _p_text(stats: Mapping[str, Any]) -> str:
    """The p-value a decision rests on: adjusted when the family was corrected."""
    p_adj, p_raw = _number(stats.get("p_adjusted")), _number(stats.get("p_value"))
    correction = str(stats.get("correction") or "none")
    if p_adj is not None and correction != "none":
        name = {"holm": "Holm", "bh": "BH"}.get(correction, correction)
        return f"p = {p_adj:.2g} ({name}-adjusted, {stats.get('family_size', '?')} tests)"
    return f"p = {p_raw:.2g}" if p_raw is not None else ""


def _effect(result: HypothesisResult, metrics: list[str]) -> tuple[str, str, str, str]:
    """The summary row's effect, interval, p-value and note."""
    stats = result.stats or {}
    metric = stats.get("metric") if isinstance(stats.get("metric"), str) else None
    note = ""
    if stats.get("sequential"):
        used, most = stats.get("seeds_used"), stats.get("max_seeds")
        decided = "decided" if stats.get("decided", True) else "undecided"
        note = f"{decided} after {used} of {most} seeds"
    estimate = _number(stats.get("estimate"))
    if estimate is None or stats.get("refused"):  # no effect measured: the metric's spread
        metric = metric or next((m for m in metrics if _values(result.evidence, m)), None)
        values = _values(result.evidence, metric) if metric else []
        if not values:
            return "", "", "", note
        return f"{metric} {mean_sd(values)} (n = {len(values)})", "", "", note
    ci = stats.get("ci") or []
    low, high = (_number(ci[0]), _number(ci[1])) if len(ci) == 2 else (None, None)
    text, interval = f"{estimate:+.4g}", ""
    if low is not None and high is not None:
        places = _decimals((high - low) / 2) + 1  # the interval's precision, not more
        text = f"{estimate:+.{places}f}"
        level = _number(stats.get("confidence"))
        interval = f"{level:.0%} " if level else ""
        interval += "anytime-valid CI" if stats.get("sequential") else "CI"
        interval += f" [{low:.{places}f}, {high:.{places}f}]"
    than = stats.get("than")
    versus = "" if than is None else f" vs {than if isinstance(than, str) else fmt_value(than)}"
    return f"{metric or 'effect'} {text}{versus}", interval, _p_text(stats), note


def _row_key(case: CaseRecord, params: list[str]) -> tuple[Any, ...]:
    """Cases that ran first, then by parameters and seed, naturally."""
    return (
        case.not_needed,
        tuple(value_key(case.params.get(p)) for p in params),
        case.seed is None,
        case.seed if isinstance(case.seed, int) else 0,
        natural_key(case.name),
    )


def _case_row(
    case: CaseRecord, params: list[str], metrics: list[str], root: Path, out_dir: Path
) -> CaseRow:
    return CaseRow(
        name=case.name,
        nodeid=case.nodeid,
        params=[fmt_value(case.params.get(p)) for p in params],
        seed="" if case.seed is None else str(case.seed),
        metrics=[fmt_value(case.metrics.get(m)) for m in metrics],
        verdict=NOT_NEEDED if case.not_needed else case.verdict.value,
        reason=case.reason,
        duration=_fmt_duration(case.duration),
        run_id=case.run_id or "",
        run_url=run_url(case.tracking_uri, case.experiment_id, case.run_id),
        artifacts=[_link(a, root, out_dir) for a in case.artifacts],
    )


def _hypothesis_view(
    result: HypothesisResult,
    root: Path,
    out_dir: Path,
    discrepancies: list[str],
) -> HypothesisView:
    params = _columns(result.cases, "params")
    cases = sorted(result.cases, key=lambda c: _row_key(c, params))
    metrics = _columns(cases, "metrics")
    shown_params = params[:MAX_PARAM_COLUMNS]
    shown_metrics = metrics[:MAX_METRIC_COLUMNS]
    artifacts: list[tuple[str, str | None]] = []
    notebooks: list[tuple[str, str | None]] = []
    for case in cases:
        for target in case.artifacts:
            link = _link(target, root, out_dir)
            if link in artifacts or link in notebooks:
                continue
            if case.kind == "notebook" and target.endswith(".ipynb"):
                notebooks.append(link)
            else:
                artifacts.append(link)
    first = cases[0] if cases else None
    effect, interval, p_text, note = _effect(result, metrics)
    return HypothesisView(
        id=result.id,
        anchor=_anchor(result.id),
        claim=result.claim,
        verdict=result.verdict.value,
        reason=result.reason,
        kind=first.kind if first else "function",
        location=_location(first.location, root, out_dir) if first else "",
        counts=result.counts,
        stats=stats_rows(result.stats),
        param_columns=shown_params,
        metric_columns=shown_metrics,
        hidden_metrics=len(metrics) - len(shown_metrics),
        rows=[_case_row(c, shown_params, shown_metrics, root, out_dir) for c in cases],
        lineage=_lineage(cases, root, out_dir),
        artifacts=artifacts,
        notebooks=notebooks,
        parent_run_url=run_url(
            first.tracking_uri if first else None,
            first.experiment_id if first else None,
            result.parent_run_id,
        ),
        parent_run_id=result.parent_run_id or "",
        discrepancies=discrepancies,
        effect=effect,
        interval=interval,
        p_text=p_text,
        note=note,
        metric_summary=_metric_summary(result.evidence, shown_metrics),
    )


def reference_arms(results: Sequence[HypothesisResult]) -> set[str]:
    """The hypotheses that are only a reference arm: another one is compared
    with them (``than=``) and they have no rule of their own."""
    compared = {t for r in results if isinstance(t := _than(r), str)}
    return {r.id for r in results if r.id in compared and not r.decided}


def order_results(results: Sequence[HypothesisResult]) -> list[HypothesisResult]:
    """Claims first, then the reference arms; ids in natural order."""
    arms = reference_arms(results)
    return sorted(results, key=lambda r: (r.id in arms, natural_key(r.id)))


def build_view(
    results: Sequence[HypothesisResult],
    meta: Mapping[str, Any],
    out_dir: Path,
    plots: bool = True,
) -> ReportView:
    """The report's content; ``plots=False`` leaves images out (Markdown)."""
    root = Path(meta.get("rootdir") or ".")
    baseline = dict(meta["baseline"]) if meta.get("baseline") else None
    by_hyp: dict[str, list[str]] = {}
    if baseline:
        if isinstance(baseline.get("path"), str):
            baseline["path"] = shown_path(baseline["path"], root, out_dir)
        for d in baseline.get("discrepancies", []):
            where = d.get("case") or d.get("hypothesis")
            by_hyp.setdefault(d["hypothesis"], []).append(
                f"{d['kind'].upper()} {where}: {d['message']}"
            )
    ordered, arms = order_results(results), reference_arms(results)
    hypotheses = [_hypothesis_view(r, root, out_dir, by_hyp.get(r.id, [])) for r in ordered]
    by_id = {h.id: h for h in hypotheses}
    for h in hypotheses:
        h.reference_arm = h.id in arms
    for r in ordered:
        if isinstance(than := _than(r), str) and than in by_id:
            by_id[than].reference_of.append(r.id)
    for h in hypotheses:
        if h.reference_of and not h.note:
            h.note = "reference arm of " + ", ".join(h.reference_of)
    notes = [str(n) for n in meta.get("notes", [])]
    if plots:
        from .plots import attach_plots

        reference = (baseline or {}).get("reference", {})
        notes += attach_plots(hypotheses, ordered, reference)
    # A hypothesis ends with one of the three claim words; its cases may also
    # be MEASURED evidence of a decision, counted apart.
    counts = {v.value: 0 for v in (Verdict.VALIDATED, Verdict.REJECTED, Verdict.INCONCLUSIVE)}
    case_counts = {v.value: 0 for v in Verdict}
    for r in results:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
        for verdict, n in r.counts.items():
            case_counts[verdict] = case_counts.get(verdict, 0) + n
    packages = sorted((meta.get("packages") or {}).items())
    return ReportView(
        title="pytest-grd report",
        header=header_rows(meta),
        packages=[(str(k), str(v)) for k, v in packages],
        counts=counts,
        case_counts=case_counts,
        hypotheses=hypotheses,
        baseline=baseline,
        notes=notes,
    )
