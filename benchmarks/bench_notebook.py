"""Per-notebook overhead of pytest-grd against the ``papermill`` command line.

Writes one small parametrized notebook (``.ipynb``, a ``parameters`` cell, a
metric logged, an assertion) to a temporary folder and runs it three ways:

* ``papermill``: ``python -m papermill nb.ipynb out.ipynb -p lr 0.5`` once per
  notebook run (what a researcher would do by hand);
* ``grd, 1 case``: ``python -m pytest nb.ipynb`` with one case per session
  (pytest start-up and collection included, like the command line);
* ``grd, K cases``: one pytest session running the notebook K times (K
  parameter values), reported per case: the cost inside a larger suite;
* ``grd, marginal``: ``(T_K - T_1) / (K - 1)``, what one more notebook case
  costs once pytest is up.

pytest runs with third-party plugin autoloading off and pytest-grd loaded with
``-p pytest_grd.plugin``, so that unrelated plugins installed in the same
environment (hypothesis, hydra, ...) do not count as pytest-grd's overhead.
Both sides start a fresh kernel per notebook run.  Prints the mean wall-clock
time per notebook run, the difference and the ratio to papermill.
Run alone: ``.venv/bin/python benchmarks/bench_notebook.py [REPEATS] [K]``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
K = max(2, int(sys.argv[2]) if len(sys.argv) > 2 else 4)


def notebook(values: list[float]) -> str:
    cells = [
        ("lr = 0.1", ["parameters"]),
        "import math\nfrom pytest_grd.notebook import log_metric\nacc = 1 - math.exp(-lr * 10)",
        'log_metric("acc", acc)\nassert acc > 0.5, f"acc {acc:.3f}"',
    ]
    nb = {
        "cells": [
            {
                "id": f"c{i}",
                "cell_type": "code",
                "execution_count": None,
                "metadata": {"tags": c[1] if isinstance(c, tuple) else []},
                "outputs": [],
                "source": c[0] if isinstance(c, tuple) else c,
            }
            for i, c in enumerate(cells)
        ],
        "metadata": {
            "grd": {"hypothesis": "hyp_bench", "parameters": {"lr": values}},
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=1)


def timed(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        single, many = root / "single", root / "many"
        single.mkdir()
        many.mkdir()
        (single / "nb.ipynb").write_text(notebook([0.5]))
        (many / "nb.ipynb").write_text(notebook([0.5 + i / 10 for i in range(K)]))
        pytest_args = ["-m", "pytest", "-q", "-p", "pytest_grd.plugin", "-p", "no:cacheprovider"]
        pytest_args.append("--grd-no-tracking")
        papermill_cmd = [py, "-m", "papermill", "nb.ipynb", "out.ipynb", "-p", "lr", "0.5"]
        papermill_cmd += ["-k", "python3", "--no-progress-bar"]
        # One warm-up of each so that neither side pays for cold disk caches.
        timed(papermill_cmd, single)
        timed([py, *pytest_args, "nb.ipynb"], single)
        pm, grd1, grdk, marginal = [], [], [], []
        for _ in range(REPEATS):
            pm.append(timed(papermill_cmd, single))
            one = timed([py, *pytest_args, "nb.ipynb"], single)
            k_cases = timed([py, *pytest_args, "nb.ipynb"], many)
            grd1.append(one)
            grdk.append(k_cases / K)
            marginal.append((k_cases - one) / (K - 1))
    base = statistics.mean(pm)
    print(f"notebook runs: {REPEATS} repeats; K = {K} cases per session in the last two rows")
    print(f"{'':24}{'mean s/notebook':>16}{'min':>8}{'diff s':>9}{'ratio':>8}")
    for label, values in (
        ("papermill CLI", pm),
        ("grd, 1 case/session", grd1),
        (f"grd, {K} cases/session", grdk),
        ("grd, marginal case", marginal),
    ):
        mean = statistics.mean(values)
        print(f"{label:24}{mean:16.2f}{min(values):8.2f}{mean - base:+9.2f}{mean / base:8.2f}")


if __name__ == "__main__":
    main()
