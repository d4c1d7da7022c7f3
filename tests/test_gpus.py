"""GPU detection, the --grd-gpus setting, worker planning (pure, no pytester)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from execnet import XSpec

from pytest_grd.sweep.gpus import (
    GpuInfo,
    GpuInventory,
    GpuSettingError,
    detect_gpus,
    parse_fake_gpus,
    parse_gpu_setting,
    parse_nvidia_smi,
    select_gpus,
    select_visible,
    worker_device,
    worker_gpu,
)
from pytest_grd.sweep.workers import WorkerSlot, plan_workers

H100 = "0:Fake H100:81559,1:Fake H100:81559,2:Fake A10:24564"
SMI_OUTPUT = (
    "0, NVIDIA H100 80GB HBM3, 81559, GPU-aaaa-1111\n"
    "1, NVIDIA H100 80GB HBM3, 81559, GPU-bbbb-2222\n"
)


def _inventory(fake: str = H100, visible: str | None = None) -> GpuInventory:
    env = {"GRD_FAKE_GPUS": fake}
    if visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = visible
    return detect_gpus(env)


# -- the setting -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("auto", "auto"),
        (" AUTO ", "auto"),
        ("none", "none"),
        ("0", (0,)),
        ("0,1,3", (0, 1, 3)),
        ("3, 1", (3, 1)),
    ],
)
def test_parse_gpu_setting(value: str | None, expected: object) -> None:
    assert parse_gpu_setting(value) == expected


@pytest.mark.parametrize("value", ["gpu0", "0,,1", "-1", "1.5", "0,0"])
def test_bad_gpu_setting_names_where_it_came_from(value: str) -> None:
    with pytest.raises(GpuSettingError, match=r"^grd_gpus="):
        parse_gpu_setting(value, "grd_gpus")


# -- detection -------------------------------------------------------------------


def test_fake_gpus_are_parsed() -> None:
    gpus = parse_fake_gpus("0:Fake H100:81559, 3:Other:1000")
    assert [(g.index, g.name, g.memory_mb) for g in gpus] == [
        (0, "Fake H100", 81559),
        (3, "Other", 1000),
    ]
    assert parse_fake_gpus("none") == ()


@pytest.mark.parametrize("value", ["0:Fake", "x:Fake:1", "0:Fake:lots"])
def test_bad_fake_gpus_entry(value: str) -> None:
    with pytest.raises(GpuSettingError, match="GRD_FAKE_GPUS: entry"):
        parse_fake_gpus(value)


def test_nvidia_smi_output_is_parsed_and_noise_skipped() -> None:
    text = "WARNING: something from the driver\n" + SMI_OUTPUT + "2, Tesla T4, 15360 MiB\n"
    gpus = parse_nvidia_smi(text)
    assert [g.index for g in gpus] == [0, 1, 2]
    assert gpus[0] == GpuInfo(0, "NVIDIA H100 80GB HBM3", 81559, "GPU-aaaa-1111")
    assert gpus[2].memory_mb == 15360 and gpus[2].uuid == ""


def test_cuda_visible_devices_restricts_and_orders() -> None:
    gpus = parse_fake_gpus(H100)
    shown, hidden = select_visible(gpus, "2,0")
    assert [g.index for g in shown] == [2, 0]
    assert [g.index for g in hidden] == [1]
    # UUID prefixes, as CUDA accepts them.
    shown, _ = select_visible(parse_nvidia_smi(SMI_OUTPUT), "GPU-bbbb")
    assert [g.index for g in shown] == [1]
    # CUDA stops at the first invalid entry; -1 or empty hides everything.
    assert [g.index for g in select_visible(gpus, "1,7,0")[0]] == [1]
    assert select_visible(gpus, "-1")[0] == ()
    assert select_visible(gpus, "")[0] == ()
    assert select_visible(gpus, None) == (gpus, ())


def test_detect_with_fake_gpus_and_visible_devices() -> None:
    inventory = _inventory(visible="1")
    assert [g.index for g in inventory.gpus] == [1]
    assert inventory.source == "GRD_FAKE_GPUS"
    hidden = _inventory(visible="-1")
    assert hidden.gpus == ()
    assert "CUDA_VISIBLE_DEVICES=-1 hides 0, 1, 2" in hidden.describe()


def _fake_nvidia_smi(tmp_path: Path, body: str) -> str:
    """A stand-in driver tool on PATH: a real executable, run as a subprocess."""
    script = tmp_path / "nvidia-smi"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return f"{tmp_path}{os.pathsep}/usr/bin{os.pathsep}/bin"


@pytest.fixture
def no_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import pynvml`` fail, so that nvidia-smi is the source."""
    monkeypatch.setitem(sys.modules, "pynvml", None)


@pytest.mark.usefixtures("no_nvml")
def test_detect_through_nvidia_smi(tmp_path: Path) -> None:
    path = _fake_nvidia_smi(
        tmp_path,
        'case "$1" in --query-gpu=index,name,memory.total,uuid) ;; *) exit 9;; esac\n'
        f"printf '{SMI_OUTPUT}'\n",
    )
    inventory = detect_gpus({"PATH": path, "CUDA_VISIBLE_DEVICES": "1"})
    assert inventory.source == "nvidia-smi"
    assert [(g.index, g.name) for g in inventory.gpus] == [(1, "NVIDIA H100 80GB HBM3")]


