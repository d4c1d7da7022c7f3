"""Every pytest-grd setting, resolved once per process into a frozen object.

pytest-timeout's pattern: each setting is read from its sources in one fixed
order, validated once, and an invalid value is one line naming where it came
from (``--grd-seeds must be 1 or more, got 0``, ``ini grd_seed_base must be an
integer, got 'ten'``).  The order is:

    marker (per hypothesis, where a setting has one) > command-line option >
    environment > ini key > default

:func:`resolve_settings` runs in ``pytest_configure``; every concern plugin,
fixture and the ``grd`` command read :class:`Settings` and nothing else.
The ``grd`` command has no ``pytest.Config``: it hands the same resolvers the
ini values it read itself (:class:`IniSource`), so both agree by construction.

Cheap by design (this module loads in every pytest run): no third-party import.
"""

from __future__ import annotations

import contextlib
import math
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import pytest

__all__ = [
    "DEFAULT_SCALE",
    "IniSource",
    "SettingError",
    "Settings",
    "get_settings",
    "resolve_correction",
    "resolve_experiment",
    "resolve_families",
    "resolve_tracking_uri",
    "resolve_writer_idle",
    "resolve_settings",
    "seed_values",
]

DEFAULT_SCALE = "full"


class SettingError(ValueError):
    """A setting with a value that cannot be used; the message names its source."""


class Source(Protocol):
    """Where raw values come from: a pytest config, or the ini the CLI read."""

    def option(self, name: str) -> Any: ...

    def ini(self, name: str) -> Any: ...


class IniSource:
    """Raw values for the ``grd`` command: ini keys only, no options."""

    def __init__(self, ini: Mapping[str, Any]) -> None:
        self._ini = ini

    def option(self, name: str) -> Any:
        return None

    def ini(self, name: str) -> Any:
        value = self._ini.get(name)
        return "" if value is None else value


class _ConfigSource:
    """Raw values from a pytest config (the only place that calls getoption/getini)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def option(self, name: str) -> Any:
        return self.config.getoption(name, None)

    def ini(self, name: str) -> Any:
        try:
            return self.config.getini(name)
        except ValueError:  # an ini key pytest-grd did not declare (plugin disabled)
            return ""


# -- one resolver per setting ---------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value).strip()
    return "" if value is None else str(value).strip()


def resolve_tracking_uri(
    option: str | None, ini: str | None, environ: Mapping[str, str], rootdir: Path
) -> tuple[str, str]:
    """The tracking URI and where it came from, in this order (the project's
    own file is more specific than the shell's environment):
    ``--grd-tracking-uri``, ini ``grd_tracking_uri``, ``MLFLOW_TRACKING_URI``,
    then ``sqlite:///<rootdir>/mlflow.db`` (the store ``mlflow ui`` started in
    the project root shows with no flags).  A relative ``sqlite:///`` path in
    the ini is the project's file, wherever the command was started."""
    if option:
        return option, "--grd-tracking-uri"
    if ini:
        return _absolute_sqlite(ini, rootdir), "ini grd_tracking_uri"
    env = environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env, "MLFLOW_TRACKING_URI"
    return f"sqlite:///{(rootdir / 'mlflow.db').as_posix()}", "default"


def _absolute_sqlite(uri: str, root: Path) -> str:
    prefix = "sqlite:///"
    if uri.startswith(prefix):
        path = uri[len(prefix) :]
        if path and not path.startswith("/") and ":memory:" not in path:
            return prefix + (root / path).resolve().as_posix()
    return uri


def resolve_experiment(ini: str | None, rootdir: Path) -> str:
    """Ini ``grd_experiment``, else the rootdir's name."""
    return (ini or "").strip() or rootdir.name or "pytest-grd"


def resolve_correction(raw: Any, where: str = "ini grd_correction") -> str:
    """``holm`` (default), ``bh`` or ``none`` (the names
    :mod:`pytest_grd.stats.multiple` knows)."""
    from .stats.multiple import CORRECTIONS

    value = _text(raw).lower() or "holm"
    if value not in CORRECTIONS:
        raise SettingError(f"{where} must be one of {', '.join(CORRECTIONS)}, got {raw!r}")
    return value


def _resolve_seeds(raw: Any) -> int | None:
    if raw is None:
        return None
    if int(raw) < 1:
        raise SettingError(f"--grd-seeds must be 1 or more, got {raw}")
    return int(raw)


def _resolve_seed_base(raw: Any) -> int:
    text = _text(raw) or "0"
    try:
        return int(text)
    except ValueError:
        raise SettingError(f"ini grd_seed_base must be an integer, got {text!r}") from None


