"""GPU detection, the ``--grd-gpus`` setting, and what a worker owns.

Pure logic: no pytest import.  The controller asks :func:`detect_gpus` which
GPUs exist (NVML through ``pynvml`` when it is importable, else
``nvidia-smi``, always restricted to ``CUDA_VISIBLE_DEVICES`` when that is
set), and :mod:`pytest_grd.sweep.scheduling` turns them into xdist ``--tx``
specs.  A worker learns what it owns from its environment alone
(:func:`worker_gpu`), which xdist copies to a replacement worker when one
crashes.

``GRD_FAKE_GPUS`` simulates GPUs for tests and dry runs::

    GRD_FAKE_GPUS="0:Fake H100:81559,1:Fake H100:81559"   # two GPUs
    GRD_FAKE_GPUS="none"                                    # a machine without GPUs

Each entry is ``index:name:memory_mb``; ``CUDA_VISIBLE_DEVICES`` still
restricts them, as it restricts real ones.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "FAKE_ENV",
    "GpuInfo",
    "GpuInventory",
    "GpuSetting",
    "GpuSettingError",
    "WorkerGpu",
    "detect_gpus",
    "parse_fake_gpus",
    "parse_gpu_setting",
    "parse_nvidia_smi",
    "select_gpus",
    "select_visible",
    "worker_device",
    "worker_gpu",
]

#: Environment variable that replaces detection with simulated GPUs.
FAKE_ENV = "GRD_FAKE_GPUS"
#: Set in a worker's environment (before it starts) to the nvidia-smi index it owns.
GPU_ENV = "GRD_GPU"
GPU_NAME_ENV = "GRD_GPU_NAME"
GPU_MEMORY_ENV = "GRD_GPU_MEMORY_MB"
#: nvidia-smi fields, in this order; ``uuid`` lets CUDA_VISIBLE_DEVICES hold UUIDs.
NVIDIA_SMI_QUERY = "index,name,memory.total,uuid"
#: How long a hung driver may delay start-up before detection gives up.
NVIDIA_SMI_TIMEOUT_S = 20.0


class GpuSettingError(ValueError):
    """A ``--grd-gpus`` value or a ``GRD_FAKE_GPUS`` entry that cannot be read."""


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as the driver reports it; ``index`` is the nvidia-smi (PCI bus) index."""

    index: int
    name: str
    memory_mb: int
    uuid: str = ""

    def describe(self) -> str:
        """``1 (NVIDIA H100 80GB HBM3, 81559 MiB)``."""
        return f"{self.index} ({self.name}, {self.memory_mb} MiB)"


@dataclass(frozen=True)
class GpuInventory:
    """The GPUs this process may use, and where that answer came from."""

    gpus: tuple[GpuInfo, ...]
    source: str
    #: Why nothing was found (driver missing, query failed), for the one-line messages.
    note: str = ""
    #: The ``CUDA_VISIBLE_DEVICES`` value that restricted the list, if any.
    visible: str | None = None
    hidden: tuple[GpuInfo, ...] = field(default=())

    def by_index(self) -> dict[int, GpuInfo]:
        return {g.index: g for g in self.gpus}

    def describe(self) -> str:
        """``GPUs 0 (A, 81559 MiB), 1 (...) [nvidia-smi]`` or ``no GPU (why)``."""
        if not self.gpus:
            why = self.note or self.source
            if self.hidden:
                why = f"CUDA_VISIBLE_DEVICES={self.visible} hides " + ", ".join(
                    str(g.index) for g in self.hidden
                )
            return f"no GPU ({why})"
        listed = ", ".join(g.describe() for g in self.gpus)
        return f"GPUs {listed} [{self.source}]"


GpuSetting = Literal["auto", "none"] | tuple[int, ...]


