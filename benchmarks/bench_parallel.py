"""Sweeps in parallel: serial against ``-n 2``, and how cases are scheduled.

Run alone: ``python benchmarks/bench_parallel.py`` (about a minute).

1. **Speed-up.**  Eight CPU-bound cases of about one second each (a pure
   Python loop calibrated on this machine), with MLflow tracking on (a SQLite
   store in a temporary directory, its schema created before timing), run
   serially (``-n 0``) and with ``-n 2``, alternating, ``--rounds`` times:
   with the session's writer kept warm between sessions (the default, as a
   researcher running pytest again meets it), with a new writer each session
   (``GRD_WRITER_IDLE=0``: the first session of the day), and without
   tracking for comparison.  Printed: medians with their
   range of the whole pytest command's wall time and of the sweep (first
   case start to last case end, from the records), the per-round speed-up,
   the tracking cost per case inside the serial sweep, and the load average.
2. **Scheduling** of an uneven sweep whose longest case comes last in
   collection order (eight 0.3 s cases, then one of 2.4 s: parametrize lists
   often end with the biggest model).  Cases sleep, so the figure is the
   scheduler's, not the CPU's.  Two workers each under xdist's ``load`` and
   ``worksteal`` and grd's ``longest-first`` (with ``--grd-gpus`` over two
   simulated GPUs, durations cached by a first run).  The makespan (first case
   start to last case end) is printed for each.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEEDUP_TEST = """
import os
import pytest

LOOPS = int(os.environ["GRD_BENCH_LOOPS"])

@pytest.mark.hypothesis("hyp_cpu", claim="a CPU-bound case finishes")
@pytest.mark.parametrize("i", range(int(os.environ["GRD_BENCH_CASES"])))
def test_cpu(i, grd_case):
    total = 0
    for k in range(LOOPS):
        total += k * k % 7
    grd_case.log_metric("total", total)
    assert total >= 0
"""

UNEVEN_TEST = """
import json
import os
import statistics
import time
import pytest

SECONDS = [0.3] * 8 + [2.4]

@pytest.mark.hypothesis("hyp_uneven", claim="long and short cases")
@pytest.mark.parametrize("i", range(len(SECONDS)))
def test_uneven(i):
    start = time.time()
    time.sleep(SECONDS[i])
    with open(os.environ["GRD_BENCH_TIMES"], "a") as fh:
        fh.write(json.dumps([start, time.time()]) + "\\n")
"""


def calibrate(target_s: float) -> int:
    """Loop count that takes ``target_s`` of CPU here (same loop as the test)."""
    loops = 200_000
    while True:
        start = time.process_time()
        total = 0
        for k in range(loops):
            total += k * k % 7
        spent = time.process_time() - start
        if spent > 0.2:
            return int(loops * target_s / spent)
        loops *= 2


def pytest_run(root: Path, args: list[str], env: dict[str, str]) -> float:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args]
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-2000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"bench_parallel: pytest {' '.join(args)} exited {done.returncode}")
    return wall


SPEEDUP_CONFTEST = """
import json, os

def pytest_grd_case_record(record, config):
    with open(os.environ["GRD_BENCH_TIMES"], "a") as fh:
        fh.write(json.dumps([record.started_at, record.started_at + record.duration]) + "\\n")
