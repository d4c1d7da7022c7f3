"""Sweeps end to end: seeds, simulated GPUs per xdist worker, crashed workers,
serial == parallel, longest-first scheduling (real pytest sessions)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_grd.record import CaseRecord
from tests.conftest import RecordSink

TWO_GPUS = "0:Fake H100:81559,1:Fake H100:81559"
THREE_GPUS = "0:Fake H100:81559,1:Fake H100:81559,2:Fake A10:24564"

#: Every case writes what it saw from inside the worker into its record.
SEEN = """
import os
def seen(grd_case, device):
    grd_case.record.extra["seen"] = {
        "cvd": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "order": os.environ.get("CUDA_DEVICE_ORDER"),
        "slot": os.environ.get("GRD_GPU_SLOT"),
        "worker": os.environ.get("PYTEST_XDIST_WORKER"),
        "device": device,
    }
"""

#: The sink conftest plus the roll-ups, so both can be compared across runs.
RESULTS_CONFTEST = (
    RecordSink.CONFTEST
    + """
def pytest_grd_session_results(results, config, session):
    path = os.environ.get("GRD_TEST_SINK")
    if path:
        with open(path + ".results", "w") as fh:
            json.dump([r.to_dict() for r in results], fh)
"""
)


@pytest.fixture(autouse=True)
def _no_real_gpu_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The outer environment must not leak a GPU restriction into these sessions.
    for name in ("CUDA_VISIBLE_DEVICES", "GRD_GPU", "GRD_FAKE_GPUS", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)


def _by_name(sink: RecordSink) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in sink.records()}


# -- seeds ---------------------------------------------------------------------------

SEEDED = """
import random
import numpy as np
import pytest

@pytest.mark.hypothesis("hyp_seed", claim="seeded", seeds=3)
@pytest.mark.parametrize("lr", [0.1, 0.01])
def test_sweep(lr, grd_seed, grd_case):
    grd_case.log_metric("r", random.random())
    grd_case.log_metric("np", float(np.random.rand()))
    grd_case.record.extra["fixture_seed"] = grd_seed
