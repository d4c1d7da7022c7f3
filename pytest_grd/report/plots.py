"""Plots for a report, where people would rather look than read.

Four kinds, all bounded so that a big session stays fast:

* *sweep*: a metric against a swept numeric parameter (three or more
  distinct values), one point per case and a line through the per-value means,
  one series per combination of the other parameters;
* *arms*: for a comparison (``decide=grd.greater(metric, than="other")``), the
  per-seed values of both arms side by side with each arm's mean;
* *spread*: the per-seed values of a metric for each sweep point, next to the
  baseline's values (a red tick) and the decision rule's threshold (a dashed
  line);
* *sequence*: a sequential decision's anytime-valid interval, seed by seed.

Sweep points, series and seeds are in natural order (``seed=2`` before
``seed=19``).  matplotlib is imported on first use, through its
object-oriented API with the Agg canvas (no pyplot, no global backend
switch).  Pure logic: no pytest import.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..natural import natural_key, value_key
from ..record import CaseRecord, HypothesisResult

if TYPE_CHECKING:
    from .model import HypothesisView

__all__ = [
    "MAX_PLOTS",
    "MAX_PLOTS_PER_HYPOTHESIS",
    "arm_slots",
    "attach_plots",
    "group_values",
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
    for case in result.evidence:
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


def _natural_groups(keyed: dict[str, Any], first: dict[str, CaseRecord]) -> dict[str, Any]:
    """``keyed`` reordered by its groups' parameter values, naturally."""

    def key(label: str) -> tuple[Any, ...]:
        params = first[label].params
        return (tuple((natural_key(k), value_key(v)) for k, v in params.items()), label)

    return {label: keyed[label] for label in sorted(keyed, key=key)}


def group_values(
    cases: Sequence[CaseRecord], metric: str, skip: str | None = None
) -> dict[str, list[tuple[int | None, float]]]:
    """The (seed, value) pairs of ``metric`` per sweep point (``"all"`` when
    nothing is swept), sweep points and seeds in natural order."""
    groups: dict[str, list[tuple[int | None, float]]] = {}
    first: dict[str, CaseRecord] = {}
    for case in cases:
        y = _number(case.metrics.get(metric))
        if y is not None and not case.not_needed:
            label = _group_label(case, skip)
            groups.setdefault(label, []).append((case.seed, y))
            first.setdefault(label, case)
    for values in groups.values():
        values.sort(key=lambda p: (p[0] is None, p[0] or 0))
    return _natural_groups(groups, first)


def arm_slots(
    result: HypothesisResult, other: HypothesisResult, metric: str
) -> list[tuple[str, str, list[tuple[int | None, float]]]]:
    """The columns of a comparison's plot, as (sweep point, arm id, (seed,
    value) pairs): both arms side by side at each sweep point they share, or
    this arm's sweep points then the other's when they share none."""
    mine, theirs = group_values(result.cases, metric), group_values(other.cases, metric)
    if set(mine) == set(theirs):
        slots = [(g, arm, v[g]) for g in mine for arm, v in ((result.id, mine), (other.id, theirs))]
    else:
        slots = [(g, result.id, v) for g, v in mine.items()]
        slots += [(g, other.id, v) for g, v in theirs.items()]
    return slots[: 2 * MAX_GROUPS]


def _rule(result: HypothesisResult) -> Mapping[str, Any]:
    """The decision rule as the cases carry it (``{}`` without one)."""
    return next((c.decide for c in result.cases if c.decide), {})


def _compared_on(result: HypothesisResult, others: Mapping[str, HypothesisResult]) -> set[str]:
    """The metrics on which another hypothesis is compared with this one
    (its comparison's plot shows this arm too)."""
    return {
        str(rule.get("metric"))
        for other in others.values()
        if other.id != result.id and (rule := _rule(other)).get("than") == result.id
    }


def plan_plots(
    result: HypothesisResult,
    reference: Mapping[str, Mapping[str, float]],
    others: Mapping[str, HypothesisResult] | None = None,
) -> list[dict[str, Any]]:
    """Which plots help for this hypothesis: a list of ``{"kind", "metric",
    "param"}`` (and ``"than"``, the other arm, for a comparison), at most
    :data:`MAX_PLOTS_PER_HYPOTHESIS`.  ``others``: the session's results by
    id, where a comparison finds its other arm."""
    cases, others = result.evidence, others or {}
    plans: list[dict[str, Any]] = []
    stats, rule = result.stats or {}, _rule(result)
    than, rule_metric = rule.get("than"), rule.get("metric")
    shown_elsewhere = _compared_on(result, others)
    if isinstance(than, str) and than != result.id and than in others:
        plans.append({"kind": "arms", "metric": rule_metric, "param": None, "than": than})
    if stats.get("sequential") and stats.get("history"):
        plans.append({"kind": "sequence", "metric": rule_metric, "param": None})
    if len(cases) < 2:
        return plans[:MAX_PLOTS_PER_HYPOTHESIS]
    param = _sweep_param(cases)
    for metric in _metrics(result, reference):
        if param is not None:
            plans.append({"kind": "sweep", "metric": metric, "param": param})
        if metric in shown_elsewhere or any(
            p["kind"] == "arms" and p["metric"] == metric for p in plans
        ):
            continue  # a comparison's plot shows this arm's spread already
        groups: dict[str, int] = {}
        for case in cases:
            groups[_group_label(case)] = groups.get(_group_label(case), 0) + 1
        has_seeds = any(n >= 2 for n in groups.values())
        has_reference = any(metric in v for v in reference.values()) or (
            rule_metric == metric and _number(than) is not None
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
    first: dict[str, CaseRecord] = {}
    for case in result.cases:
        x, y = _number(case.params.get(param)), _number(case.metrics.get(metric))
        if x is None or y is None:
            continue
        label = _group_label(case, skip=param)
        series.setdefault(label, []).append((x, y))
        first.setdefault(label, case)
    series = _natural_groups(series, first)
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


def _xticks(ax: Any, labels: Sequence[str]) -> None:
    many = len(labels) > 4
    ax.set_xticks(
        range(len(labels)),
        labels,
        rotation=30 if many else 0,
        ha="right" if many else "center",
        fontsize="small",
    )


def _spread(
    result: HypothesisResult, metric: str, reference: Mapping[str, Mapping[str, float]]
) -> tuple[Any, str]:
    groups = group_values(result.cases, metric)
    base: dict[str, list[float]] = {}
    for case in result.cases:
        ref = _number(reference.get(case.name, {}).get(metric))
        if ref is not None:
            base.setdefault(_group_label(case), []).append(ref)
    fig = _figure()
    ax = fig.subplots()
    labelled = False
    for i, (label, pairs) in enumerate(groups.items()):
        ys = _subsample([y for _, y in pairs])
        ax.scatter([i] * len(ys), ys, s=14, alpha=0.7, color="tab:blue")
        ax.hlines(math.fsum(ys) / len(ys), i - 0.2, i + 0.2, colors="tab:blue", linewidth=1.5)
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
    _xticks(ax, list(groups))
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3, axis="y")
    if base or (stats.get("metric") == metric and threshold is not None):
        ax.legend(fontsize="small")
    alt = f"per-seed values of {metric} for each sweep point of {result.id}"
    if base:
        alt += ", red ticks: baseline"
    return fig, alt


