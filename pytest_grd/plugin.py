"""pytest-grd's entry point: options, ini keys, the marker and fixtures.

Loaded in every pytest run of an environment, so it is thin and cheap: no
mlflow, dvc, pandas, numpy, pandera, papermill, jupytext, scipy or matplotlib
import on its path.  The work happens in :mod:`pytest_grd.session` and the
concern plugins registered in :func:`pytest_configure`, which import heavy
libraries only when a hypothesis actually needs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .session import CASE_KEY, SESSION_KEY, GrdSession

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
    group = parser.getgroup("grd", "pytest-grd: research hypotheses as tests")
    group.addoption(
        "--grd-report",
        dest="grd_report",
        nargs="?",
        const="grd-report",
        default=None,
        metavar="DIR",
        help="write report.html, report.md and report.json to DIR (default: grd-report/).",
    )
    group.addoption(
        "--grd-tracking-uri",
        dest="grd_tracking_uri",
        default=None,
        metavar="URI",
        help="MLflow tracking URI (default: ini grd_tracking_uri, then MLFLOW_TRACKING_URI, "
        "then sqlite:///<rootdir>/mlflow.db).",
    )
    group.addoption(
        "--grd-no-tracking",
        dest="grd_no_tracking",
        action="store_true",
        default=False,
        help="do not log cases to MLflow (verdicts, records and reports still work).",
    )
    group.addoption(
        "--grd-seeds",
        dest="grd_seeds",
        type=int,
        default=None,
        metavar="N",
        help="run every hypothesis with N seeds, overriding seeds= on markers.",
    )
    group.addoption(
        "--grd-gpus",
        dest="grd_gpus",
        default=None,
        metavar="auto|none|0,1,..",
        help="run one xdist worker per GPU (ini grd_gpus); 'auto' uses every visible GPU.",
    )
    group.addoption(
        "--grd-workers-per-gpu",
        dest="grd_workers_per_gpu",
        type=int,
        default=None,
        metavar="K",
        help="xdist workers per GPU with --grd-gpus (default 1).",
    )
    group.addoption(
        "--grd-scale",
        dest="grd_scale",
        default=None,
        metavar="NAME",
        help="experiment scale exposed by the grd_scale fixture, e.g. 'smoke' in CI "
        "(ini grd_scale, default 'full').",
    )
    group.addoption(
        "--grd-save-baseline",
        dest="grd_save_baseline",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="record verdicts and key metrics to PATH (default: ini grd_baseline_path).",
    )
    group.addoption(
        "--grd-baseline",
        dest="grd_baseline",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="compare against a saved baseline; the exit status reports changes only.",
    )
    group.addoption(
        "--grd-notebook-timeout",
        dest="grd_notebook_timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="per-cell timeout for notebook hypotheses (ini grd_notebook_timeout).",
    )
    parser.addini("grd_experiment", "MLflow experiment name (default: the rootdir's name).")
    parser.addini("grd_tracking_uri", "MLflow tracking URI (see --grd-tracking-uri).")
    parser.addini("grd_gpus", "GPUs for --grd-gpus when the option is not given.")
    parser.addini("grd_scale", "default experiment scale (see --grd-scale).", default="full")
    parser.addini("grd_seed_base", "first seed of a seeds= expansion.", default="0")
    parser.addini(
        "grd_correction",
        "multiple-comparison correction across decided hypotheses: holm or bh.",
        default="holm",
    )
    parser.addini(
        "grd_baseline_path", "baseline file for --grd-(save-)baseline.", default="grd-baseline.json"
    )
    parser.addini(
        "grd_datasets",
        "named datasets for grd_data, one 'name = target[@rev]' per line.",
        type="linelist",
        default=[],
    )
    parser.addini("grd_notebook_timeout", "per-cell notebook timeout in seconds.", default="600")
    parser.addini("grd_kernel", "Jupyter kernel for notebook hypotheses.", default="python3")
    parser.addini(
        "grd_env_allowlist",
        "environment variables whose values may be logged as run tags (none by default).",
        type="linelist",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    session = GrdSession(config)
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "grd-session")
    # Concern plugins: cheap to register, each imports its heavy library only
    # once a hypothesis needs it.
    from .data.plugin import DataPlugin
    from .notebook.plugin import NotebookPlugin
    from .report.plugin import ReportPlugin
    from .sweep.plugin import SweepPlugin
    from .tracking.plugin import TrackingPlugin

    for name, plugin_class in (
        ("grd-sweep", SweepPlugin),
        ("grd-tracking", TrackingPlugin),
        ("grd-data", DataPlugin),
        ("grd-notebook", NotebookPlugin),
        ("grd-report", ReportPlugin),
    ):
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
    return request.config.stash[SESSION_KEY].scale


@pytest.fixture
def grd_seed(request: pytest.FixtureRequest) -> int:
    """The case's seed; Python's ``random``, NumPy and (if installed) torch are
    seeded with it before the test body runs."""
    from .sweep.seeding import seed_everything

    param = getattr(request, "param", None)
    seed = int(param) if param is not None else int(request.config.getini("grd_seed_base") or 0)
    seed_everything(seed)
    case = request.node.stash.get(CASE_KEY, None)
    if case is not None:
        case.record.seed = seed
    return seed


@pytest.fixture
def grd_device(request: pytest.FixtureRequest) -> str:
    """``"cuda:0"`` in a worker that owns a GPU, else ``"cpu"``."""
    from .sweep.gpus import worker_device

    device = worker_device()
    case = request.node.stash.get(CASE_KEY, None)
    if case is not None:
        case.record.device = device
    return device


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