"""


def test_seed_expansion_names_and_determinism(pytester: pytest.Pytester, sink: RecordSink) -> None:
    pytester.makepyfile(test_seeded=SEEDED)
    result = pytester.runpytest("--grd-no-tracking", "-v", "-p", "no:xdist")
    # Six cases, then the hypothesis' own result (its verdict is the roll-up).
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines(
        [
            "*test_sweep?0.1-seed0? VALIDATED*",
            "*test_sweep?0.01-seed2?*",
            "test_seeded.py::hyp_seed VALIDATED*",
        ]
    )
    records = _by_name(sink)
    assert sorted(records) == sorted(
        f"hyp_seed[lr={lr},seed={s}]" for lr in ("0.1", "0.01") for s in range(3)
    )
    for seed in range(3):
        a, b = records[f"hyp_seed[lr=0.1,seed={seed}]"], records[f"hyp_seed[lr=0.01,seed={seed}]"]
        assert a["seed"] == b["seed"] == a["extra"]["fixture_seed"] == seed
        assert a["params"] == {"lr": 0.1}  # the seed is its own field, not a param
        # Same seed, same numbers; and they are the seed's numbers.
        assert (
            a["metrics"]
            == b["metrics"]
            == {
                "r": random.Random(seed).random(),
                "np": float(np.random.RandomState(seed).rand()),
            }
        )
    assert (
        records["hyp_seed[lr=0.1,seed=0]"]["metrics"]
        != records["hyp_seed[lr=0.1,seed=1]"]["metrics"]
    )


def test_seeds_option_and_seed_base(pytester: pytest.Pytester, sink: RecordSink) -> None:
    pytester.makepyfile(test_seeded=SEEDED)
    pytester.makeini("[pytest]\ngrd_seed_base = 10\n")
    result = pytester.runpytest("--grd-no-tracking", "--grd-seeds", "2", "-p", "no:xdist")
    # Four cases and the roll-up's result, its letter last.
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["test_seeded.py VVVVV *"])
    assert sorted(_by_name(sink)) == [
        "hyp_seed[lr=0.01,seed=10]",
        "hyp_seed[lr=0.01,seed=11]",
        "hyp_seed[lr=0.1,seed=10]",
        "hyp_seed[lr=0.1,seed=11]",
    ]


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (["--grd-seeds", "0"], "", "ERROR: --grd-seeds must be 1 or more, got 0"),
        ([], "grd_seed_base = ten", "ERROR: ini grd_seed_base must be an integer, got 'ten'"),
    ],
)
def test_bad_seed_settings(
    pytester: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    pytester.makepyfile(test_seeded=SEEDED)
    pytester.makeini("[pytest]\n" + ini + "\n")
    result = pytester.runpytest("--grd-no-tracking", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


# -- GPUs: the usage errors and the one-line messages (no workers started) --------------


@pytest.mark.parametrize(
    ("args", "ini", "fake", "message"),
    [
        (
            ["--grd-gpus", "0,5"],
            "",
            TWO_GPUS,
            "ERROR: --grd-gpus: no GPU 5 here; available: GPUs 0 (Fake H100, 81559 MiB), "
            "1 (Fake H100, 81559 MiB) [[]GRD_FAKE_GPUS[]]",
        ),
        (["--grd-gpus", "1"], "", "none", "ERROR: --grd-gpus: no GPU 1 here; available: no GPU*"),
        ([], "grd_gpus = 7", TWO_GPUS, "ERROR: ini grd_gpus: no GPU 7 here; available: GPUs 0*"),
        (["--grd-gpus", "gpu0"], "", TWO_GPUS, "ERROR: --grd-gpus='gpu0': expected auto, none*"),
        (["--grd-workers-per-gpu", "2"], "", TWO_GPUS, "ERROR: --grd-workers-per-gpu needs*"),
        (
            ["--grd-gpus", "auto", "--grd-workers-per-gpu", "0"],
            "",
            TWO_GPUS,
            "ERROR: --grd-workers-per-gpu must be 1 or more, got 0",
        ),
        (["--grd-gpus", "auto", "-p", "no:xdist"], "", TWO_GPUS, "ERROR: --grd-gpus starts*"),
        (["--grd-gpus", "auto", "--pdb"], "", TWO_GPUS, "ERROR: --pdb cannot debug*"),
    ],
)
def test_gpu_usage_errors(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    ini: str,
    fake: str,
    message: str,
) -> None:
    monkeypatch.setenv("GRD_FAKE_GPUS", fake)
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    pytester.makeini("[pytest]\n" + ini + "\n")
    result = pytester.runpytest("--grd-no-tracking", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


@pytest.mark.parametrize(
    ("args", "ini", "fake", "line"),
    [
        (
            ["--grd-gpus", "auto", "-n", "3"],
            "",
            TWO_GPUS,
            "grd: 2 worker(s), 1 per GPU, on GPU 0 (Fake H100, 81559 MiB), 1 (Fake H100, "
            "81559 MiB) [[]GRD_FAKE_GPUS[]]; -n 3 ignored (--grd-gpus decides the workers); "
            "scheduling longest-first",
        ),
        (
            ["--grd-gpus", "auto", "-n", "2"],
            "",
            "none",
            "grd: --grd-gpus=auto found no GPU (GRD_FAKE_GPUS); running 2 CPU worker(s) (-n 2); "
            "scheduling longest-first",
        ),
        (
            ["--grd-gpus", "auto"],
            "",
            "none",
            "grd: --grd-gpus=auto found no GPU (GRD_FAKE_GPUS); running * CPU worker(s) (-n auto)*",
        ),
        (
            ["-n", "2"],
            "grd_gpus = auto",
            TWO_GPUS,
            "grd: -n 2 given, so ini grd_gpus is not applied (pass --grd-gpus to assign GPUs)",
        ),
        (
            ["--grd-gpus", "1", "--dist", "worksteal"],
            "",
            TWO_GPUS,
            "grd: 1 worker(s), 1 per GPU, on GPU 1 (Fake H100, 81559 MiB) [[]GRD_FAKE_GPUS[]]",
        ),
    ],
)
def test_gpu_plan_is_one_line(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    ini: str,
    fake: str,
    line: str,
) -> None:
    monkeypatch.setenv("GRD_FAKE_GPUS", fake)
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    pytester.makeini("[pytest]\n" + ini + "\n")
    # --collect-only: the plan is made and shown, no worker is started.
    result = pytester.runpytest("--grd-no-tracking", "--collect-only", *args)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([line])
    grd_lines = [x for x in result.stdout.lines if x.startswith("grd: ") and "session" not in x]
    assert len(grd_lines) == 1


# -- GPUs: real workers, simulated GPUs --------------------------------------------------

WHERE = (
    SEEN
    + """
import time
import pytest

@pytest.mark.hypothesis("hyp_where", claim="every case runs on its worker's GPU")
@pytest.mark.parametrize("i", range(8))
def test_where(i, grd_device, grd_case):
    time.sleep(0.05)
    seen(grd_case, grd_device)
