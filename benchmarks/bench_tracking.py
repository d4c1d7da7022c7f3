"""Cost of tracking a case: the journal, the writer's replay, MLflow's fluent API.

One case logs 10 params and 200 metric points.  Measured side by side,
alternating, on the same fresh SQLite store:

* the case's own cost through ``grd_run``: its ``open`` line, the buffered
  calls, the ``close`` line with verdict tags and record, fsync'd (what a
  case pays now: no MLflow call at all);
* the same calls one by one with ``mlflow.log_param`` / ``mlflow.log_metric``
  inside ``mlflow.start_run`` (what a test pays logging naively);
* afterwards, the session writer's cost per case to send those journals to
  the store (run made, ``log_batch``, end), off the cases' path.

Also: the case-side overhead of tracking with nothing logged, and the
one-time cost of preparing a fresh store.  Prints medians and ranges.

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
    from pytest_grd.tracking.journal import Journal, run_key
    from pytest_grd.tracking.replay import Replayer
    from pytest_grd.tracking.run import GrdRun
    from pytest_grd.tracking.settings import TrackingSettings
    from pytest_grd.tracking.store import TrackingStore
    from pytest_grd.tracking.tags import case_params, case_tags, verdict_tags
    from pytest_grd.tracking.writer import CaseRunWriter, RunTarget
    from pytest_grd.verdict import Verdict

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        uri = f"sqlite:///{root.as_posix()}/mlflow.db"
        settings = TrackingSettings(uri=uri, source="bench", experiment="bench")
        store = TrackingStore(settings)
        start = time.perf_counter()
        store.prepare(30)
        prepare_s = time.perf_counter() - start
        directory = root / "journal" / "bench-session"
        target = RunTarget(Journal(directory, "main"), uri, "bench", "bench-session", 10)

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
            record = case.record
            t0 = time.perf_counter()
            key = run_key("bench-session", record.nodeid)
            entry = {
                "op": "open", "key": key, "hyp": record.hypothesis, "claim": "bench",
                "scale": "full", "name": record.name, "start": int(time.time() * 1000),
                "tags": case_tags(record), "params": case_params(record),
            }  # fmt: skip
            writer = CaseRunWriter(target, record, key, entry)
            run = GrdRun(case, writer)
            if log:
                for p in range(args.params):
                    run.log_param(f"p{p}", p * 0.5)
                for step in range(args.points):
                    run.log_metric("loss", 1.0 / (step + 1), step=step)
            record.verdict = Verdict.VALIDATED
            writer.close("FINISHED", verdict_tags("VALIDATED", "bench"))
            return time.perf_counter() - t0

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
        replayer = Replayer(store, directory, "bench-session")
        t0 = time.perf_counter()
        replayer.step()
        replay_s = (time.perf_counter() - t0) / (2 * args.rounds + 1)
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
    print(f"  grd_run, in the case (journal, fsync'd)  {_ms(plugin_times)}")
    print(f"  mlflow fluent, one call each             {_ms(naive_times)}")
    print(f"  ratio grd_run / naive                    {plugin / naive:8.3f}")
    print(f"per-case tracking overhead in the case (open + close, nothing logged) {_ms(overhead)}")
    print(f"the session writer sending one such case to the store: {replay_s * 1000:.1f} ms")
    print(f"one-time store preparation (fresh db, experiment) {prepare_s * 1000:.0f} ms")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def _ms(values: list[float]) -> str:
    return (
        f"{statistics.median(values) * 1000:8.2f} ms "
        f"[{min(values) * 1000:.2f}-{max(values) * 1000:.2f}]"
    )


if __name__ == "__main__":
    raise SystemExit(main())
