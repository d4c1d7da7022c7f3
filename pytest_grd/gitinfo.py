"""Git for pytest-grd: the one place that runs the ``git`` command, and the
git state of the code a session ran (commit, branch, dirty, remote).

Read with the ``git`` command (no library), once per process and folder:
MLflow's own detection reads ``sys.argv[0]``, which is ``-c`` in an xdist
worker.  Pure logic: no pytest import.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "GIT_MISSING",
    "GitNotFoundError",
    "GitState",
    "first_line",
    "git",
    "git_state",
    "run_git",
]

#: What a command says when it cannot start ``git``.
GIT_MISSING = "'git' is not installed or not on PATH"


class GitNotFoundError(FileNotFoundError):
    """``git`` could not be started (not installed, not on ``PATH``)."""


def git(
    root: Path, *args: str, stdin: str | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``git ARGS`` in ``root`` with its output captured as text.

    A non-zero exit is the caller's to read from the result; raises
    :class:`GitNotFoundError` when ``git`` cannot be started and
    :class:`subprocess.TimeoutExpired` past ``timeout`` seconds.
    """
    try:
        return subprocess.run(
            ["git", *args],
            cwd=root,
            capture_output=True,
            text=True,
            input=stdin,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise GitNotFoundError(GIT_MISSING) from None


def run_git(root: Path, *args: str) -> str | None:
    """``git ARGS`` in ``root``: its stripped output, or ``None`` on any failure."""
    try:
        done = git(root, *args, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def first_line(done: subprocess.CompletedProcess[str]) -> str:
    """The first line git wrote to stderr (else stdout); ``""`` when it wrote none."""
    lines = (done.stderr.strip() or done.stdout.strip()).splitlines()
    return lines[0] if lines else ""


@dataclass(frozen=True)
class GitState:
    """``commit`` is ``None`` outside a git repository (or before its first commit)."""

    commit: str | None = None
    branch: str | None = None
    #: Changes to tracked files; untracked ones (a store, outputs) do not count.
    dirty: bool | None = None
    remote: str | None = None

    def header(self) -> dict[str, str | bool | None]:
        """``{"commit": sha or None, "dirty": bool or None, "branch": name or None}``:
        the ``git`` entry of a report's header."""
        return {"commit": self.commit, "dirty": self.dirty, "branch": self.branch}


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
