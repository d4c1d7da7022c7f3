"""The worker side: a Ray actor that runs a pytest session in worker mode.

:class:`PytestWorker` starts ``pytest.main`` in a thread of its own, with the
controller's arguments and :class:`WorkerPlugin`, which makes the session an
xdist-style worker (``config.workerinput``: pytest-grd, JUnit and the cache
plugin behave as on an xdist worker), collects, then runs the node ids the
controller sends one at a time (with the next one, so fixtures are torn down
as in a serial run) and hands back each case's events, its reports
serialized by pytest's own ``pytest_report_to_serializable``.

Test code runs outside the process's main thread: code that installs signal
handlers (``signal.signal``) cannot do so on a Ray worker.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..case import Case

__all__ = ["PytestWorker", "WorkerPlugin"]

#: One case's events: ``("logstart", nodeid, location)``, ``("report", data)``,
#: ``("logfinish", nodeid, location)``.
Event = tuple[Any, ...]
#: Resources every node has; the others say what kind of node it is.
_BUILTIN_PREFIXES = ("CPU", "GPU", "memory", "object_store_memory", "node:", "accelerator_type:")


class WorkerPlugin:
    """The worker session's own hooks (see module docstring)."""

    def __init__(self, workerinput: dict[str, Any], placement: dict[str, Any]) -> None:
        self.workerinput = workerinput
        self.placement = placement
        self.inbox: queue.Queue[tuple[str, str | None, dict[str, Any]] | None] = queue.Queue()
        self.outbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.collected = threading.Event()
        self.items: dict[str, pytest.Item] = {}
        self.events: list[Event] = []
        self.info: dict[str, Any] = {}
        self.config: pytest.Config | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        # What xdist's worker does before the session starts (remote.py).
        config.workerinput = self.workerinput  # type: ignore[attr-defined]
        config.workeroutput = {}  # type: ignore[attr-defined]
        for name, value in (("dist", "no"), ("numprocesses", None), ("usepdb", False)):
            if hasattr(config.option, name):
                setattr(config.option, name, value)
        self.config = config

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.items = {item.nodeid: item for item in session.items}
        self.collected.set()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        while (message := self.inbox.get()) is not None:
            nodeid, next_id, info = message
            item = self.items.get(nodeid)
            if item is None:
                why = str(session.shouldstop or "the worker did not collect it")
                self.outbox.put({"missing": nodeid, "why": why})
                continue
            self.events, self.info = [], info
            nextitem = self.items.get(next_id) if next_id else None
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            self.outbox.put({"events": self.events})
        return True

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.events.append(("logstart", nodeid, list(location)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        config = self.config
        if config is None:
            return
        data = config.hook.pytest_report_to_serializable(config=config, report=report)
        self.events.append(("report", data))

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.events.append(("logfinish", nodeid, list(location)))

    @pytest.hookimpl(optionalhook=True)
    def pytest_grd_case_started(self, item: pytest.Item, case: Case) -> None:
        """The record names where the case ran, and whether it ran before."""
        case.record.extra["ray"] = {**self.placement, **self.info}


def _gpu_environment(gpu_ids: list[Any]) -> dict[str, str]:
    """``GRD_GPU`` for the sweep plugin (Ray already set ``CUDA_VISIBLE_DEVICES``)."""
    if not gpu_ids:
        return {}
    from ..sweep.gpus import GPU_ENV

    return {GPU_ENV: ",".join(str(g) for g in gpu_ids), "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


class PytestWorker:
    """A Ray actor (created by :mod:`.dispatch` with ``ray.remote``)."""

    def __init__(self, args: list[str], invocation_dir: str, workerinput: dict[str, Any]) -> None:
        import ray

        context = ray.get_runtime_context()
        gpu_ids = list(ray.get_gpu_ids())
        os.environ.update(_gpu_environment(gpu_ids))
        node_id = context.get_node_id()
        node: dict[str, Any] = next((n for n in ray.nodes() if n.get("NodeID") == node_id), {})
        self.placement = {
            "node_id": node_id,
            # The node's custom resources: which kind of node it is.
            "node_resources": sorted(
                k for k in node.get("Resources", {}) if not k.startswith(_BUILTIN_PREFIXES)
            ),
            "node_ip": ray.util.get_node_ip_address(),
            "worker": workerinput["workerid"],
            "pid": os.getpid(),
            "gpu_ids": [str(g) for g in gpu_ids],
        }
        os.chdir(invocation_dir)
        session = str(workerinput.get("grd_session_id", "session"))[:12]
        base = Path(tempfile.gettempdir()) / f"pytest-grd-ray-{session}"
        base.mkdir(parents=True, exist_ok=True)
        args = [*args, f"--basetemp={base / workerinput['workerid']}"]
        self.plugin = WorkerPlugin(workerinput, self.placement)
        self.exit_code: int | None = None
        self.error = ""
        self.thread = threading.Thread(target=self._main, args=(args,), daemon=True)
        self.thread.start()

    def _main(self, args: list[str]) -> None:
        try:
            self.exit_code = int(pytest.main(args, plugins=[self.plugin]))
        except BaseException as exc:  # reported by ready(); the actor stays up
            self.error = f"{type(exc).__name__}: {exc}"
            self.exit_code = -1
        finally:
            self.plugin.collected.set()
            self.plugin.outbox.put({"exit": self.exit_code})

    def ready(self) -> dict[str, Any]:
        """Where this worker runs, once its session has collected."""
        self.plugin.collected.wait()
        failed = self.exit_code is not None
        error = self.error or (f"pytest exited with {self.exit_code}" if failed else "")
        return {**self.placement, "collected": len(self.plugin.items), "error": error}

    def run(self, nodeid: str, next_id: str | None, info: dict[str, Any]) -> dict[str, Any]:
        """Run one case; ``next_id`` is the case this worker gets next."""
        self.plugin.inbox.put((nodeid, next_id, info))
        return self.plugin.outbox.get()

    def stop(self, timeout: float) -> int | None:
        """End the session (its ``pytest_sessionfinish`` hooks run)."""
        self.plugin.inbox.put(None)
        self.thread.join(timeout)
        return self.exit_code