def parse_gpu_setting(value: str | None, where: str = "--grd-gpus") -> GpuSetting | None:
    """``auto``, ``none`` or a comma-separated list of GPU indices; ``None``
    when nothing was set.  Raises :class:`GpuSettingError` naming ``where``."""
    if value is None:
        return None
    text = value.strip().lower()
    if not text:
        return None
    if text in ("auto", "all"):
        return "auto"
    if text in ("none", "no", "off", "cpu"):
        return "none"
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise GpuSettingError(
                f"{where}={value!r}: expected auto, none or GPU indices such as 0,1,3"
            )
        index = int(part)
        if index in ids:
            raise GpuSettingError(f"{where}={value!r}: GPU {index} is listed twice")
        ids.append(index)
    return tuple(ids)


def parse_fake_gpus(value: str) -> tuple[GpuInfo, ...]:
    """Read ``GRD_FAKE_GPUS`` (``index:name:memory_mb,...``; ``none`` for no GPU)."""
    text = value.strip()
    if text.lower() in ("", "none", "0"):
        return ()
    gpus: list[GpuInfo] = []
    for entry in text.split(","):
        parts = entry.strip().split(":")
        if len(parts) != 3 or not parts[0].strip().isdigit() or not parts[2].strip().isdigit():
            raise GpuSettingError(
                f"{FAKE_ENV}: entry {entry.strip()!r} is not index:name:memory_mb "
                "(e.g. 0:Fake H100:81559)"
            )
        index = int(parts[0])
        gpus.append(GpuInfo(index, parts[1].strip(), int(parts[2]), f"GPU-fake-{index}"))
    return tuple(gpus)


def parse_nvidia_smi(output: str) -> tuple[GpuInfo, ...]:
    """Parse ``nvidia-smi --query-gpu=index,name,memory.total,uuid
    --format=csv,noheader,nounits`` output (memory may carry a `` MiB`` unit)."""
    gpus: list[GpuInfo] = []
    for line in output.splitlines():
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 3 or not fields[0].isdigit():
            continue  # a warning line from the driver, not a GPU
        memory = fields[2].split()[0] if fields[2] else "0"
        gpus.append(
            GpuInfo(
                index=int(fields[0]),
                name=fields[1],
                memory_mb=int(memory) if memory.isdigit() else 0,
                uuid=fields[3] if len(fields) > 3 else "",
            )
        )
    return tuple(gpus)


