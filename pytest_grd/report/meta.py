"""The report header: when, where and with what a session ran.

Pure logic apart from reading git and package metadata: no pytest import.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from ..gitinfo import git_state as read_git_state
from ..record import CaseRecord

__all__ = ["PACKAGES", "collect_meta", "git_state", "package_versions"]

#: Distributions whose versions the header lists when they are installed.
PACKAGES = (
    "pytest-grd",
    "pytest",
    "pytest-xdist",
    "mlflow",
    "dvc",
    "pandera",
    "papermill",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "torch",
    "jax",
)


def git_state(root: Path) -> dict[str, Any]:
    """The header's ``git`` entry (:meth:`pytest_grd.gitinfo.GitState.header`).

    Kept for ``report/plugin.py``, which imports it; new code reads
    :func:`pytest_grd.gitinfo.git_state` directly."""
    return read_git_state(root).header()


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed versions, read from distribution metadata (nothing imported)."""
    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _devices(records: Iterable[CaseRecord]) -> list[str]:
    seen: list[str] = []
    for record in records:
        for device in (record.device, record.extra.get("gpu"), record.extra.get("gpu_name")):
            if device and str(device) not in seen:
                seen.append(str(device))
    return seen


def collect_meta(
    args: Sequence[str],
    root: Path,
    records: Iterable[CaseRecord] = (),
    scale: str = "full",
    session_id: str = "",
    extra: dict[str, Any] | None = None,
    now: _dt.datetime | None = None,
) -> dict[str, Any]:
    """The header of a report: date, git state, command line, machine,
    devices the cases used, package versions and plugin-provided extras."""
    moment = now or _dt.datetime.now(_dt.UTC)
    return {
        "date": moment.isoformat(timespec="seconds"),
        "command": "pytest " + shlex.join(args) if args else "pytest",
        "rootdir": str(root),
        "git": read_git_state(root).header(),
        "machine": {
            "host": platform.node(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "devices": _devices(records),
        "packages": package_versions(),
        "scale": scale,
        "session_id": session_id,
        "extra": dict(extra or {}),
    }