def _arms(result: HypothesisResult, other: HypothesisResult, metric: str) -> tuple[Any, str]:
    """Both arms of a comparison side by side: a point per seed (left to
    right in seed order), a bar at each arm's mean; paired rules join the
    two values of a seed."""
    slots = arm_slots(result, other, metric)
    colors = {result.id: "tab:blue", other.id: "tab:orange"}
    paired = bool(_rule(result).get("paired"))
    fig = _figure()
    ax = fig.subplots()
    seen: dict[tuple[str, int | None], list[tuple[float, float]]] = {}
    for i, (group, arm, pairs) in enumerate(slots):
        pts = _subsample(pairs)
        n = len(pts)
        xs = [i - 0.15 + 0.3 * k / (n - 1) if n > 1 else float(i) for k in range(n)]
        label = arm if arm not in [s[1] for s in slots[:i]] else None
        ax.scatter(xs, [y for _, y in pts], s=16, alpha=0.75, color=colors[arm], label=label)
        if pairs:
            mean = math.fsum(y for _, y in pairs) / len(pairs)
            ax.hlines(mean, i - 0.3, i + 0.3, colors=colors[arm], linewidth=2.5)
        for x, (seed, y) in zip(xs, pts, strict=True):
            seen.setdefault((group, seed), []).append((x, y))
    if paired:
        for points in seen.values():
            if len(points) == 2:
                ax.plot(*zip(*points, strict=True), color="0.6", linewidth=0.7, zorder=0)
    _xticks(ax, [arm if group == "all" else f"{group}\n{arm}" for group, arm, _ in slots])
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize="small")
    alt = (
        f"per-seed {metric} of {result.id} and {other.id} side by side, "
        "one point per seed, a bar at each arm's mean"
    )
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
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # seeds are counted
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


def _draw(
    result: HypothesisResult,
    plan: Mapping[str, Any],
    reference: Mapping[str, Mapping[str, float]],
    by_id: Mapping[str, HypothesisResult],
) -> tuple[Any, str, str]:
    """The figure, alt text and caption of one planned plot."""
    metric = plan["metric"]
    if plan["kind"] == "sweep":
        return (*_sweep(result, metric, plan["param"]), f"{metric} against {plan['param']}")
    if plan["kind"] == "sequence":
        return (*_sequence(result), "the decision, seed by seed")
    if plan["kind"] == "arms":
        caption = f"{metric}: {result.id} vs {plan['than']}, per seed"
        return (*_arms(result, by_id[plan["than"]], metric), caption)
    return (*_spread(result, metric, reference), f"{metric}: per-seed spread")


def attach_plots(
    views: Sequence[HypothesisView],
    results: Sequence[HypothesisResult],
    reference: Mapping[str, Mapping[str, Mapping[str, float]]],
) -> list[str]:
    """Render the planned plots into each view's ``plots`` (``views`` and
    ``results`` in the same order); returns notes for the report (matplotlib
    missing, plots left out beyond the cap)."""
    from .model import Plot

    by_id = {r.id: r for r in results}
    plans = [
        (v, r, plan_plots(r, reference.get(r.id, {}), by_id))
        for v, r in zip(views, results, strict=True)
    ]
    wanted = sum(len(p) for _, _, p in plans)
    if not wanted:
        return []
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return ["plots need matplotlib: pip install 'pytest-grd[plots]'"]
    # Round robin: every hypothesis gets its first plot before any gets a
    # second (so each section also lists its plots in plan order).
    queue = [
        (view, result, planned[rank])
        for rank in range(MAX_PLOTS_PER_HYPOTHESIS)
        for view, result, planned in plans
        if rank < len(planned)
    ][:MAX_PLOTS]
    for view, result, plan in queue:
        fig, alt, title = _draw(result, plan, reference.get(result.id, {}), by_id)
        view.plots.append(Plot(title=title, alt=alt, png_base64=_png(fig)))
    if wanted > len(queue):
        return [f"{wanted - len(queue)} plot(s) left out (at most {MAX_PLOTS} per report)"]
    return []