def _resolve_scales(raw: Any) -> tuple[str, ...]:
    return tuple(_text(raw).replace(",", " ").split())


def _resolve_scale(option: Any, ini: Any, scales: tuple[str, ...]) -> str:
    source, value = ("--grd-scale", _text(option)) if option else ("ini grd_scale", _text(ini))
    value = value or DEFAULT_SCALE
    if scales and value not in scales:
        raise SettingError(
            f"{source}: unknown scale {value!r}; this project declares "
            f"{', '.join(scales)} (ini grd_scales)"
        )
    if any(c.isspace() for c in value):
        raise SettingError(f"{source}: a scale is one word, got {value!r}")
    return value


def resolve_writer_idle(env: str | None, ini: Any, nested: bool) -> float:
    """``GRD_WRITER_IDLE``, else ini ``grd_writer_idle``, else 300 s; but 0
    for a session started from inside another pytest's test (``pytester``, a
    tool's own test suite): those make a throwaway store each, and a writer
    kept warm for each would outlive the suite by minutes."""
    if not env and not _text(ini):
        return 0.0 if nested else 300.0
    source, raw = ("GRD_WRITER_IDLE", env) if env else ("ini grd_writer_idle", _text(ini))
    return _seconds(source, raw, zero=True)


def _resolve_timeout(
    option: Any, ini: Any, name: str = "notebook_timeout", default: str = "600"
) -> float:
    source, raw = (
        (f"--grd-{name.replace('_', '-')}", option)
        if option is not None
        else (f"ini grd_{name}", _text(ini) or default)
    )
    return _seconds(source, raw, zero=False)


