"""Cost of tracking a case: grd_run's batched writes vs MLflow's fluent API.

One case logs 10 params and 200 metric points.  The same calls are made
through ``grd_run`` (buffered, written with ``log_batch`` when the case ends,
including opening the run with its tags and closing it with the verdict and
record) and one by one with ``mlflow.log_param`` / ``mlflow.log_metric``
inside ``mlflow.start_run``, on the same fresh SQLite store, alternating the
two so machine noise hits both alike.  Prints the median time of each, their
ratio (target: grd_run at most half the naive time), the per-case overhead of
tracking (run open + tags + close, nothing logged) and the one-time cost of
preparing a fresh store.

    python benchmarks/bench_tracking.py [--rounds 5] [--points 200] [--params 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
warnings.simplefilter("ignore")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--params", type=int, default=10)
    args = parser.parse_args(argv)

    import mlflow

    from pytest_grd.case import Case
    from pytest_grd.marker import HypothesisSpec
    from pytest_grd.record import CaseRecord
    from pytest_grd.tracking.run import GrdRun
    from pytest_grd.tracking.settings import TrackingSettings
    from pytest_grd.tracking.store import TrackingStore

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        uri = f"sqlite:///{root.as_posix()}/mlflow.db"
        settings = TrackingSettings(uri=uri, source="bench", experiment="bench")
        store = TrackingStore(settings, root, None, "bench-session")
        start = time.perf_counter()
        store.prepare({"hyp_bench": "batched logging is cheap"}, "full")
        prepare_s = time.perf_counter() - start

        def new_case(i: int) -> Case:
            record = CaseRecord(
                hypothesis="hyp_bench",
                nodeid=f"bench.py::test[{i}]",
                name=f"hyp_bench[i={i}]",
                params={"i": i},
                session_id="bench-session",
                started_at=time.time(),
            )
            return Case(HypothesisSpec("hyp_bench"), record)

        def plugin_case(i: int, log: bool = True) -> float:
            case = new_case(i)
            t0 = time.perf_counter()
            writer = store.open_case(case.record)
            run = GrdRun(case, writer)
            if log:
                for p in range(args.params):
                    run.log_param(f"p{p}", p * 0.5)
                for step in range(args.points):
                    run.log_metric("loss", 1.0 / (step + 1), step=step)
            case.record.verdict = "VALIDATED"
            if writer is not None:
                store.close_case(writer, "FINISHED")
            elapsed = time.perf_counter() - t0
            if store.error:
                raise SystemExit(f"tracking failed: {store.error}")
            return elapsed

        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment("bench")

        def naive_case(i: int) -> float:
            t0 = time.perf_counter()
            with mlflow.start_run(run_name=f"naive[{i}]"):
                for p in range(args.params):
                    mlflow.log_param(f"p{p}", p * 0.5)
                for step in range(args.points):
                    mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            return time.perf_counter() - t0

        plugin_case(-1)  # warm both paths (first-use imports, statement caches)
        naive_case(-1)
        plugin_times, naive_times, overhead = [], [], []
        for i in range(args.rounds):
            plugin_times.append(plugin_case(i))
            naive_times.append(naive_case(i))
            overhead.append(plugin_case(1000 + i, log=False))
        client = mlflow.MlflowClient(uri)
        last = client.search_runs(
            [client.get_experiment_by_name("bench").experiment_id],
            filter_string="attributes.run_name = 'hyp_bench[i=0]'",
        )[0]
        points = len(client.get_metric_history(last.info.run_id, "loss"))
        if points != args.points or len(last.data.params) != args.params + 1:
            raise SystemExit(f"plugin lost data: {points} points, {len(last.data.params)} params")

    plugin = statistics.median(plugin_times)
    naive = statistics.median(naive_times)
    print(f"case logging {args.params} params + {args.points} metric points, sqlite store,")
    print(f"median of {args.rounds} rounds:")
    print(f"  grd_run (batched, incl. open/tags/close) {plugin * 1000:8.1f} ms")
    print(f"  mlflow fluent, one call each              {naive * 1000:8.1f} ms")
    print(f"  ratio grd_run / naive                     {plugin / naive:8.3f}  (target <= 0.5)")
    per_case = statistics.median(overhead) * 1000
    print(f"per-case tracking overhead (open + tags + close) {per_case:.1f} ms")
    print(f"one-time store preparation (fresh db, experiment, parent) {prepare_s * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
