"""Start-up cost of pytest-grd in a session that has no hypotheses.

The plugin loads in every pytest run of an environment, so a session of 500
plain tests is timed with the plugin and with ``-p no:grd``, alternating the
two so that machine noise hits both alike.  Prints the median of each and the
median ratio (target: under 3 % overhead).

    python benchmarks/bench_startup.py [--rounds 21] [--tests 500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _write_suite(root: Path, n_tests: int) -> None:
    per_file = 50
    for f in range(n_tests // per_file):
        body = "\n".join(
            f"def test_{f}_{i}():\n    assert {i} + 1 == {i + 1}\n" for i in range(per_file)
        )
        (root / f"test_plain_{f}.py").write_text(body)
    (root / "pytest.ini").write_text("[pytest]\n")


def _env() -> dict[str, str]:
    # Measure an ordinary environment, where imported modules have their .pyc
    # (the warm-up runs write them); with PYTHONDONTWRITEBYTECODE set, an
    # editable install would recompile the plugin's modules on every run.
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _run(root: Path, *extra: str) -> float:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=_env())
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"pytest failed ({proc.returncode}):\n{proc.stdout[-2000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--tests", type=int, default=500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_suite(root, args.tests)
        _run(root)  # warm the file system cache and .pyc files
        _run(root, "-p", "no:grd")
        with_plugin: list[float] = []
        without: list[float] = []
        for _ in range(args.rounds):
            with_plugin.append(_run(root))
            without.append(_run(root, "-p", "no:grd"))
    ratios = [a / b for a, b in zip(with_plugin, without, strict=True)]
    print(f"start-up: {args.tests} plain tests, {args.rounds} rounds, alternating")
    print(f"  with pytest-grd : median {statistics.median(with_plugin):.3f} s")
    print(f"  -p no:grd       : median {statistics.median(without):.3f} s")
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else ratios * 3
    print(
        f"  median ratio    : {statistics.median(ratios):.3f} "
        f"({(statistics.median(ratios) - 1) * 100:+.1f} %)"
    )
    print(
        f"  ratio spread    : min {min(ratios):.3f}, quartiles {quartiles[0]:.3f}-"
        f"{quartiles[2]:.3f}, max {max(ratios):.3f}"
    )
    print("  load average    : " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
