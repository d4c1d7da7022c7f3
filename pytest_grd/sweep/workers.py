"""Which xdist workers a sweep starts: one per GPU slot, or CPU workers.

Pure logic: no pytest import.  :func:`plan_workers` turns the ``--grd-gpus``
setting, the detected GPUs and what the user passed to xdist (``-n``,
``--tx``) into :class:`WorkerPlan`: the ``--tx`` specs to start and the one
line that says so.

Precedence, in one sentence: ``--grd-gpus`` on the command line beats ``-n``
and ``--tx``; ``-n`` / ``--tx`` beat the ini key ``grd_gpus``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .gpus import (
    GPU_ENV,
    GPU_MEMORY_ENV,
    GPU_NAME_ENV,
    GpuInfo,
    GpuInventory,
    GpuSetting,
    GpuSettingError,
    select_gpus,
)

__all__ = ["WorkerPlan", "WorkerSlot", "plan_workers", "SLOT_ENV"]

#: Which of a GPU's ``--grd-workers-per-gpu`` slots a worker is (0-based).
SLOT_ENV = "GRD_GPU_SLOT"


def _env_value(text: str) -> str:
    # execnet splits a spec on "//" and a key from its value on the first "=".
    return text.replace("//", "/").strip()


@dataclass(frozen=True)
class WorkerSlot:
    """One xdist worker: a GPU and its slot on that GPU, or a plain CPU worker."""

    gpu: GpuInfo | None = None
    slot: int = 0

    def env(self) -> dict[str, str]:
        """Environment the worker process gets before it starts."""
        if self.gpu is None:
            return {}
        return {
            # CUDA numbers devices fastest-first by default; nvidia-smi and NVML
            # by PCI bus.  Without this, index 1 could be another card.
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
            "CUDA_VISIBLE_DEVICES": str(self.gpu.index),
            GPU_ENV: str(self.gpu.index),
            GPU_NAME_ENV: _env_value(self.gpu.name),
            GPU_MEMORY_ENV: str(self.gpu.memory_mb),
            SLOT_ENV: str(self.slot),
        }

    def tx(self) -> str:
        """The ``--tx`` spec: ``popen//env:CUDA_VISIBLE_DEVICES=1//env:GRD_GPU=1...``."""
        return "//".join(["popen", *(f"env:{k}={v}" for k, v in self.env().items())])


@dataclass(frozen=True)
class WorkerPlan:
    """What grd does to xdist: ``apply`` False leaves ``-n``/``--tx`` alone."""

    apply: bool
    slots: tuple[WorkerSlot, ...] = ()
    message: str = ""

    def tx_specs(self) -> list[str]:
        return [slot.tx() for slot in self.slots]


def _n_text(numprocesses: int | None, explicit_tx: bool) -> str:
    if numprocesses is not None:
        return f"-n {numprocesses}"
    return "--tx" if explicit_tx else ""


def plan_workers(
    setting: GpuSetting | None,
    source: Literal["option", "ini"],
    inventory: GpuInventory,
    *,
    workers_per_gpu: int | None = None,
    numprocesses: int | None = None,
    explicit_tx: bool = False,
    cpu_workers: int = 1,
) -> WorkerPlan:
    """Decide the workers of a sweep.

    ``numprocesses`` is ``-n`` as xdist resolved it (``None`` when not
    given), ``explicit_tx`` whether ``--tx`` was given without ``-n``,
    ``cpu_workers`` the count ``-n auto`` would start (used when ``auto``
    finds no GPU and ``-n`` was not given).  Raises
    :class:`~pytest_grd.sweep.gpus.GpuSettingError` for ids that do not
    exist and a ``workers_per_gpu`` below 1.
    """
    where = "--grd-gpus" if source == "option" else "ini grd_gpus"
    if workers_per_gpu is not None and workers_per_gpu < 1:
        raise GpuSettingError(f"--grd-workers-per-gpu must be 1 or more, got {workers_per_gpu}")
    if setting is None or setting == "none":
        if workers_per_gpu is not None and setting is None:
            raise GpuSettingError("--grd-workers-per-gpu needs --grd-gpus (or ini grd_gpus)")
        return WorkerPlan(apply=False)
    user_n = _n_text(numprocesses, explicit_tx)
    if source == "ini" and user_n:
        return WorkerPlan(
            apply=False,
            message=f"grd: {user_n} given, so ini grd_gpus is not applied "
            "(pass --grd-gpus to assign GPUs)",
        )
    try:
        gpus = select_gpus(setting, inventory)
    except GpuSettingError as exc:
        raise GpuSettingError(str(exc).replace("--grd-gpus", where, 1)) from None
    ignored = f"; {user_n} ignored ({where} decides the workers)" if user_n else ""
    if not gpus:
        found = f"grd: {where}={_setting_text(setting)} found {inventory.describe()}"
        if numprocesses == 0:
            return WorkerPlan(apply=False, message=f"{found}; running serially (-n 0)")
        count = numprocesses if numprocesses else max(1, cpu_workers)
        how = f"{user_n}" if numprocesses else "-n auto"
        return WorkerPlan(
            apply=True,
            slots=tuple(WorkerSlot() for _ in range(count)),
            message=f"{found}; running {count} CPU worker(s) ({how})",
        )
    per_gpu = workers_per_gpu or 1
    slots = tuple(WorkerSlot(gpu, k) for gpu in gpus for k in range(per_gpu))
    listed = ", ".join(g.describe() for g in gpus)
    return WorkerPlan(
        apply=True,
        slots=slots,
        message=f"grd: {len(slots)} worker(s), {per_gpu} per GPU, on GPU {listed} "
        f"[{inventory.source}]{ignored}",
    )


def _setting_text(setting: GpuSetting) -> str:
    if isinstance(setting, tuple):
        return ",".join(str(i) for i in setting)
    return setting