@pytest.mark.usefixtures("no_nvml")
def test_failing_nvidia_smi_is_a_note_not_a_crash(tmp_path: Path) -> None:
    path = _fake_nvidia_smi(tmp_path, "echo 'NVIDIA-SMI has failed: no driver' >&2; exit 9\n")
    inventory = detect_gpus({"PATH": path})
    assert inventory.gpus == ()
    assert "nvidia-smi exited 9: NVIDIA-SMI has failed" in inventory.describe()


@pytest.mark.usefixtures("no_nvml")
def test_no_driver_at_all(tmp_path: Path) -> None:
    inventory = detect_gpus({"PATH": str(tmp_path)})
    assert inventory.describe() == "no GPU (nvidia-smi not found and pynvml not installed)"


def test_select_gpus_names_what_exists() -> None:
    inventory = _inventory()
    assert [g.index for g in select_gpus((2, 0), inventory)] == [2, 0]
    assert select_gpus("none", inventory) == ()
    with pytest.raises(GpuSettingError) as info:
        select_gpus((0, 5, 7), inventory)
    message = str(info.value)
    assert message.startswith("--grd-gpus: no GPU 5, 7 here; available: GPUs 0 (Fake H100")
    assert "2 (Fake A10, 24564 MiB)" in message


# -- the worker side -----------------------------------------------------------------


def test_worker_gpu_from_environment() -> None:
    env = {
        "GRD_GPU": "1",
        "CUDA_VISIBLE_DEVICES": "1",
        "GRD_GPU_NAME": "Fake H100",
        "GRD_GPU_MEMORY_MB": "81559",
    }
    gpu = worker_gpu(env)
    assert gpu is not None
    assert gpu.tags("gw3") == {
        "index": "1",
        "name": "Fake H100",
        "memory_mb": 81559,
        "cuda_visible_devices": "1",
        "worker": "gw3",
    }
    assert worker_device(env) == "cuda:0"
    # CUDA_VISIBLE_DEVICES alone is not ownership; -1 hides the GPU.
    assert worker_device({"CUDA_VISIBLE_DEVICES": "0"}) == "cpu"
    assert worker_device({**env, "CUDA_VISIBLE_DEVICES": "-1"}) == "cpu"
    assert worker_device({}) == "cpu"


def test_worker_slot_tx_round_trips_through_execnet() -> None:
    slot = WorkerSlot(GpuInfo(3, "NVIDIA A100-SXM4-80GB", 81920), slot=1)
    spec = XSpec(slot.tx())
    assert spec.popen
    assert spec.env == {
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "CUDA_VISIBLE_DEVICES": "3",
        "GRD_GPU": "3",
        "GRD_GPU_NAME": "NVIDIA A100-SXM4-80GB",
        "GRD_GPU_MEMORY_MB": "81920",
        "GRD_GPU_SLOT": "1",
    }
    assert WorkerSlot().tx() == "popen"
    assert XSpec(WorkerSlot(GpuInfo(0, "odd//name=x", 1)).tx()).env["GRD_GPU_NAME"] == "odd/name=x"


# -- planning ------------------------------------------------------------------------


def test_plan_one_worker_per_gpu_slot() -> None:
    plan = plan_workers((0, 2), "option", _inventory(), workers_per_gpu=2)
    assert plan.apply
    assert [(s.gpu.index if s.gpu else None, s.slot) for s in plan.slots] == [
        (0, 0),
        (0, 1),
        (2, 0),
        (2, 1),
    ]
    assert plan.message.startswith("grd: 4 worker(s), 2 per GPU, on GPU 0 (Fake H100")


def test_plan_option_beats_n_and_n_beats_ini() -> None:
    inventory = _inventory()
    plan = plan_workers("auto", "option", inventory, numprocesses=8)
    assert len(plan.slots) == 3
    assert plan.message.endswith("; -n 8 ignored (--grd-gpus decides the workers)")
    plan = plan_workers("auto", "ini", inventory, numprocesses=8)
    assert not plan.apply
    assert plan.message == (
        "grd: -n 8 given, so ini grd_gpus is not applied (pass --grd-gpus to assign GPUs)"
    )
    plan = plan_workers("auto", "ini", inventory, explicit_tx=True)
    assert not plan.apply and "--tx given" in plan.message
    assert plan_workers("auto", "ini", inventory).apply


def test_plan_without_gpus_falls_back_to_cpu_workers() -> None:
    none = _inventory("none")
    plan = plan_workers("auto", "option", none, cpu_workers=6)
    assert [s.gpu for s in plan.slots] == [None] * 6
    assert plan.message == (
        "grd: --grd-gpus=auto found no GPU (GRD_FAKE_GPUS); running 6 CPU worker(s) (-n auto)"
    )
    plan = plan_workers("auto", "option", none, numprocesses=2, cpu_workers=6)
    assert len(plan.slots) == 2 and plan.message.endswith("(-n 2)")
    serial = plan_workers("auto", "option", none, numprocesses=0)
    assert not serial.apply and serial.message.endswith("running serially (-n 0)")


def test_plan_errors() -> None:
    inventory = _inventory()
    assert not plan_workers("none", "option", inventory).apply
    assert not plan_workers(None, "option", inventory).apply
    with pytest.raises(GpuSettingError, match="--grd-workers-per-gpu must be 1 or more"):
        plan_workers("auto", "option", inventory, workers_per_gpu=0)
    with pytest.raises(GpuSettingError, match="needs --grd-gpus"):
        plan_workers(None, "option", inventory, workers_per_gpu=2)
    with pytest.raises(GpuSettingError, match=r"^ini grd_gpus: no GPU 9 here"):
        plan_workers((9,), "ini", inventory)
