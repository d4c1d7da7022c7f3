"""Cases on a local two-node Ray cluster (``--grd-ray``) against ``-n 2``.

Run alone: ``python benchmarks/bench_ray.py [--rounds 5]`` (a few minutes;
needs ``pytest-grd[ray]``).

A two-node cluster (one CPU each) is started on this machine with
``ray start``; then, alternating the two sides in every round, the same sweep
of empty hypothesis cases runs with ``--grd-ray=<address>`` and with ``-n 2``
(tracking off: the figure is the backend's, not MLflow's), at two sizes.

* **per-case overhead**: (wall(large) - wall(small)) / (large - small) cases:
  what one more case costs once workers are up;
* **start-up**: wall(small) less its cases at that per-case cost: joining the
  cluster, starting workers, their collection, shutting down.

Printed: median and spread (min-max) over the rounds, and the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEST = """
import os, pytest

@pytest.mark.hypothesis("hyp_empty", claim="an empty case passes")
@pytest.mark.parametrize("i", range(int(os.environ["GRD_BENCH_CASES"])))
def test_case(i):
    pass
"""
RAY_ENV = {
    "RAY_DISABLE_IMPORT_WARNING": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_cluster(temp_dir: Path) -> str:
    ray = str(Path(sys.executable).parent / "ray")
    address = f"127.0.0.1:{_free_port()}"
    env = {**os.environ, **RAY_ENV}
    common = ["--num-cpus=1", "--disable-usage-stats"]
    subprocess.run(
        [ray, "start", "--head", f"--port={address.split(':')[1]}", f"--temp-dir={temp_dir}",
         "--include-dashboard=false", *common],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [ray, "start", f"--address={address}", *common], env=env, check=True, capture_output=True
    )
    return address


def _stop_cluster(temp_dir: Path) -> None:
    """Kill what this benchmark started (never another session's Ray)."""
    ours = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(temp_dir) in cmdline:
                ours.append(int(entry.name))
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid in ours:
                children.append(int(entry.name))
    for pid in ours + children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _run(project: Path, cases: int, args: list[str]) -> float:
    env = {**os.environ, **RAY_ENV, "GRD_BENCH_CASES": str(cases)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "--grd-no-tracking", *args]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return wall


def _summary(values: list[float], unit: float, name: str) -> str:
    scaled = [v * unit for v in values]
    return (
        f"{name}: median {statistics.median(scaled):.1f}, "
        f"spread {min(scaled):.1f}-{max(scaled):.1f} (n={len(scaled)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--large", type=int, default=110)
    opts = parser.parse_args()
    temp_dir = Path(tempfile.mkdtemp(prefix="grdbench", dir="/tmp"))
    project = Path(tempfile.mkdtemp(prefix="grd-bench-ray-"))
    (project / "test_empty.py").write_text(TEST)
    (project / "pytest.ini").write_text("[pytest]\n")
    loads = [os.getloadavg()[0]]
    try:
        t0 = time.perf_counter()
        address = _start_cluster(temp_dir)
        print(f"cluster: 2 nodes x 1 CPU at {address}, started in {time.perf_counter() - t0:.1f} s")
        sides = {"ray": [f"--grd-ray={address}"], "xdist": ["-n", "2"]}
        per_case: dict[str, list[float]] = {k: [] for k in sides}
        startup: dict[str, list[float]] = {k: [] for k in sides}
        for round_ in range(opts.rounds):
            order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
            for side in order:
                small = _run(project, opts.small, sides[side])
                large = _run(project, opts.large, sides[side])
                cost = (large - small) / (opts.large - opts.small)
                per_case[side].append(cost)
                startup[side].append(small - opts.small * cost)
                loads.append(os.getloadavg()[0])
    finally:
        _stop_cluster(temp_dir)
    for side in sides:
        print(_summary(per_case[side], 1000, f"{side:5} per-case overhead (ms)"))
        print(_summary(startup[side], 1, f"{side:5} start-up, whole command (s)"))
    print(f"load average (1 min) during the runs: {min(loads):.2f}-{max(loads):.2f}")


if __name__ == "__main__":
    main()
