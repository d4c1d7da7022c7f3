"""pytest side of ``--grd-ray``: checked at configure, the run loop after collection.

:func:`configure_ray` is called from ``pytest_grd.plugin`` on the controller
only when ``--grd-ray`` was given: it refuses ``-n``/``--grd-gpus``, joins the
cluster (a one-line usage error when Ray is missing or the cluster cannot be
reached) and registers :class:`RayPlugin`, whose ``pytest_runtestloop``
replaces pytest's own: collection stays on the controller, cases run on the
cluster (:mod:`.dispatch`).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..settings import Settings
    from .connect import Cluster

__all__ = ["RayPlugin", "configure_ray"]

PLUGIN_NAME = "grd-ray"


def configure_ray(config: pytest.Config, settings: Settings) -> None:
    """Check the options, join the cluster, register :class:`RayPlugin`."""
    numprocesses = getattr(config.option, "numprocesses", None)
    if numprocesses:
        raise pytest.UsageError("--grd-ray and -n both choose where cases run: pass one of them")
    if settings.gpus is not None:
        raise pytest.UsageError(
            "--grd-ray places GPUs itself: drop --grd-gpus and ask for them with "
            'resources={"num_gpus": 1} on the marker (or ini grd_ray_resources)'
        )
    if settings.debugging:
        raise pytest.UsageError("--pdb cannot debug cases running on a Ray cluster")
    from .connect import RayUnavailable, connect

    try:
        cluster = connect(settings.ray_address or "")
    except RayUnavailable as exc:
        raise pytest.UsageError(str(exc)) from None
    config.pluginmanager.register(RayPlugin(config, settings, cluster), PLUGIN_NAME)


class RayPlugin:
    """The controller's Ray hooks (see module docstring)."""

    def __init__(self, config: pytest.Config, settings: Settings, cluster: Cluster) -> None:
        self.config = config
        self.settings = settings
        self.cluster = cluster

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        return [self.cluster.describe()]

    def _workerinput(self, name: str) -> dict[str, Any]:
        """What an xdist worker would get: ``workerid`` and whatever the
        controller's plugins add in ``pytest_configure_node`` (pytest-grd's
        session id among them)."""
        node = SimpleNamespace(
            workerinput={"workerid": name, "workercount": 0, "testrunuid": ""},
            config=self.config,
            gateway=SimpleNamespace(id=name),
        )
        hook = getattr(self.config.hook, "pytest_configure_node", None)
        if hook is not None:
            hook(node=node)
        return dict(node.workerinput)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        if session.testsfailed and not self.config.option.continue_on_collection_errors:
            raise session.Interrupted(
                f"{session.testsfailed} error{'s' if session.testsfailed != 1 else ''} "
                "during collection"
            )
        if self.config.option.collectonly or not session.items:
            return True
        from .dispatch import RaySweep

        sweep = RaySweep(
            session,
            self.cluster,
            retries=self.settings.ray_retries,
            default_request=dict(self.settings.ray_resources),
            workerinput=self._workerinput,
        )
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        for line in sweep.plan():
            if terminal is not None:
                terminal.write_line(line)
        sweep.run()
        if session.shouldfail:
            raise session.Failed(session.shouldfail)
        if session.shouldstop:
            raise session.Interrupted(session.shouldstop)
        return True

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        from .connect import disconnect

        disconnect()
