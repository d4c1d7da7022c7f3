"""pytest-grd's entry point: options, ini keys, the marker and fixtures.

Loaded in every pytest run of an environment, so it is thin and cheap: no
mlflow, dvc, pandas, numpy, pandera, papermill, jupytext, scipy or matplotlib
import on its path.  The work happens in :mod:`pytest_grd.session` and the
concern plugins registered in :func:`pytest_configure`, which import heavy
libraries only when a hypothesis actually needs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .keys import CASE_KEY, SESSION_KEY, SETTINGS_KEY
from .session import CONTROLLER_NAME, GrdSession
from .settings import SettingError, get_settings, resolve_settings

if TYPE_CHECKING:
    from .case import Case
    from .data.fixture import DataAccess
    from .tracking.run import GrdRun

MARKER_HELP = (
    'hypothesis(id, claim="...", seeds=None, decide=None, baseline=None): mark a test as '
    "a research hypothesis; each case gets a verdict VALIDATED / REJECTED / INCONCLUSIVE. "
    "(A bare 'hypothesis' marker is the Hypothesis library's and is left alone.)"
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    from .options import add_options

    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    try:
        config.stash[SETTINGS_KEY] = resolve_settings(config)
    except SettingError as exc:
        raise pytest.UsageError(str(exc)) from None
    session = GrdSession(config)
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "grd-session")
    settings = config.stash[SETTINGS_KEY]
    if settings.ray_address is not None and not session.is_worker:
        from .ray.plugin import configure_ray  # imports Ray: only with --grd-ray

        configure_ray(config, settings)
    if not session.is_worker:
        # A serial session without hypotheses unregisters it after collection.
        from .controller import VerdictController

        config.pluginmanager.register(VerdictController(session), CONTROLLER_NAME)
    # Concern plugins: cheap to register, each imports its heavy library only
    # once a hypothesis needs it; baselines and reports only when asked for.
    from .data.plugin import DataPlugin
    from .notebook.plugin import NotebookPlugin
    from .sweep.plugin import SweepPlugin
    from .tracking.plugin import TrackingPlugin

    plugins: list[tuple[str, type[Any]]] = [
        ("grd-sweep", SweepPlugin),
        ("grd-tracking", TrackingPlugin),
        ("grd-data", DataPlugin),
        ("grd-notebook", NotebookPlugin),
    ]
    if settings.baseline is not None or settings.save_baseline is not None:
        from .baseline.plugin import BaselinePlugin

        plugins.append(("grd-baseline", BaselinePlugin))
    if settings.report_dir is not None:
        from .report.plugin import ReportPlugin

        plugins.append(("grd-report", ReportPlugin))
    for name, plugin_class in plugins:
        config.pluginmanager.register(plugin_class(config), name)


def _case(request: pytest.FixtureRequest) -> Case:
    __tracebackhide__ = True
    case: Case | None = request.node.stash.get(CASE_KEY, None)
    if case is None:
        pytest.fail(
            f"{request.fixturename} is for hypotheses: mark {request.node.name} with "
            '@pytest.mark.hypothesis("hyp_...", claim="...")',
            pytrace=False,
        )
    return case


@pytest.fixture
def grd_case(request: pytest.FixtureRequest) -> Case:
    """The running case: ``grd_case.record`` is its record, ``grd_case.spec``
    what the marker declared."""
    __tracebackhide__ = True
    return _case(request)


@pytest.fixture
def grd_run(request: pytest.FixtureRequest) -> GrdRun:
    """The case's MLflow run: ``log_param(s)``, ``log_metric(s)``, ``set_tag(s)``,
    ``log_artifact(s)``, ``run_id``; buffered and written in batches."""
    from .tracking.run import run_for_case

    __tracebackhide__ = True
    return run_for_case(_case(request))


@pytest.fixture
def grd_scale(request: pytest.FixtureRequest) -> str:
    """The experiment scale of this session (``--grd-scale``; ``"full"`` by default)."""
    return get_settings(request.config).scale


@pytest.fixture
def grd_seed(request: pytest.FixtureRequest) -> int:
    """The case's seed; Python's ``random``, NumPy and (if installed) torch are
    seeded with it before the test body runs."""
    from .sweep.seeding import seed_everything

    param = getattr(request, "param", None)
    seed = int(param) if param is not None else get_settings(request.config).seed_base
    case = request.node.stash.get(CASE_KEY, None)
    # Generators the case was seeded with before setup are not seeded twice.
    already = case.seeded[1] if case is not None and case.seeded[0] == seed else ()
    seed_everything(seed, already)
    if case is not None:
        case.record.seed = seed
    return seed


@pytest.fixture
def grd_device(request: pytest.FixtureRequest) -> str:
    """``"cuda:0"`` in a worker that owns a GPU, else ``"cpu"``."""
    case: Case | None = request.node.stash.get(CASE_KEY, None)
    if case is not None and case.record.device:
        return case.record.device  # set with its GPU tags before setup
    from .sweep.gpus import worker_device

    return worker_device()


@pytest.fixture
def grd_data(request: pytest.FixtureRequest) -> Iterator[DataAccess]:
    """DVC-versioned, pandera-checked data access with lineage (see README)."""
    from .data.fixture import data_access_for

    yield data_access_for(request)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    session: GrdSession | None = config.stash.get(SESSION_KEY, None)
    if session is None or session.is_worker:
        return None
    extra: list[str] = []
    if session.scale != "full":
        extra.append(f"scale={session.scale}")
    return ["grd: session " + session.session_id[:8] + (" " + " ".join(extra) if extra else "")]
