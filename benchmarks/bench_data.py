"""grd_data vs plain pandas: 50 cases loading the same 20 MB CSV at one revision.

Builds a temporary git + DVC repository holding a generated ~20 MB CSV (tracked
with ``dvc add``, tagged ``v1``), then runs two pytest sessions with 50
hypothesis cases each:

* ``grd``: ``grd_data.load("data/big.csv", rev="v1")`` per case (DVC
  resolution, lineage, the in-memory frame cache, a copy per case);
* ``plain``: ``pandas.read_csv(path)`` per case.

Prints the summed in-test time of the loads, the session wall-clock time, and
the ratios.  Run alone: ``.venv/bin/python benchmarks/bench_data.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = 50
TARGET_MB = 20

TEST_GRD = """
import json, os, time
import pytest

@pytest.mark.hypothesis("hyp_load", claim="load")
@pytest.mark.parametrize("i", range({cases}))
def test_load(grd_data, i):
    t0 = time.perf_counter()
    frame = grd_data.load("data/big.csv", rev="v1")
    elapsed = time.perf_counter() - t0
    with open(os.environ["BENCH_TIMES"], "a") as fh:
        fh.write(json.dumps([elapsed, len(frame)]) + "\\n")
"""

TEST_PLAIN = """
import json, os, time
import pandas
import pytest

@pytest.mark.hypothesis("hyp_load", claim="load")
@pytest.mark.parametrize("i", range({cases}))
def test_load(i):
    t0 = time.perf_counter()
    frame = pandas.read_csv("data/big.csv")
    elapsed = time.perf_counter() - t0
    with open(os.environ["BENCH_TIMES"], "a") as fh:
        fh.write(json.dumps([elapsed, len(frame)]) + "\\n")
"""


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def build(root: Path) -> Path:
    """A git + DVC repo with data/big.csv (~20 MB) committed and tagged v1."""
    import numpy as np
    import pandas as pd
    from dvc.repo import Repo

    env_ids = {
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    }
    os.environ.update({k: os.environ.get(k, v) for k, v in env_ids.items()})
    repo_dir = root / "repo"
    (repo_dir / "data").mkdir(parents=True)
    _run("git", "init", "-q", "-b", "main", cwd=repo_dir)
    repo = Repo.init(str(repo_dir), subdir=False)
    rng = np.random.default_rng(0)
    rows = TARGET_MB * 1000 * 1000 // 34  # about 34 bytes per row
    frame = pd.DataFrame(
        {
            "id": np.arange(rows),
            "a": rng.normal(size=rows).round(6),
            "b": rng.normal(size=rows).round(6),
            "c": rng.integers(0, 1000, size=rows),
            "label": rng.choice(["cat", "dog", "bird"], size=rows),
        }
    )
    big = repo_dir / "data" / "big.csv"
    frame.to_csv(big, index=False)
    repo.add([str(big)])
    repo.close()
    _run("git", "add", "-A", cwd=repo_dir)
    _run("git", "commit", "-qm", "v1", cwd=repo_dir)
    _run("git", "tag", "v1", cwd=repo_dir)
    (repo_dir / "pytest.ini").write_text("[pytest]\n")
    return repo_dir


def session(repo_dir: Path, name: str, source: str) -> tuple[list[float], float]:
    """Run one pytest session; return (per-case load seconds, wall seconds)."""
    test = repo_dir / f"test_bench_{name}.py"
    test.write_text(source.format(cases=CASES))
    times = repo_dir / f"times_{name}.jsonl"
    env = {**os.environ, "BENCH_TIMES": str(times), "DVC_NO_ANALYTICS": "1"}
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", str(test), "-q", "-p", "no:randomly", "--grd-no-tracking"],
        cwd=repo_dir,
        env=env,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - t0
    entries = [json.loads(line) for line in times.read_text().splitlines()]
    test.unlink()
    return [float(e[0]) for e in entries], wall


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="grd-bench-data-"))
    try:
        repo_dir = build(root)
        size_mb = (repo_dir / "data" / "big.csv").stat().st_size / 1e6
        print(f"data/big.csv: {size_mb:.1f} MB, {CASES} cases per session, one process each")
        plain, plain_wall = session(repo_dir, "plain", TEST_PLAIN)
        grd, grd_wall = session(repo_dir, "grd", TEST_GRD)
        assert len(plain) == len(grd) == CASES
        plain_load, grd_load = sum(plain), sum(grd)
        print(f"{'':26}{'loads (s)':>10}{'first (s)':>10}{'median (ms)':>12}{'session (s)':>12}")
        for label, times, wall in (
            ("pandas.read_csv per case", plain, plain_wall),
            ("grd_data.load (rev v1)", grd, grd_wall),
        ):
            median = statistics.median(times) * 1000
            print(f"{label:26}{sum(times):10.2f}{times[0]:10.3f}{median:12.2f}{wall:12.2f}")
        print(
            f"ratio grd/plain: loads {grd_load / plain_load:.3f}, "
            f"session {grd_wall / plain_wall:.3f}"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
