"""Rendering the report for a big session: 10,000 case records.

Synthetic records (50 hypotheses x 20 learning rates x 10 seeds, two metrics,
lineage, stats on every hypothesis, a baseline comparison) go through
``write_report`` as at the end of a session.  Prints the time of each part
and of the whole, side by side with the same report without plots (target:
under 3 s for the whole report; plots are capped, so their cost stays flat).

    python benchmarks/bench_report.py [--cases 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_grd.baseline import Collection, build_baseline, compare, merge_baseline
from pytest_grd.record import CaseRecord, HypothesisResult, group_by_hypothesis
from pytest_grd.report.markdown import render_markdown
from pytest_grd.report.meta import collect_meta
from pytest_grd.report.model import build_view
from pytest_grd.report.render import render_html, write_report


def synthetic(n_cases: int, seeds: int = 10, points: int = 20) -> list[HypothesisResult]:
    rng = random.Random(0)
    records = []
    per_hyp = seeds * points
    for i in range(n_cases):
        h, rest = divmod(i, per_hyp)
        point, seed = divmod(rest, seeds)
        lr = 10 ** (-4 + 3 * point / points)
        hid = f"hyp_{h:03d}"
        records.append(
            CaseRecord(
                hypothesis=hid,
                nodeid=f"experiments/test_{h}.py::test_lr[{lr:g}-seed{seed}]",
                name=f"{hid}[lr={lr:g},seed={seed}]",
                claim=f"learning rate matters for model {h} <b>really</b>",
                params={"lr": lr, "model": f"m{h % 3}"},
                seed=seed,
                verdict="VALIDATED" if rng.random() > 0.1 else "REJECTED",
                reason="" if rng.random() > 0.1 else "auc below 0.8",
                metrics={"auc": 0.8 + rng.random() / 10, "loss": rng.random()},
                duration=rng.random() * 30,
                run_id=f"{i:032x}",
                experiment_id="1",
                tracking_uri="http://127.0.0.1:5000",
                lineage=[
                    {
                        "target": "data/train.csv",
                        "path": "data/train.csv",
                        "rev_requested": "v2",
                        "rev_resolved": "0123456789abcdef",
                        "md5": "d41d8cd98f00b204e9800998ecf8427e",
                        "size": 123456,
                        "source": "dvc",
                        "versioned": True,
                        "schema": "TrainSchema",
                        "validation": "passed",
                    }
                ],
            )
        )
    results = group_by_hypothesis(records)
    for r in results:
        r.stats = {
            "test": "welch",
            "metric": "auc",
            "than": 0.8,
            "n": [10, 10],
            "p_value": 0.01,
            "ci": [0.01, 0.05],
            "confidence": 0.95,
            "effect_size": {"name": "cohen_d", "value": 0.8},
        }
    return results


CPU: dict[str, list[float]] = {}


def _time(fn: Any, name: str = "") -> float:
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    if name:
        # CPU time too: on a shared machine wall time also counts the waiting.
        CPU.setdefault(name, []).append(time.process_time() - cpu)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    results = synthetic(args.cases)
    meta = collect_meta(["experiments", "--grd-report"], Path("."), [])
    section = build_baseline(results, "full")
    meta["baseline"] = compare(
        merge_baseline(None, section), results, "full", Collection()
    ).to_dict()
    out = Path(tempfile.mkdtemp(prefix="bench-report-"))
    # Warm-up outside the timing: matplotlib and jinja2 imports, template compile.
    warm = _time(lambda: write_report(results[:1], meta, out / "warm"))

    rows: dict[str, list[float]] = {
        k: []
        for k in (
            "baseline compare",
            "view",
            "html",
            "markdown",
            "report (no plots)",
            "report (all)",
        )
    }
    for _ in range(args.rounds):
        rows["baseline compare"].append(
            _time(
                lambda: compare(merge_baseline(None, section), results, "full", Collection()),
                "baseline compare",
            )
        )
        view = build_view(results, meta, out, plots=False)
        rows["view"].append(_time(lambda: build_view(results, meta, out, plots=False), "view"))
        rows["html"].append(_time(lambda v=view: render_html(v), "html"))
        rows["markdown"].append(_time(lambda v=view: render_markdown(v), "markdown"))
        rows["report (no plots)"].append(
            _time(
                lambda: write_report(results, meta, out / "noplots", plots=False),
                "report (no plots)",
            )
        )
        rows["report (all)"].append(
            _time(lambda: write_report(results, meta, out / "all"), "report (all)")
        )
    n = sum(len(r.cases) for r in results)
    print(f"{n} case records, {len(results)} hypotheses, median of {args.rounds} rounds")
    print(f"  first report in the process (imports, template): {warm:.2f} s")
    full = statistics.median(rows["report (all)"])
    print(f"  {'':<20} {'wall':>9} {'cpu':>9}")
    for name, times in rows.items():
        med = statistics.median(times)
        cpu = statistics.median(CPU[name])
        print(f"  {name:<20} {med:7.3f} s {cpu:7.3f} s  ({med / full:6.1%} of the full report)")
    sizes = {p.name: p.stat().st_size for p in (out / "all").iterdir()}
    print("  files: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(sizes.items())))
    cpu_full = statistics.median(CPU["report (all)"])
    verdict = "met" if full < 3 else "NOT met"
    print(f"  target: full report under 3 s -> {verdict} ({full:.2f} s wall, {cpu_full:.2f} s cpu)")


if __name__ == "__main__":
    main()