"""


def bench_speedup(cases: int, seconds: float, rounds: int) -> None:
    loops = calibrate(seconds)
    with tempfile.TemporaryDirectory(prefix="grd-bench-par-") as tmp:
        root = Path(tmp)
        (root / "test_cpu.py").write_text(SPEEDUP_TEST)
        (root / "conftest.py").write_text(SPEEDUP_CONFTEST)
        times = root / "times.jsonl"
        store = f"sqlite:///{root / 'mlflow.db'}"
        env = {**os.environ, "GRD_BENCH_LOOPS": "1", "GRD_BENCH_CASES": "1"}
        env["GRD_BENCH_TIMES"] = str(times)
        env.pop("PYTEST_XDIST_AUTO_NUM_WORKERS", None)
        tracking = ["-p", "no:cacheprovider", "--grd-tracking-uri", store]
        # Create the store's schema first: both timed runs then find it ready.
        pytest_run(root, [*tracking, "-n", "0"], env)
        times.unlink()
        env.update(GRD_BENCH_LOOPS=str(loops), GRD_BENCH_CASES=str(cases))
        print(f"speed-up: {cases} CPU-bound cases of ~{seconds:g} s; cores: {os.cpu_count()}")
        print(f"  {rounds} rounds, -n 0 and -n 2 alternating; median [min-max]")
        print("  wall: the whole pytest command; sweep: first case start to last case end")
        sweep_serial: dict[str, float] = {}
        cold = {**env, "GRD_WRITER_IDLE": "0"}
        for label, common, run_env in (
            ("tracking (SQLite), writer kept warm between sessions (default)", tracking, env),
            ("tracking (SQLite), a new writer each session (GRD_WRITER_IDLE=0)", tracking, cold),
            ("--grd-no-tracking", ["-p", "no:cacheprovider", "--grd-no-tracking"], env),
        ):
            walls: dict[str, list[float]] = {"0": [], "2": []}
            sweeps: dict[str, list[float]] = {"0": [], "2": []}
            for _ in range(rounds):
                for n in ("0", "2"):
                    walls[n].append(pytest_run(root, [*common, "-n", n], run_env))
                    sweeps[n].append(_makespan(times))
            ratios = [a / b for a, b in zip(walls["0"], walls["2"], strict=True)]
            sweep_serial.setdefault(label.split(",")[0], statistics.median(sweeps["0"]))
            print(f"  {label}")
            for n in ("0", "2"):
                print(f"    -n {n}  wall {_spread(walls[n])} s   sweep {_spread(sweeps[n])} s")
            print(f"    speed-up (per-round wall ratio)  {_spread(ratios, 'x')}")
        _stop_warm_writer(store, env, root)
        per_case = (sweep_serial["tracking (SQLite)"] - sweep_serial["--grd-no-tracking"]) / cases
        print(
            f"  tracking cost inside the serial sweep: {per_case * 1000:+.1f} ms per case "
            "(median sweeps, tracking minus no tracking)"
        )
        print(f"  load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _stop_warm_writer(store: str, env: dict[str, str], root: Path) -> None:
    """The benchmark's store goes with its folder: so does its writer."""
    import signal

    from pytest_grd.tracking.warm import Mailbox, writer_key

    pid = Mailbox(writer_key(store, 10.0, env, str(root))).pid()
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def _spread(values: list[float], unit: str = "") -> str:
    return f"{statistics.median(values):6.2f}{unit} [{min(values):.2f}-{max(values):.2f}{unit}]"


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _makespan(path: Path) -> float:
    spans = [json.loads(line) for line in path.read_text().splitlines() if line]
    path.unlink()
    return max(end for _, end in spans) - min(start for start, _ in spans)


def bench_scheduling() -> None:
    with tempfile.TemporaryDirectory(prefix="grd-bench-sched-") as tmp:
        root = Path(tmp)
        (root / "test_uneven.py").write_text(UNEVEN_TEST)
        times = root / "times.jsonl"
        env = {**os.environ, "GRD_BENCH_TIMES": str(times)}
        env["GRD_FAKE_GPUS"] = "0:Fake GPU:1000,1:Fake GPU:1000"
        common = ["--grd-no-tracking"]
        rows = []
        for label, args in (
            ("xdist --dist load", ["-n", "2", "--dist", "load", "-p", "no:cacheprovider"]),
            (
                "xdist --dist worksteal",
                ["-n", "2", "--dist", "worksteal", "-p", "no:cacheprovider"],
            ),
            ("grd longest-first, no durations yet", ["--grd-gpus", "auto"]),
            ("grd longest-first, cached durations", ["--grd-gpus", "auto"]),
        ):
            wall = pytest_run(root, [*common, *args], env)
            rows.append((label, _makespan(times), wall))
        print("scheduling: 8 x 0.3 s then 1 x 2.4 s (sleep), 2 workers; ideal makespan 2.4 s")
        for label, span, wall in rows:
            print(f"  {label:38} makespan {span:5.2f} s   wall {wall:5.2f} s")
        best_xdist = min(span for label, span, _ in rows[:2])
        print(f"  longest-first vs best xdist mode      {best_xdist / rows[-1][1]:5.2f}x shorter")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per case")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (median)")
    parser.add_argument("--only", choices=("speedup", "scheduling"), default=None)
    options = parser.parse_args(argv)
    if options.only in (None, "speedup"):
        bench_speedup(options.cases, options.seconds, options.rounds)
    if options.only in (None, "scheduling"):
        bench_scheduling()
    return 0


if __name__ == "__main__":
    sys.exit(main())
