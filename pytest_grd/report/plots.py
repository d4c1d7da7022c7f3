"""Plots for a report, where people would rather look than read.

Two kinds, both bounded so that a big session stays fast:

* *sweep*: a metric against a swept numeric parameter (three or more
  distinct values), one point per case and a line through the per-value means,
  one series per combination of the other parameters;
* *spread*: the per-seed values of a metric for each sweep point, next to the
  baseline's values (a red tick) and the decision rule's threshold (a dashed
  line).

matplotlib is imported on first use, through its object-oriented API with the
Agg canvas (no pyplot, no global backend switch).  Pure logic: no pytest import.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..record import CaseRecord, HypothesisResult

if TYPE_CHECKING:
    from .model import HypothesisView

__all__ = [
    "MAX_PLOTS",
    "MAX_PLOTS_PER_HYPOTHESIS",
    "attach_plots",
    "plan_plots",
]

#: Images per hypothesis and per report: each costs tens of milliseconds.
MAX_PLOTS_PER_HYPOTHESIS = 3
MAX_PLOTS = 16
#: Metrics plotted per hypothesis (the decision rule's and baseline's first).
MAX_METRICS = 2
#: Sweep points shown side by side in a spread plot.
MAX_GROUPS = 24
#: Series drawn in a sweep plot before they are merged into one.
MAX_SERIES = 6
#: Points drawn per plot (a deterministic subsample beyond).
MAX_POINTS = 3000


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _metrics(result: HypothesisResult, reference: Mapping[str, Any]) -> list[str]:
    preferred: list[str] = []
    stats_metric = (result.stats or {}).get("metric")
    if isinstance(stats_metric, str):
        preferred.append(stats_metric)
    for case in result.cases[:1]:
        preferred.extend(case.baseline)
    for values in reference.values():
        preferred.extend(values)
    seen: dict[str, None] = {}
    for case in result.cases:
        for name, value in case.metrics.items():
            if _number(value) is not None:
                seen.setdefault(name, None)
    ordered = [m for m in dict.fromkeys(preferred) if m in seen]
    ordered += [m for m in seen if m not in ordered]
    return ordered[:MAX_METRICS]


def _sweep_param(cases: Sequence[CaseRecord]) -> str | None:
    best: tuple[int, str] | None = None
    names: dict[str, None] = {}
    for case in cases:
        for name in case.params:
            names.setdefault(name, None)
    for name in names:
        values = [_number(c.params.get(name)) for c in cases]
        if any(v is None for v in values):
            continue
        distinct = len(set(values))
        if distinct >= 3 and (best is None or distinct > best[0]):
            best = (distinct, name)
    return best[1] if best else None


def _group_label(case: CaseRecord, skip: str | None = None) -> str:
    parts = [f"{k}={v}" for k, v in case.params.items() if k != skip]
    return ",".join(parts) if parts else "all"


def plan_plots(
    result: HypothesisResult, reference: Mapping[str, Mapping[str, float]]
) -> list[dict[str, Any]]:
    """Which plots help for this hypothesis: a list of ``{"kind", "metric",
    "param"}`` (at most :data:`MAX_PLOTS_PER_HYPOTHESIS`)."""
    cases = result.cases
    if len(cases) < 2:
        return []
    plans: list[dict[str, Any]] = []
    param = _sweep_param(cases)
    stats = result.stats or {}
    if stats.get("sequential") and stats.get("history"):
        plans.append({"kind": "sequence", "metric": stats.get("metric"), "param": None})
    for metric in _metrics(result, reference):
        if param is not None:
            plans.append({"kind": "sweep", "metric": metric, "param": param})
        groups: dict[str, int] = {}
        for case in cases:
            groups[_group_label(case)] = groups.get(_group_label(case), 0) + 1
        has_seeds = any(n >= 2 for n in groups.values())
        has_reference = any(metric in v for v in reference.values()) or (
            stats.get("metric") == metric and _number(stats.get("than")) is not None
        )
        if len(groups) <= MAX_GROUPS and (has_seeds or has_reference):
            plans.append({"kind": "spread", "metric": metric, "param": None})
    return plans[:MAX_PLOTS_PER_HYPOTHESIS]


def _figure() -> Any:
    from matplotlib.figure import Figure

    # Fixed margins: constrained or tight layout draws every figure twice.
    fig = Figure(figsize=(6.4, 3.4))
    fig.subplots_adjust(left=0.12, right=0.97, top=0.95, bottom=0.24)
    return fig


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _subsample(points: list[Any]) -> list[Any]:
    if len(points) <= MAX_POINTS:
        return points
    step = math.ceil(len(points) / MAX_POINTS)
    return points[::step]


def _sweep(result: HypothesisResult, metric: str, param: str) -> tuple[Any, str]:
    series: dict[str, list[tuple[float, float]]] = {}
    for case in result.cases:
        x, y = _number(case.params.get(param)), _number(case.metrics.get(metric))
        if x is None or y is None:
            continue
        series.setdefault(_group_label(case, skip=param), []).append((x, y))
    if len(series) > MAX_SERIES:
        series = {"all": [p for pts in series.values() for p in pts]}
    fig = _figure()
    ax = fig.subplots()
    for label, points in series.items():
        pts = _subsample(points)
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=12, alpha=0.6)
        by_x: dict[float, list[float]] = {}
        for x, y in points:
            by_x.setdefault(x, []).append(y)
        xs = sorted(by_x)
        ax.plot(xs, [sum(by_x[x]) / len(by_x[x]) for x in xs], marker="o", label=label)
    xs_all = [x for pts in series.values() for x, _ in pts]
    if xs_all and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 100:
        from matplotlib.ticker import FuncFormatter, NullLocator

        ax.set_xscale("log")  # learning rates, dataset sizes: spread over decades
        # Plain labels: the default 10^k labels go through mathtext, which is slow.
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())  # each tick is several artists
    ax.set_xlabel(param)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize="small")
    alt = f"{metric} against {param} for {result.id}: one point per case, line through means"
    return fig, alt


def _spread(
    result: HypothesisResult, metric: str, reference: Mapping[str, Mapping[str, float]]
) -> tuple[Any, str]:
    groups: dict[str, list[float]] = {}
    base: dict[str, list[float]] = {}
    for case in result.cases:
        label = _group_label(case)
        y = _number(case.metrics.get(metric))
        if y is not None:
            groups.setdefault(label, []).append(y)
        ref = reference.get(case.name, {}).get(metric)
        if _number(ref) is not None:
            base.setdefault(label, []).append(float(ref))  # type: ignore[arg-type]
    labels = list(groups)
    fig = _figure()
    ax = fig.subplots()
    labelled = False
    for i, label in enumerate(labels):
        ys = _subsample(groups[label])
        ax.scatter([i] * len(ys), ys, s=14, alpha=0.7, color="tab:blue")
        if label in base:
            values = base[label]
            ax.hlines(
                sum(values) / len(values),
                i - 0.3,
                i + 0.3,
                colors="tab:red",
                linewidth=2,
                label=None if labelled else "baseline",
            )
            labelled = True
    stats = result.stats or {}
    threshold = _number(stats.get("than"))
    if stats.get("metric") == metric and threshold is not None:
        ax.axhline(threshold, linestyle="--", color="tab:gray", label=f"threshold {threshold:g}")
    ax.set_xticks(
        range(len(labels)),
        labels,
        rotation=30 if len(labels) > 4 else 0,
        ha="right" if len(labels) > 4 else "center",
        fontsize="small",
    )
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3, axis="y")
    if base or (stats.get("metric") == metric and threshold is not None):
        ax.legend(fontsize="small")
    alt = f"per-seed values of {metric} for each sweep point of {result.id}"
    if base:
        alt += ", red ticks: baseline"
    return fig, alt


def _sequence(result: HypothesisResult) -> tuple[Any, str]:
    """The anytime-valid bounds of the effect against the seeds seen, with
    the claimed effect: where they leave it is where the decision was made."""
    stats = result.stats or {}
    history = [(int(n), float(lo), float(hi)) for n, lo, hi in stats.get("history") or []]
    fig = _figure()
    ax = fig.subplots()
    ns = [n for n, _, _ in history]
    finite = [(n, lo, hi) for n, lo, hi in history if math.isfinite(lo) and math.isfinite(hi)]
    if finite:
        ax.fill_between(
            [n for n, _, _ in finite],
            [lo for _, lo, _ in finite],
            [hi for _, _, hi in finite],
            alpha=0.25,
            color="tab:blue",
            label="anytime-valid interval",
        )
    min_effect = float(stats.get("min_effect") or 0.0)
    ax.axhline(min_effect, linestyle="--", color="tab:gray", label=f"claimed effect {min_effect:g}")
    if stats.get("estimate") is not None:
        ax.plot(ns[-1:], [float(stats["estimate"])], "o", color="tab:blue", label="estimate")
    ax.set_xlabel("seeds")
    ax.set_ylabel(f"effect on {stats.get('metric', 'the metric')}")
    ax.set_xlim(0, max(int(stats.get("max_seeds") or 0), *ns, 1) + 0.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    alt = (
        f"confidence sequence of {result.id}'s effect against seeds: decided after "
        f"{stats.get('seeds_used')} of at most {stats.get('max_seeds')} seeds"
    )
    return fig, alt


def attach_plots(
    views: Sequence[HypothesisView],
    results: Sequence[HypothesisResult],
    reference: Mapping[str, Mapping[str, Mapping[str, float]]],
) -> list[str]:
    """Render the planned plots into each view's ``plots``; returns notes for
    the report (matplotlib missing, plots left out beyond the cap)."""
    from .model import Plot

    plans = [
        (v, r, plan_plots(r, reference.get(r.id, {}))) for v, r in zip(views, results, strict=True)
    ]
    wanted = sum(len(p) for _, _, p in plans)
    if not wanted:
        return []
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return ["plots need matplotlib: pip install 'pytest-grd[plots]'"]
    # Round robin: every hypothesis gets its first plot before any gets a second.
    queue = [
        (view, result, plan)
        for rank in range(MAX_PLOTS_PER_HYPOTHESIS)
        for view, result, planned in plans
        if rank < len(planned)
        for plan in [planned[rank]]
    ][:MAX_PLOTS]
    made = 0
    for view, result, plan in queue:
        ref = reference.get(result.id, {})
        if plan["kind"] == "sweep":
            fig, alt = _sweep(result, plan["metric"], plan["param"])
            title = f"{plan['metric']} against {plan['param']}"
        elif plan["kind"] == "sequence":
            fig, alt = _sequence(result)
            title = "the decision, seed by seed"
        else:
            fig, alt = _spread(result, plan["metric"], ref)
            title = f"{plan['metric']}: per-seed spread"
        view.plots.append(Plot(title=title, alt=alt, png_base64=_png(fig)))
        made += 1
    for view in views:
        # Keep each section's plots in plan order (sweep before spread).
        view.plots.sort(key=lambda p: "per-seed" in p.title)
    if wanted > made:
        return [f"{wanted - made} plot(s) left out (at most {MAX_PLOTS} per report)"]
    return []