"""
)


def test_one_worker_per_gpu_slot_within_visible_devices(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, sink: RecordSink
) -> None:
    monkeypatch.setenv("GRD_FAKE_GPUS", THREE_GPUS)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")  # GPU 1 is not ours
    pytester.makepyfile(test_where=WHERE)
    result = pytester.runpytest_subprocess(
        "--grd-no-tracking",
        "--grd-gpus",
        "auto",
        "--grd-workers-per-gpu",
        "2",
        "-rA",
        timeout=180,
    )
    # Eight cases and the hypothesis' own result (the roll-up of the eight).
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines(["VALIDATED test_where.py::hyp_where"])
    result.stdout.fnmatch_lines(["grd: 4 worker(s), 2 per GPU, on GPU 2 (Fake A10*), 0 (*"])
    records = sink.records()
    assert len(records) == 8
    worker_gpu: dict[str, str] = {}
    for record in records:
        seen, gpu = record["extra"]["seen"], record["extra"]["gpu"]
        # Inside the worker: exactly its GPU, in nvidia-smi numbering.
        assert seen["cvd"] == gpu["cuda_visible_devices"] == gpu["index"]
        assert seen["order"] == "PCI_BUS_ID"
        assert seen["device"] == record["device"] == "cuda:0"
        assert seen["worker"] == record["worker"] == gpu["worker"]
        assert gpu["name"] == ("Fake A10" if gpu["index"] == "2" else "Fake H100")
        assert worker_gpu.setdefault(seen["worker"], seen["cvd"]) == seen["cvd"]
        worker_gpu[seen["worker"] + "/slot"] = seen["slot"]
    # Four workers (two deals of the first cases reach all of them), two per GPU.
    assignment = {w: g for w, g in worker_gpu.items() if "/" not in w}
    assert sorted(assignment.values()) == ["0", "0", "2", "2"]
    for gpu_id in ("0", "2"):
        slots = {worker_gpu[w + "/slot"] for w, g in assignment.items() if g == gpu_id}
        assert slots == {"0", "1"}


CRASHING = (
    SEEN
    + """
import ctypes
import os
import pytest

@pytest.mark.hypothesis("hyp_crash", claim="the sweep survives dead workers")
@pytest.mark.parametrize("mode", ["a", "exit", "b", "segfault", "c"])
def test_case(mode, grd_device, grd_case):
    seen(grd_case, grd_device)
    if mode == "exit":
        os._exit(1)
    if mode == "segfault":
        ctypes.string_at(0)
"""
)


def test_crashed_worker_is_inconclusive_and_its_replacement_keeps_the_gpu(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, sink: RecordSink
) -> None:
    monkeypatch.setenv("GRD_FAKE_GPUS", "5:Fake H100:81559")
    pytester.makepyfile(test_crash=CRASHING)
    # One GPU, one worker, no cached durations: the cases run in file order,
    # so every case after a crash runs in a replacement worker.
    result = pytester.runpytest_subprocess(
        "--grd-no-tracking", "--grd-gpus", "auto", "-p", "no:cacheprovider", timeout=180
    )
    result.stdout.fnmatch_lines(
        ["*replacing crashed worker gw0*", "*replacing crashed worker gw1*", "*= grd verdicts =*"]
    )
    result.stdout.fnmatch_lines(["hyp_crash*INCONCLUSIVE*(3 validated, 2 inconclusive)*"])
    records = _by_name(sink)
    assert sorted(records) == [f"hyp_crash[mode={m}]" for m in ("a", "b", "c", "exit", "segfault")]
    for mode, worker in (("exit", "gw0"), ("segfault", "gw1")):
        crashed = records[f"hyp_crash[mode={mode}]"]
        assert crashed["verdict"] == "INCONCLUSIVE"
        assert crashed["reason"].startswith(f"worker crashed: worker '{worker}' crashed while")
        assert crashed["extra"]["crashed"] is True
    for mode, worker in (("a", "gw0"), ("b", "gw1"), ("c", "gw2")):
        record = records[f"hyp_crash[mode={mode}]"]
        assert record["verdict"] == "VALIDATED"
        assert record["extra"]["seen"]["worker"] == worker
        assert record["extra"]["seen"]["cvd"] == "5"  # the replacement kept the GPU
    assert result.ret == pytest.ExitCode.TESTS_FAILED


# -- serial == parallel ------------------------------------------------------------------

SWEEP = """
import random
import numpy as np
import pytest
import pytest_grd as grd

@pytest.mark.hypothesis("hyp_lr", claim="small steps converge", seeds=2)
@pytest.mark.parametrize("lr", [0.5, 0.1, 0.01])
def test_lr(lr, grd_seed, grd_case):
    noise = float(np.random.normal(0, 0.01))
    loss = lr * 0.1 + noise + random.random() * 0.001
    grd_case.log_metric("loss", loss)
    assert loss < 0.04, f"loss {loss:.4f} too high"

@pytest.mark.hypothesis("hyp_unseeded", claim="no seeds declared, still reproducible")
@pytest.mark.parametrize("k", [1, 2, 3])
def test_unseeded(k, grd_case):
    # No grd_seed: every case still starts from the same random state.
    grd_case.log_metric("draw", random.random() * k)

@pytest.mark.hypothesis("hyp_doubt", claim="too little data")
def test_doubt():
    grd.inconclusive("need more seeds")