def _query_nvml() -> tuple[GpuInfo, ...] | None:
    """GPUs through NVML, or ``None`` when pynvml is missing or NVML fails."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # pynvml raises NVMLError subclasses for "no driver"
        return None
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            uuid = pynvml.nvmlDeviceGetUUID(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total // (1024 * 1024)
            gpus.append(
                GpuInfo(
                    index=index,
                    name=name.decode() if isinstance(name, bytes) else str(name),
                    memory_mb=int(memory),
                    uuid=uuid.decode() if isinstance(uuid, bytes) else str(uuid),
                )
            )
        return tuple(gpus)
    except Exception:
        return None
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _query_nvidia_smi(executable: str) -> tuple[tuple[GpuInfo, ...], str]:
    try:
        done = subprocess.run(
            [
                executable,
                f"--query-gpu={NVIDIA_SMI_QUERY}",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
            timeout=NVIDIA_SMI_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return (), f"nvidia-smi failed: {exc}"
    if done.returncode != 0:
        first = (done.stderr or done.stdout).strip().splitlines()
        return (), f"nvidia-smi exited {done.returncode}: {first[0] if first else ''}".strip()
    return parse_nvidia_smi(done.stdout), ""


def select_visible(
    gpus: tuple[GpuInfo, ...], visible: str | None
) -> tuple[tuple[GpuInfo, ...], tuple[GpuInfo, ...]]:
    """Split ``gpus`` into those ``CUDA_VISIBLE_DEVICES`` lets through (in its
    order) and those it hides.  Entries are nvidia-smi indices or UUIDs
    (a ``GPU-...`` prefix is enough); ``-1`` or an empty value hides all."""
    if visible is None:
        return gpus, ()
    chosen: list[GpuInfo] = []
    for token in (t.strip() for t in visible.split(",")):
        if not token:
            continue
        if token.lstrip("-").isdigit():
            index = int(token)
            if index < 0:
                break  # CUDA stops at the first invalid entry
            match = [g for g in gpus if g.index == index]
        else:
            match = [g for g in gpus if g.uuid and g.uuid.startswith(token)]
        if not match:
            break
        if match[0] not in chosen:
            chosen.append(match[0])
    hidden = tuple(g for g in gpus if g not in chosen)
    return tuple(chosen), hidden


def detect_gpus(env: Mapping[str, str] | None = None) -> GpuInventory:
    """The GPUs this process may hand to workers.

    Order of sources: ``GRD_FAKE_GPUS`` (simulation), NVML via ``pynvml``
    (when importable), ``nvidia-smi`` on ``PATH``.  The answer is restricted to
    ``CUDA_VISIBLE_DEVICES`` when it is set.  Never raises for a missing
    driver: the inventory is then empty and ``note`` says why.
    """
    environ = os.environ if env is None else env
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    fake = environ.get(FAKE_ENV)
    note = ""
    if fake is not None:
        gpus, source = parse_fake_gpus(fake), FAKE_ENV
    else:
        nvml = _query_nvml()
        if nvml is not None:
            gpus, source = nvml, "NVML"
        else:
            executable = shutil.which("nvidia-smi", path=environ.get("PATH"))
            if executable is None:
                gpus, source = (), "none"
                note = "nvidia-smi not found and pynvml not installed"
            else:
                gpus, note = _query_nvidia_smi(executable)
                source = "nvidia-smi"
    shown, hidden = select_visible(gpus, visible)
    return GpuInventory(
        gpus=shown, source=source, note=note, visible=visible, hidden=hidden if visible else ()
    )


def select_gpus(setting: GpuSetting, inventory: GpuInventory) -> tuple[GpuInfo, ...]:
    """The GPUs a setting asks for; raises :class:`GpuSettingError` naming the
    GPUs that exist when an id is not among them."""
    if setting == "none":
        return ()
    if setting == "auto":
        return inventory.gpus
    known = inventory.by_index()
    missing = [i for i in setting if i not in known]
    if missing:
        listed = ", ".join(str(i) for i in missing)
        raise GpuSettingError(
            f"--grd-gpus: no GPU {listed} here; available: {inventory.describe()}"
        )
    return tuple(known[i] for i in setting)


@dataclass(frozen=True)
class WorkerGpu:
    """The GPU a worker process owns, read from the environment it started with."""

    index: str
    name: str
    memory_mb: int | None
    cuda_visible_devices: str

    def tags(self, worker: str | None) -> dict[str, Any]:
        """The JSON put into ``record.extra["gpu"]`` (and MLflow tags)."""
        return {
            "index": self.index,
            "name": self.name,
            "memory_mb": self.memory_mb,
            "cuda_visible_devices": self.cuda_visible_devices,
            "worker": worker,
        }


def worker_gpu(env: Mapping[str, str] | None = None) -> WorkerGpu | None:
    """The GPU this process was given (``GRD_GPU`` set before it started, by
    ``--grd-gpus`` or by hand in an xdist ``--tx ...//env:GRD_GPU=0`` spec),
    or ``None``.  ``CUDA_VISIBLE_DEVICES=-1`` or empty means no GPU."""
    environ = os.environ if env is None else env
    index = environ.get(GPU_ENV, "").strip()
    visible = environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if not index or not visible or visible.startswith("-1") or visible.lower() == "none":
        return None
    memory = environ.get(GPU_MEMORY_ENV, "").strip()
    return WorkerGpu(
        index=index,
        name=environ.get(GPU_NAME_ENV, "").strip(),
        memory_mb=int(memory) if memory.isdigit() else None,
        cuda_visible_devices=visible,
    )


def device_of(gpu: WorkerGpu | None) -> str:
    """``"cuda:0"`` for a process that owns a GPU (it sees only that one), else ``"cpu"``."""
    return "cuda:0" if gpu is not None else "cpu"


def worker_device(env: Mapping[str, str] | None = None) -> str:
    """The device of this process (see :func:`device_of`)."""
    return device_of(worker_gpu(env))
