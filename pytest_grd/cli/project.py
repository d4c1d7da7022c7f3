"""Where a research project lives and how it is configured, as the ``grd``
command sees it.

The command does not run pytest, so it reads the same settings pytest would:
the ``[tool.pytest.ini_options]`` table of the project's ``pyproject.toml``
(or a ``pytest.ini``), and resolves the tracking store in the plugin's order
(option, ini ``grd_tracking_uri``, ``MLFLOW_TRACKING_URI``, then the embedded
``sqlite:///<root>/mlflow.db``).  Pure logic: no pytest import.
"""

from __future__ import annotations

import configparser
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..settings import resolve_experiment, resolve_tracking_uri

__all__ = ["CliError", "Project", "find_project"]


class CliError(Exception):
    """A failure the user can act on: printed as one line, exit status 1."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _ini_from_pyproject(path: Path) -> dict[str, Any] | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"{path}: cannot read pyproject.toml: {exc}") from None
    table = data.get("tool", {}).get("pytest", {}).get("ini_options")
    return dict(table) if isinstance(table, dict) else None


def _ini_from_cfg(path: Path, section: str) -> dict[str, Any] | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error) as exc:
        raise CliError(f"{path}: cannot read: {exc}") from None
    if not parser.has_section(section):
        return None
    return dict(parser.items(section))


def _read_ini(directory: Path) -> dict[str, Any] | None:
    """The pytest ini settings defined in ``directory``, or ``None`` when none
    of pytest's config files there has a pytest section (pytest's own order)."""
    for name, section in (("pytest.ini", "pytest"), (".pytest.ini", "pytest")):
        path = directory / name
        if path.is_file():
            return _ini_from_cfg(path, section) or {}
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        found = _ini_from_pyproject(pyproject)
        if found is not None:
            return found
    for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        path = directory / name
        if path.is_file():
            found = _ini_from_cfg(path, section)
            if found is not None:
                return found
    return None


@dataclass
class Project:
    """A research project: its root (pytest's rootdir) and its ini settings."""

    root: Path
    ini: dict[str, Any] = field(default_factory=dict)

    def setting(self, name: str, default: str = "") -> str:
        """One ini value as a string (``default`` when unset or empty)."""
        value = self.ini.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, list):
            return "\n".join(str(v) for v in value)
        return str(value)

    def list_setting(self, name: str) -> list[str]:
        """A list-valued ini key (``testpaths``): a TOML list, or the
        whitespace-separated words of an ini file's value."""
        value = self.ini.get(name)
        if isinstance(value, list):
            return [str(v) for v in value]
        return str(value or "").split()

    @property
    def experiment(self) -> str:
        """The MLflow experiment name (ini ``grd_experiment``, default the root's name)."""
        return resolve_experiment(self.setting("grd_experiment"), self.root)

    def tracking_uri(self, override: str | None = None) -> str:
        """The tracking URI in the plugin's order of precedence (one resolver
        for both: :func:`pytest_grd.settings.resolve_tracking_uri`)."""
        return resolve_tracking_uri(
            override, self.setting("grd_tracking_uri"), os.environ, self.root
        )[0]

    @property
    def report_dir(self) -> Path:
        """Where ``--grd-report`` writes by default."""
        return self.root / "grd-report"


def find_project(start: Path) -> Project:
    """The project containing ``start``: the nearest directory, upwards, with a
    pytest configuration (as pytest picks its rootdir from an ini file)."""
    start = start.resolve()
    if not start.exists():
        raise CliError(f"{start}: no such directory")
    for directory in (start, *start.parents):
        ini = _read_ini(directory)
        if ini is not None:
            return Project(root=directory, ini=ini)
    raise CliError(
        f"{start}: not inside a pytest-grd project (no pyproject.toml with "
        "[tool.pytest.ini_options] or pytest.ini found); run 'grd init' first"
    )
