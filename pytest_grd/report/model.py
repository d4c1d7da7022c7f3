"""What a report shows, before it is HTML or Markdown.

:func:`build_view` turns results and the session metadata into plain view
objects (formatted strings, links, plots) that the HTML template and the
Markdown writer both render, so the two say the same thing.  Pure logic: no
pytest import; text is *not* escaped here (each renderer escapes for its
format).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..record import LINEAGE_KEYS, CaseRecord, HypothesisResult
from ..verdict import Verdict

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

_STAT_LABELS = {
    "test": "test",
    "alternative": "alternative",
    "metric": "metric",
    "than": "compared with",
    "n": "n",
    "statistic": "statistic",
    "p_value": "p",
    "p_adjusted": "p (adjusted)",
    "correction": "correction",
    "ci": "confidence interval",
    "alpha": "alpha",
    "min_effect": "minimum effect",
    "effect_size": "effect size",
    "prob_improvement": "P(improvement)",
    "decision_rule": "decision rule",
    "suggested_n": "suggested n",
}


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
    """One hypothesis section."""

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
    try:
        rel = os.path.relpath(path, out_dir)
    except ValueError:  # another drive on Windows
        return target, None
    return target, quote(Path(rel).as_posix())


def _stats_rows(stats: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    if not stats:
        return []
    rows: list[tuple[str, str]] = []
    for key, value in stats.items():
        if value is None or key == "confidence":
            continue
        label = _STAT_LABELS.get(key, key)
        if key == "ci" and isinstance(value, (list, tuple)) and len(value) == 2:
            level = stats.get("confidence")
            if isinstance(level, (int, float)):
                label = f"{level:.0%} confidence interval"
            text = f"[{fmt_value(value[0])}, {fmt_value(value[1])}]"
        elif key == "effect_size" and isinstance(value, Mapping):
            name = value.get("name")
            label = f"effect size ({name})" if name else label
            text = fmt_value(value.get("value"))
        elif key == "n" and isinstance(value, (list, tuple)):
            text = " vs ".join(fmt_value(v) for v in value)
        else:
            text = fmt_value(value)
        rows.append((label, text))
    return rows


def _lineage(cases: Sequence[CaseRecord]) -> list[dict[str, str]]:
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


def _hypothesis_view(
    result: HypothesisResult,
    root: Path,
    out_dir: Path,
    discrepancies: list[str],
) -> HypothesisView:
    cases = result.cases
    params = _columns(cases, "params")
    metrics = _columns(cases, "metrics")
    shown_params = params[:MAX_PARAM_COLUMNS]
    shown_metrics = metrics[:MAX_METRIC_COLUMNS]
    rows = []
    for case in cases:
        rows.append(
            CaseRow(
                name=case.name,
                nodeid=case.nodeid,
                params=[fmt_value(case.params.get(p)) for p in shown_params],
                seed="" if case.seed is None else str(case.seed),
                metrics=[fmt_value(case.metrics.get(m)) for m in shown_metrics],
                verdict=case.verdict,
                reason=case.reason,
                duration=_fmt_duration(case.duration),
                run_id=case.run_id or "",
                run_url=run_url(case.tracking_uri, case.experiment_id, case.run_id),
                artifacts=[_link(a, root, out_dir) for a in case.artifacts],
            )
        )
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
    return HypothesisView(
        id=result.id,
        anchor=_anchor(result.id),
        claim=result.claim,
        verdict=result.verdict,
        reason=result.reason,
        kind=first.kind if first else "function",
        location=first.location if first else "",
        counts=result.counts,
        stats=_stats_rows(result.stats),
        param_columns=shown_params,
        metric_columns=shown_metrics,
        hidden_metrics=len(metrics) - len(shown_metrics),
        rows=rows,
        lineage=_lineage(cases),
        artifacts=artifacts,
        notebooks=notebooks,
        parent_run_url=run_url(
            first.tracking_uri if first else None,
            first.experiment_id if first else None,
            result.parent_run_id,
        ),
        parent_run_id=result.parent_run_id or "",
        discrepancies=discrepancies,
    )


def _header(meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    git = meta.get("git") or {}
    commit = git.get("commit")
    if commit:
        state = " (dirty: uncommitted changes)" if git.get("dirty") else " (clean)"
        branch = f" on {git['branch']}" if git.get("branch") else ""
        git_text = f"{commit[:12]}{branch}{state}"
    else:
        git_text = "not a git repository"
    machine = meta.get("machine") or {}
    if not isinstance(machine, Mapping):  # a report rebuilt from a store: just the host
        machine = {"host": str(machine)}
    machine_text = ", ".join(
        str(x)
        for x in (
            machine.get("host"),
            machine.get("platform"),
            f"Python {machine['python']}" if machine.get("python") else None,
            f"{machine['cpus']} CPUs" if machine.get("cpus") else None,
        )
        if x
    )
    devices = meta.get("devices") or []
    gpus = [d for d in devices if d != "cpu"]
    rows = [
        ("date", str(meta.get("date", ""))),
        ("git commit", git_text),
        ("command", str(meta.get("command", ""))),
        ("machine", machine_text),
        ("GPU", ", ".join(gpus) if gpus else "none used"),
        ("scale", str(meta.get("scale", "full"))),
    ]
    if meta.get("regenerated_from"):
        rows.append(("regenerated from", str(meta["regenerated_from"])))
    for key, value in (meta.get("extra") or {}).items():
        rows.append((str(key), fmt_value(value)))
    return rows


def build_view(
    results: Sequence[HypothesisResult],
    meta: Mapping[str, Any],
    out_dir: Path,
    plots: bool = True,
) -> ReportView:
    """The report's content; ``plots=False`` leaves images out (Markdown)."""
    root = Path(meta.get("rootdir") or ".")
    baseline = meta.get("baseline")
    by_hyp: dict[str, list[str]] = {}
    if baseline:
        for d in baseline.get("discrepancies", []):
            where = d.get("case") or d.get("hypothesis")
            by_hyp.setdefault(d["hypothesis"], []).append(
                f"{d['kind'].upper()} {where}: {d['message']}"
            )
    hypotheses = [_hypothesis_view(r, root, out_dir, by_hyp.get(r.id, [])) for r in results]
    notes = [str(n) for n in meta.get("notes", [])]
    if plots:
        from .plots import attach_plots

        reference = (baseline or {}).get("reference", {})
        notes += attach_plots(hypotheses, results, reference)
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
        header=_header(meta),
        packages=[(str(k), str(v)) for k, v in packages],
        counts=counts,
        case_counts=case_counts,
        hypotheses=hypotheses,
        baseline=baseline,
        notes=notes,
    )
