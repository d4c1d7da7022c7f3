"""A small torch sweep on every GPU of this machine, through ``--grd-gpus auto``.

Run on a machine with NVIDIA GPUs and torch installed::

    python benchmarks/gpu_sweep.py                      # workers-per-gpu 1, then 2
    python benchmarks/gpu_sweep.py --workers-per-gpu 1 --steps 500 --tracking

It writes a hypothesis (an MLP fitted on ``grd_device`` for a few hundred
steps, 2 widths x 2 seeds) into a temporary directory, runs it with
``pytest --grd-gpus auto --grd-workers-per-gpu K``, and prints for every case
the xdist worker, its ``CUDA_VISIBLE_DEVICES``, ``grd_device``, the GPU torch
sees (``torch.cuda.get_device_name``) and the time it took.  It exits
non-zero when the run fails, a case did not run on a GPU of its own, or the
time limit is hit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

HYPOTHESIS = """
import json
import os
import time

import pytest
import torch

STEPS = int(os.environ["GRD_GPU_SWEEP_STEPS"])
OUT = os.environ["GRD_GPU_SWEEP_OUT"]


@pytest.mark.hypothesis(
    "hyp_gpu_mlp", claim="an MLP halves its training loss on every GPU", seeds=2
)
@pytest.mark.parametrize("width", [512, 2048])
def test_mlp(width, grd_seed, grd_device, grd_case):
    start = time.perf_counter()
    device = torch.device(grd_device)
    x = torch.randn(8192, 256, device=device)
    y = x @ torch.randn(256, 1, device=device) / 16  # unit-variance target
    model = torch.nn.Sequential(
        torch.nn.Linear(256, width), torch.nn.ReLU(), torch.nn.Linear(width, 1)
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = None
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        if first is None:
            first = float(loss)
    final = float(loss)  # synchronizes with the GPU
    seconds = time.perf_counter() - start
    on_gpu = device.type == "cuda"
    seen = {
        "case": grd_case.record.name,
        "worker": os.environ.get("PYTEST_XDIST_WORKER"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "device": grd_device,
        "torch_gpu": torch.cuda.get_device_name(0) if on_gpu else "",
        "torch_device_count": torch.cuda.device_count(),
        "grd_gpu": grd_case.record.extra.get("gpu"),
        "seconds": round(seconds, 3),
        "first_loss": first,
        "final_loss": final,
    }
    safe = grd_case.record.name.replace("/", "_")
    with open(os.path.join(OUT, safe + ".json"), "w") as fh:
        json.dump(seen, fh)
    grd_case.log_metric("loss", final)
    assert final < first / 2, f"loss went from {first:.4f} to {final:.4f}"
"""

CASES = 4  # 2 widths x 2 seeds


def _fail(message: str, code: int = 1) -> int:
    print(f"gpu_sweep: FAILED: {message}", file=sys.stderr)
    return code


def _plugin_args() -> list[str]:
    """``-p pytest_grd.plugin`` when pytest-grd is importable but not installed
    as a pytest plugin (a source checkout on PYTHONPATH)."""
    names = {ep.value for ep in entry_points(group="pytest11")}
    return [] if "pytest_grd.plugin" in names else ["-p", "pytest_grd.plugin"]


def _preflight() -> str | None:
    """Why this machine cannot run the sweep, or None."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA device"
    try:
        from pytest_grd.sweep.gpus import detect_gpus
    except ImportError as exc:
        return f"pytest-grd is not importable: {exc}"
    inventory = detect_gpus()
    print(f"gpu_sweep: torch {torch.__version__}, CUDA {torch.version.cuda}")
    print(f"gpu_sweep: grd detects {inventory.describe()}")
    if not inventory.gpus:
        return "pytest-grd found no GPU (see the line above)"
    return None


def _table(rows: list[dict[str, Any]]) -> None:
    header = f"{'case':32} {'worker':6} {'CVD':4} {'device':7} {'GPU (torch)':28} {'sec':>7}"
    print(header)
    print("-" * len(header))
    for row in sorted(rows, key=lambda r: (r["worker"] or "", r["case"])):
        print(
            f"{row['case']:32} {row['worker'] or '-':6} {row['cuda_visible_devices'] or '-':4} "
            f"{row['device']:7} {row['torch_gpu'][:28]:28} {row['seconds']:7.2f}"
        )


def _check(rows: list[dict[str, Any]]) -> list[str]:
    problems = []
    if len(rows) != CASES:
        problems.append(f"{len(rows)} of {CASES} cases reported")
    for row in rows:
        gpu = row.get("grd_gpu") or {}
        if row["device"] != "cuda:0":
            problems.append(f"{row['case']}: grd_device is {row['device']}")
        if row["torch_device_count"] != 1:
            problems.append(f"{row['case']}: torch sees {row['torch_device_count']} GPUs, not 1")
        if row["cuda_visible_devices"] != gpu.get("cuda_visible_devices"):
            problems.append(f"{row['case']}: CUDA_VISIBLE_DEVICES differs from grd's record")
        if gpu.get("name") and gpu["name"] != row["torch_gpu"]:
            problems.append(f"{row['case']}: grd says {gpu['name']!r}, torch {row['torch_gpu']!r}")
    return problems


def run_once(
    root: Path, per_gpu: int, steps: int, tracking: bool, timeout: float
) -> tuple[int, float, list[dict[str, Any]]]:
    out = root / f"out-k{per_gpu}"
    out.mkdir()
    env = {**os.environ, "GRD_GPU_SWEEP_OUT": str(out), "GRD_GPU_SWEEP_STEPS": str(steps)}
    args = [
        sys.executable,
        "-m",
        "pytest",
        *_plugin_args(),
        str(root / "test_gpu_sweep.py"),
        "--rootdir",
        str(root),
        "-p",
        "no:cacheprovider",
        "--grd-gpus",
        "auto",
        "--grd-workers-per-gpu",
        str(per_gpu),
        "-rA",
    ]
    args += (
        ["--grd-tracking-uri", f"sqlite:///{root / 'mlflow.db'}"]
        if tracking
        else ["--grd-no-tracking"]
    )
    print(f"\n$ {' '.join(args[1:])}", flush=True)
    start = time.perf_counter()
    done = subprocess.run(
        args, cwd=root, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    wall = time.perf_counter() - start
    lines = done.stdout.splitlines()
    verdicts = False
    for line in lines:
        if "grd verdicts" in line:
            verdicts = True
        elif verdicts and line.startswith("="):
            verdicts = False
        if verdicts or line.startswith(("grd:", "created:")):
            print("  " + line)
    print("  " + (lines[-1] if lines else "(no output)"))
    if done.returncode != 0:
        print("\n".join(done.stdout.splitlines()[-40:]))
        print(done.stderr[-3000:], file=sys.stderr)
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    return done.returncode, wall, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workers-per-gpu", type=int, nargs="+", default=[1, 2], metavar="K", help="[1 2]"
    )
    parser.add_argument("--steps", type=int, default=300, help="training steps per case (300)")
    parser.add_argument("--tracking", action="store_true", help="log to a temporary MLflow store")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for everything (600)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    options = parser.parse_args(argv)
    deadline = time.monotonic() + options.timeout

    why = _preflight()
    if why:
        return _fail(why, code=2)
    root = Path(tempfile.mkdtemp(prefix="grd-gpu-sweep-"))
    (root / "test_gpu_sweep.py").write_text(HYPOTHESIS)
    failures: list[str] = []
    try:
        for per_gpu in options.workers_per_gpu:
            left = deadline - time.monotonic()
            if left <= 5:
                failures.append(f"time limit reached before --grd-workers-per-gpu {per_gpu}")
                break
            try:
                rc, wall, rows = run_once(root, per_gpu, options.steps, options.tracking, left)
            except subprocess.TimeoutExpired:
                failures.append(f"--grd-workers-per-gpu {per_gpu}: timed out after {left:.0f} s")
                break
            print(f"\n--grd-workers-per-gpu {per_gpu}: pytest exit {rc}, wall {wall:.1f} s")
            if rows:
                _table(rows)
            problems = _check(rows)
            if rc != 0:
                problems.insert(0, f"pytest exited {rc}")
            failures += [f"--grd-workers-per-gpu {per_gpu}: {p}" for p in problems]
    finally:
        if options.keep:
            print(f"\ngpu_sweep: kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if failures:
        return _fail("; ".join(failures))
    print("\ngpu_sweep: OK: every case ran on cuda:0 of its own GPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