def _seconds(source: str, raw: Any, zero: bool) -> float:
    """A finite number of seconds, > 0 (or >= 0 where ``zero`` is allowed);
    else a one-line :class:`SettingError` naming ``source``."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        bound = ">= 0" if zero else "> 0"
        raise SettingError(f"{source} must be a number of seconds {bound}, got {raw!r}")
    return value


def resolve_families(raw: Any) -> dict[str, tuple[str, ...]]:
    """Ini ``grd_families``: one ``name = hyp_a hyp_b ...`` per line; a
    hypothesis belongs to one family at most."""
    families: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for line in _lines(raw):
        name, sep, ids = line.partition("=")
        name, members = name.strip(), tuple(ids.replace(",", " ").split())
        if not sep or not name or not members:
            raise SettingError(f"ini grd_families: {line!r} is not 'name = hyp_a hyp_b ...'")
        for hid in members:
            if hid in owner:
                raise SettingError(
                    f"ini grd_families: {hid} is in two families ({owner[hid]} and {name})"
                )
            owner[hid] = name
        families[name] = members
    return families


def _resolve_baseline_tolerances(raw: Any) -> dict[str, tuple[float, bool]]:
    """Ini ``grd_baseline_tolerances``: one ``metric = 0.01`` (absolute, in the
    metric's units) or ``metric = 2%`` (of the recorded value) per line, as
    metric -> (amount, relative)."""
    tolerances: dict[str, tuple[float, bool]] = {}
    for line in _lines(raw):
        name, sep, text = line.rpartition("=")
        name, text = name.strip(), text.strip()
        relative = text.endswith("%")
        try:
            amount = float(text.removesuffix("%"))
        except ValueError:
            amount = math.nan
        if not sep or not name or not math.isfinite(amount) or amount < 0:
            raise SettingError(
                f"ini grd_baseline_tolerances: {line!r} is not 'metric = 0.01' (absolute) "
                "or 'metric = 2%' (relative), with a number >= 0"
            )
        if name in tolerances:
            raise SettingError(f"ini grd_baseline_tolerances: {name} has two tolerances")
        tolerances[name] = (amount / 100 if relative else amount, relative)
    return tolerances


def _resolve_workers_per_gpu(raw: Any) -> int | None:
    if raw is None:
        return None
    if int(raw) < 1:
        raise SettingError(f"--grd-workers-per-gpu must be 1 or more, got {raw}")
    return int(raw)


def _resolve_ray_retries(raw: Any) -> int:
    if raw is None:
        return 2
    if int(raw) < 0:
        raise SettingError(f"--grd-ray-retries must be 0 or more, got {raw}")
    return int(raw)


def _resolve_ray_resources(raw: Any) -> dict[str, float]:
    if not _lines(raw):
        return {}
    from .ray.resources import ResourceError, parse_resource_lines

    try:
        return parse_resource_lines(_lines(raw), "ini grd_ray_resources")
    except ResourceError as exc:
        raise SettingError(str(exc)) from None


def _lines(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = raw.splitlines()
    return tuple(str(v).strip() for v in (raw or []) if str(v).strip())


# -- the object -----------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one pytest process (see module docstring)."""

    rootpath: Path
    invocation_dir: Path
    #: Role of this process: an xdist worker (``worker_id`` ``gw0``...) or not.
    is_worker: bool = False
    worker_id: str | None = None
    scale: str = DEFAULT_SCALE
    #: Scales the project declares (ini ``grd_scales``); empty: any word.
    scales: tuple[str, ...] = ()
    #: ``--grd-seeds``: overrides ``seeds=`` on every marker.
    seeds: int | None = None
    seed_base: int = 0
    correction: str = "holm"
    #: ``--grd-report``: the directory to write, relative to the invocation dir.
    report_dir: Path | None = None
    tracking: bool = True
    tracking_uri: str = ""
    tracking_uri_source: str = "default"
    #: ``--grd-offline``: journal runs, send them with ``grd sync`` later.
    tracking_offline: bool = False
    #: ini ``grd_tracking_timeout``: the longest wait on the store, in seconds.
    tracking_timeout: float = 10.0
    #: ini ``grd_writer_idle`` / ``GRD_WRITER_IDLE``: how long a session's
    #: writer stays up for the next session (0: it does not).
    tracking_writer_idle: float = 300.0
    experiment: str = "pytest-grd"
    env_allowlist: tuple[str, ...] = ()
    #: ``--grd-gpus`` or ini ``grd_gpus`` (raw; parsed by the sweep plugin
    #: only when given, so plain sessions import no GPU code).
    gpus: str | None = None
    gpus_source: Literal["option", "ini"] = "option"
    workers_per_gpu: int | None = None
    #: ``--grd-ray[=ADDRESS]``: ``""`` starts a local cluster; None: no Ray.
    ray_address: str | None = None
    ray_retries: int = 2
    #: ini ``grd_ray_resources``: what a case asks Ray for by default.
    ray_resources: Mapping[str, float] = field(default_factory=dict)
    #: ``--grd-baseline`` / ``--grd-save-baseline``: resolved files, or None.
    baseline: Path | None = None
    save_baseline: Path | None = None
    #: The project's baseline file (ini ``grd_baseline_path``), given or not.
    baseline_file: Path | None = None
    #: ini ``grd_baseline_tolerances``: metric -> (amount, relative).
    baseline_tolerances: Mapping[str, tuple[float, bool]] = field(default_factory=dict)
    notebook_timeout: float = 600.0
    kernel: str = "python3"
    #: ``grd_datasets`` lines (parsed by the data plugin only when present).
    datasets: tuple[str, ...] = ()
    #: ini ``grd_families``: multiple-comparison families named in the code.
    families: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: GitHub's step summary file (``GITHUB_STEP_SUMMARY``), if any.
    step_summary: Path | None = None
    #: ``--pdb`` outside ``--collect-only``: xdist workers cannot be debugged.
    debugging: bool = False
    collect_only: bool = False
    #: ``--lf``: a failed decision is re-run with the cases it needs.
    last_failed: bool = False
    #: Every option token the user passed (command line, ``addopts``,
    #: ``PYTEST_ADDOPTS``): xdist's defaults cannot be told from choices otherwise.
    given_tokens: tuple[str, ...] = field(default=(), repr=False)

    def given(self, *flags: str) -> bool:
        """Whether one of ``flags`` was passed by the user (see ``given_tokens``)."""
        return any(
            t in flags or any(t.startswith(f + "=") for f in flags) for t in self.given_tokens
        )


def _baseline_file(value: Any, ini: Any, rootpath: Path, invocation_dir: Path) -> Path | None:
    """``--grd-baseline[=PATH]``: PATH against the invocation dir, or the ini
    ``grd_baseline_path`` against the rootdir."""
    if value is None:
        return None
    if value:
        return invocation_dir / str(value)
    return rootpath / (_text(ini) or "grd-baseline.json")


def _given_tokens(
    config: pytest.Config, source: Source, environ: Mapping[str, str]
) -> tuple[str, ...]:
    tokens = [str(a) for a in config.invocation_params.args]
    with contextlib.suppress(ValueError):
        tokens += shlex.split(environ.get("PYTEST_ADDOPTS", ""))
    addopts = source.ini("addopts")
    if isinstance(addopts, (list, tuple)):
        tokens += [str(a) for a in addopts]
    return tuple(tokens)


def resolve_settings(config: pytest.Config, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, validate and freeze every setting of ``config`` (raises
    :class:`SettingError` with a one-line message naming the bad source)."""
    env = os.environ if environ is None else environ
    src = _ConfigSource(config)
    root = config.rootpath
    here = config.invocation_params.dir
    workerinput = getattr(config, "workerinput", None)
    scales = _resolve_scales(src.ini("grd_scales"))
    uri, uri_source = resolve_tracking_uri(
        src.option("grd_tracking_uri"), _text(src.ini("grd_tracking_uri")), env, root
    )
    gpus_option = src.option("grd_gpus")
    ray_address = src.option("grd_ray")
    report = src.option("grd_report")
    summary = env.get("GITHUB_STEP_SUMMARY")
    return Settings(
        rootpath=root,
        invocation_dir=here,
        # From workerinput, not PYTEST_XDIST_WORKER: that variable leaks into
        # pytest sessions started from inside a worker.
        is_worker=workerinput is not None,
        worker_id=workerinput.get("workerid") if workerinput else None,
        scale=_resolve_scale(src.option("grd_scale"), src.ini("grd_scale"), scales),
        scales=scales,
        seeds=_resolve_seeds(src.option("grd_seeds")),
        seed_base=_resolve_seed_base(src.ini("grd_seed_base")),
        correction=resolve_correction(src.ini("grd_correction")),
        report_dir=here / str(report) if report is not None else None,
        tracking=not src.option("grd_no_tracking"),
        tracking_uri=uri,
        tracking_uri_source=uri_source,
        tracking_offline=bool(src.option("grd_offline"))
        or bool(src.ini("grd_offline"))
        or env.get("GRD_OFFLINE", "").lower() in ("1", "true", "yes"),
        tracking_timeout=_resolve_timeout(
            None, src.ini("grd_tracking_timeout"), "tracking_timeout", "10"
        ),
        tracking_writer_idle=resolve_writer_idle(
            env.get("GRD_WRITER_IDLE"),
            src.ini("grd_writer_idle"),
            nested="PYTEST_CURRENT_TEST" in env,
        ),
        experiment=resolve_experiment(_text(src.ini("grd_experiment")), root),
        env_allowlist=_lines(src.ini("grd_env_allowlist")),
        # With --grd-ray, Ray places GPUs: ini grd_gpus would start xdist workers.
        gpus=gpus_option
        if gpus_option is not None or ray_address is not None
        else (_text(src.ini("grd_gpus")) or None),
        gpus_source="option" if gpus_option is not None else "ini",
        workers_per_gpu=_resolve_workers_per_gpu(src.option("grd_workers_per_gpu")),
        ray_address=None if ray_address is None else str(ray_address).strip(),
        ray_retries=_resolve_ray_retries(src.option("grd_ray_retries")),
        ray_resources=_resolve_ray_resources(src.ini("grd_ray_resources")),
        baseline=_baseline_file(
            src.option("grd_baseline"), src.ini("grd_baseline_path"), root, here
        ),
        save_baseline=_baseline_file(
            src.option("grd_save_baseline"), src.ini("grd_baseline_path"), root, here
        ),
        baseline_file=_baseline_file("", src.ini("grd_baseline_path"), root, here),
        baseline_tolerances=_resolve_baseline_tolerances(src.ini("grd_baseline_tolerances")),
        notebook_timeout=_resolve_timeout(
            src.option("grd_notebook_timeout"), src.ini("grd_notebook_timeout")
        ),
        kernel=_text(src.ini("grd_kernel")) or "python3",
        datasets=_lines(src.ini("grd_datasets")),
        families=resolve_families(src.ini("grd_families")),
        step_summary=Path(summary) if summary else None,
        debugging=bool(src.option("usepdb")) and not src.option("collectonly"),
        collect_only=bool(src.option("collectonly")),
        last_failed=bool(src.option("lf")),
        given_tokens=_given_tokens(config, src, env),
    )


def get_settings(config: pytest.Config) -> Settings:
    """The settings resolved in ``pytest_configure`` for ``config``."""
    from .keys import SETTINGS_KEY

    settings: Settings = config.stash[SETTINGS_KEY]
    return settings


def seed_values(settings: Settings, seeds: int | None) -> Sequence[int]:
    """The seeds of a ``seeds=N`` expansion (``--grd-seeds`` wins over the marker)."""
    n = settings.seeds or seeds or 0
    return [settings.seed_base + i for i in range(n)]
