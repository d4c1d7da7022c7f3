"""Per-case cost of pytest-grd: a large untracked sweep of trivial cases.

One hypothesis parametrized over N trivial cases (``assert i >= 0``) is run
with the plugin (``--grd-no-tracking``) and, as the yardstick, the same test
without its marker under ``-p no:grd`` (plain pytest).  Both are timed as
whole commands, alternating, so that machine noise hits both alike; the
ratio is taken round by round.  What is left is what pytest-grd costs per
case: its record, its verdict, its hooks and the summary (target: 1.3x).

    python benchmarks/bench_sweep.py [--cases 10000] [--rounds 5] [--workers 0]

``--workers 2`` times the same under ``-n 2`` (both sides) as well.
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

_HYPOTHESIS = """\
import pytest


@pytest.mark.hypothesis("hyp_big", claim="every index is non-negative")
@pytest.mark.parametrize("i", range({cases}))
def test_sweep(i):
    assert i >= 0
"""

_PLAIN = """\
import pytest


@pytest.mark.parametrize("i", range({cases}))
def test_sweep(i):
    assert i >= 0
"""


def _write_project(root: Path, cases: int) -> tuple[Path, Path]:
    """Two folders holding the same sweep: with the marker, and without."""
    grd, plain = root / "grd", root / "plain"
    for folder, text in ((grd, _HYPOTHESIS), (plain, _PLAIN)):
        folder.mkdir()
        (folder / "pytest.ini").write_text("[pytest]\n")
        (folder / "test_sweep.py").write_text(text.format(cases=cases))
    return grd, plain


def _env() -> dict[str, str]:
    # Measure an ordinary environment, where imported modules have their .pyc.
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _run(root: Path, *extra: str) -> float:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=_env())
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"pytest failed ({proc.returncode}) in {root}:\n{proc.stdout[-2000:]}")
    return elapsed


def _spread(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"
    )


def _compare(grd: Path, plain: Path, rounds: int, extra: tuple[str, ...], label: str) -> None:
    grd_args = ("--grd-no-tracking", *extra)
    plain_args = ("-p", "no:grd", *extra)
    _run(grd, *grd_args)  # warm the file system cache and .pyc files
    _run(plain, *plain_args)
    with_plugin: list[float] = []
    without: list[float] = []
    for _ in range(rounds):
        with_plugin.append(_run(grd, *grd_args))
        without.append(_run(plain, *plain_args))
    ratios = [a / b for a, b in zip(with_plugin, without, strict=True)]
    print(f"{label}, {rounds} rounds, alternating")
    print(f"  pytest-grd, --grd-no-tracking : {_spread(with_plugin)}")
    print(f"  plain pytest, -p no:grd       : {_spread(without)}")
    print(
        f"  ratio per round               : median {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f})"
    )
    print("  load average                  : " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--workers", type=int, default=0, help="also time both sides under -n WORKERS"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        grd, plain = _write_project(Path(tmp), args.cases)
        _compare(grd, plain, args.rounds, (), f"sweep of {args.cases} trivial cases, serial")
        if args.workers:
            _compare(
                grd,
                plain,
                args.rounds,
                ("-n", str(args.workers)),
                f"sweep of {args.cases} trivial cases, -n {args.workers}",
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
