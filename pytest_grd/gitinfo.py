"""The git state of the code a session ran: commit, branch, dirty, remote.

Read with the ``git`` command (no library), once per process and folder:
MLflow's own detection reads ``sys.argv[0]``, which is ``-c`` in an xdist
worker.  Pure logic: no pytest import.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GitState", "git_state", "run_git"]


def run_git(root: Path, *args: str) -> str | None:
    """``git ARGS`` in ``root``: its stripped output, or ``None`` on any failure."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@dataclass(frozen=True)
class GitState:
    """``commit`` is ``None`` outside a git repository (or before its first commit)."""

    commit: str | None = None
    branch: str | None = None
    #: Changes to tracked files; untracked ones (a store, outputs) do not count.
    dirty: bool | None = None
    remote: str | None = None


@functools.lru_cache(maxsize=8)
def git_state(root: Path) -> GitState:
    """The git state of ``root``, computed once per process."""
    commit = run_git(root, "rev-parse", "HEAD")
    if not commit:
        return GitState()
    status = run_git(root, "status", "--porcelain", "--untracked-files=no")
    return GitState(
        commit=commit,
        branch=run_git(root, "rev-parse", "--abbrev-ref", "HEAD") or None,
        dirty=None if status is None else bool(status),
        remote=run_git(root, "config", "--get", "remote.origin.url") or None,
    )