"""


def _run_records(sink: RecordSink) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    records = sorted(
        (CaseRecord.from_dict(r).comparable() for r in sink.records()), key=lambda r: r["nodeid"]
    )
    results_path = Path(str(sink.path) + ".results")
    results = json.loads(results_path.read_text())
    sink.path.unlink()
    results_path.unlink()
    return records, results


def _assert_decisions(result: pytest.RunResult) -> None:
    """The multi-case hypotheses each have their own result; the single-case one has none."""
    result.stdout.fnmatch_lines(["VALIDATED test_sweep.py::hyp_unseeded"])
    result.stdout.fnmatch_lines(["REJECTED test_sweep.py::hyp_lr - *"])
    assert "test_sweep.py::hyp_doubt" not in result.stdout.str()


def test_records_and_roll_ups_identical_serial_n2_and_gpus(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, sink: RecordSink
) -> None:
    pytester.makeconftest(RESULTS_CONFTEST)
    pytester.makepyfile(test_sweep=SWEEP)
    serial = pytester.runpytest("--grd-no-tracking", "-n", "0", "-rA")
    # Ten cases plus a result for each multi-case hypothesis: hyp_lr's roll-up is
    # REJECTED (failed), hyp_unseeded's VALIDATED (passed); hyp_doubt has one case.
    serial.assert_outcomes(passed=8, failed=4)
    _assert_decisions(serial)
    serial_records, serial_results = _run_records(sink)
    assert len(serial_records) == 10
    # The unseeded cases do depend on their parameter only.
    draws = {r["params"]["k"]: r["metrics"]["draw"] for r in serial_records if r["params"].get("k")}
    assert draws == {k: random.Random(0).random() * k for k in (1, 2, 3)}

    parallel = pytester.runpytest_subprocess("--grd-no-tracking", "-n", "2", "-rA", timeout=180)
    parallel.assert_outcomes(passed=8, failed=4)
    _assert_decisions(parallel)
    assert _run_records(sink) == (serial_records, serial_results)

    monkeypatch.setenv("GRD_FAKE_GPUS", TWO_GPUS)
    gpus = pytester.runpytest_subprocess(
        "--grd-no-tracking", "--grd-gpus", "auto", "-rA", timeout=180
    )
    gpus.assert_outcomes(passed=8, failed=4)
    _assert_decisions(gpus)
    gpu_records, gpu_results = _run_records(sink)
    assert (gpu_records, gpu_results) == (serial_records, serial_results)
    assert {r["verdict"] for r in serial_results} == {"VALIDATED", "REJECTED", "INCONCLUSIVE"}


# -- longest-first ------------------------------------------------------------------------

UNEVEN = """
import time
import pytest

@pytest.mark.hypothesis("hyp_uneven", claim="long and short cases")
@pytest.mark.parametrize("seconds", [0.05, 0.15, 0.6, 0.3])
def test_uneven(seconds, grd_case):
    time.sleep(seconds)

def test_plain():
    pass
"""


def test_longest_first_from_durations_of_an_earlier_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, sink: RecordSink
) -> None:
    pytester.makepyfile(test_uneven=UNEVEN)
    first = pytester.runpytest("--grd-no-tracking", "-p", "no:xdist", "-v")
    # Four cases, test_plain and the hypothesis' own result.
    first.assert_outcomes(passed=6)
    first.stdout.fnmatch_lines(["test_uneven.py::hyp_uneven VALIDATED*"])
    # Hypothesis cases only: test_plain is not timed.
    durations = json.loads((pytester.path / ".pytest_cache/v/grd/durations").read_text())
    assert set(durations) == {f"test_uneven.py::test_uneven[{s}]" for s in (0.05, 0.15, 0.6, 0.3)}
    assert durations["test_uneven.py::test_uneven[0.6]"] >= 0.6
    sink.path.unlink()

    monkeypatch.setenv("GRD_FAKE_GPUS", "0:Fake H100:81559")
    result = pytester.runpytest_subprocess("--grd-no-tracking", "--grd-gpus", "0", timeout=180)
    result.stdout.fnmatch_lines(["grd: 1 worker(s)*; scheduling longest-first"])
    order = [r["params"]["seconds"] for r in sorted(sink.records(), key=lambda r: r["started_at"])]
    assert order == [0.6, 0.3, 0.15, 0.05]
    sink.path.unlink()

    # An explicit --dist is the user's choice: xdist's own order.
    result = pytester.runpytest_subprocess(
        "--grd-no-tracking", "--grd-gpus", "0", "--dist", "load", timeout=180
    )
    assert "scheduling" not in result.stdout.str()
    order = [r["params"]["seconds"] for r in sorted(sink.records(), key=lambda r: r["started_at"])]
    assert order == [0.05, 0.15, 0.6, 0.3]
