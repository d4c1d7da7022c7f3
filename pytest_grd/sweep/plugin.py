"""pytest side of seeds, GPUs and xdist workers.

:class:`SweepPlugin` is registered by ``pytest_grd.plugin`` during
``pytest_configure``.  Its own ``pytest_configure`` runs at registration,
which is before xdist's (``trylast``) creates the distributed session, so
the ``--tx`` specs it writes for ``--grd-gpus`` are the ones xdist starts.
GPU detection, worker planning and case ordering are pure modules
(:mod:`.gpus`, :mod:`.workers`, :mod:`.scheduling`); this class only reads
options and talks to pytest and xdist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from ..settings import get_settings
from .scheduling import CACHE_KEY, DEFAULT_SCHEDULER, merge_durations
from .seeding import seed_loaded

_UNSET = object()

if TYPE_CHECKING:
    from ..case import Case
    from ..record import CaseRecord
    from .workers import WorkerPlan

__all__ = ["SweepPlugin"]

#: grd's scheduler name -> (xdist ``--dist`` value, custom scheduler or None).
_DIST_MODES: dict[str, tuple[str, str | None]] = {
    "longest-first": ("load", "longest-first"),
    "worksteal": ("worksteal", None),
    "load": ("load", None),
}


class SweepPlugin:
    """Seeds every case, assigns GPUs to xdist workers, tags each case with
    the device it ran on, and orders cases longest-first."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = get_settings(config)
        self.is_worker = self.settings.is_worker
        self.plan: WorkerPlan | None = None
        #: The scheduler grd installs, or ``None`` to leave xdist's ``--dist`` alone.
        self.scheduler: str | None = None
        #: Seconds per hypothesis case seen in this run (controller only).
        self.durations: dict[str, float] = {}
        self._gpu: Any = _UNSET

    # -- start-up -----------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        if self.is_worker:
            return
        if self.settings.gpus is None and self.settings.workers_per_gpu is None:
            return  # the common case: no GPU planning, not even its imports
        from .gpus import GpuSettingError

        try:
            self._plan(config)
        except GpuSettingError as exc:
            raise pytest.UsageError(str(exc)) from None

    def _plan(self, config: pytest.Config) -> None:
        from .gpus import GpuInventory, detect_gpus, parse_gpu_setting
        from .workers import plan_workers

        settings = self.settings
        source = settings.gpus_source
        setting = parse_gpu_setting(
            settings.gpus, "--grd-gpus" if source == "option" else "grd_gpus"
        )
        workers_per_gpu = settings.workers_per_gpu
        if setting is None and workers_per_gpu is None:
            return  # the common case: no detection, no subprocess
        has_xdist = config.pluginmanager.hasplugin("xdist")
        if setting not in (None, "none") and not has_xdist:
            where = "--grd-gpus" if source == "option" else "ini grd_gpus"
            raise pytest.UsageError(
                f"{where} starts pytest-xdist workers, but xdist is disabled (-p no:xdist)"
            )
        numprocesses = getattr(config.option, "numprocesses", None)
        explicit_tx = numprocesses is None and bool(getattr(config.option, "tx", None))
        inventory = detect_gpus() if setting not in (None, "none") else None
        cpu_workers = 1
        if has_xdist and inventory is not None and not inventory.gpus:
            cpu_workers = int(config.hook.pytest_xdist_auto_num_workers(config=config))
        plan = plan_workers(
            setting,
            source,
            inventory or GpuInventory(gpus=(), source="none"),
            workers_per_gpu=workers_per_gpu,
            numprocesses=numprocesses,
            explicit_tx=explicit_tx,
            cpu_workers=cpu_workers,
        )
        self.plan = plan
        if not plan.apply:
            return
        if settings.debugging:
            raise pytest.UsageError("--pdb cannot debug xdist workers: add --grd-gpus none")
        config.option.tx = plan.tx_specs()
        # xdist derives its crashed-worker restart limit (4 x -n) from this.
        config.option.numprocesses = len(plan.slots)
        if settings.given("--dist", "-d", "--distload") and (config.option.dist != "no"):
            self.scheduler = None  # the user's --dist wins
        else:
            config.option.dist, self.scheduler = _DIST_MODES[DEFAULT_SCHEDULER]

    def pytest_report_header(self, config: pytest.Config) -> list[str] | None:
        if self.plan is None or not self.plan.message:
            return None
        line = self.plan.message
        if self.plan.apply and self.scheduler:
            line += f"; scheduling {self.scheduler}"
        return [line]

    # -- xdist controller ---------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if self.scheduler != "longest-first":
            return None
        from .xdist_scheduler import LongestFirstScheduling

        cache = getattr(config, "cache", None)
        durations = cache.get(CACHE_KEY, {}) if cache is not None else {}
        return LongestFirstScheduling(config, log, durations if isinstance(durations, dict) else {})

    def pytest_grd_case_record(self, record: CaseRecord, config: pytest.Config) -> None:
        # Only hypothesis cases are timed (a project that merely has
        # pytest-grd installed gets nothing written to its cache), and only
        # through the record, so plain tests pay for no hook here.
        if not self.is_worker and record.duration:
            self.durations[record.nodeid] = float(record.duration)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        cache = getattr(self.config, "cache", None)
        if self.is_worker or cache is None or not self.durations:
            return
        previous = cache.get(CACHE_KEY, {})
        cache.set(
            CACHE_KEY,
            merge_durations(previous if isinstance(previous, dict) else {}, self.durations.items()),
        )

    # -- every case ----------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_grd_case_started(self, item: pytest.Item, case: Case) -> None:
        """Before the case's setup (and before tracking opens its run): its
        device and GPU tags, and its random generators reset to its seed."""
        from .gpus import device_of, worker_gpu

        if self._gpu is _UNSET:
            # Given to the process before it started: looked up once.
            self._gpu = worker_gpu()
        gpu = self._gpu
        case.record.device = device_of(gpu)
        if gpu is not None:
            case.record.extra["gpu"] = gpu.tags(case.record.worker)
        # Same numbers whatever ran before in this process: serial == parallel.
        seed = case.record.seed if case.record.seed is not None else self.settings.seed_base
        case.seeded = (seed, tuple(seed_loaded(seed)))
