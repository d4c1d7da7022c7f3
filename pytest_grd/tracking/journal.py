"""The tracking journal: what each case logs, kept on local disk first.

Standard library only: a process that runs cases writes its journal without
importing MLflow.  One folder per session, ``<project>/.grd/journal/<session>/``
(``GRD_JOURNAL_DIR`` moves the parent), holding:

* ``<process>.jsonl``: one JSON object a line, appended by the process that
  ran the cases (``main``, ``gw0``, ...) or by the controller (``main``):
  ``open`` / ``log`` / ``artifact`` / ``bound`` / ``close`` of a case's run,
  ``fail`` of a case whose worker died, ``end_parent`` of a hypothesis and
  ``session_end``.  A case's ``close`` line is fsync'd before its report
  leaves the process, so a result the controller has seen is on disk;
* ``artifacts/<run key>/...``: a copy of each file the case logged (the
  original may be gone by the time the store takes it);
* ``runs.jsonl``: which store run each run key became (:mod:`.registry`);
* ``session.json``: where the session's runs go, written at its start;
* ``session.lock``: held (``flock``) by the session's controller while it
  lives, so ``grd sync`` can tell a finished or killed session from one still
  running.

Every run is named by a key that is the same in every process and every
replay: the session id and the case's node id (or the hypothesis id, for a
parent run).  The replayer (:mod:`.replay`) turns keys into store runs
idempotently, so sending a journal twice never makes a second run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .registry import held

__all__ = [
    "Journal",
    "JournalLine",
    "SessionLock",
    "journal_files",
    "journal_root",
    "mtime",
    "now_ms",
    "parent_key",
    "read_json",
    "read_lines",
    "run_key",
    "session_dir",
    "session_is_live",
    "write_json",
]

#: ``(entry, offset after it)`` as read back from a journal file.
JournalLine = tuple[dict[str, Any], int]

ROOT_ENV = "GRD_JOURNAL_DIR"


def journal_root(rootdir: Path) -> Path:
    """Where sessions' journals live: ``$GRD_JOURNAL_DIR`` or ``<rootdir>/.grd/journal``."""
    override = os.environ.get(ROOT_ENV)
    return Path(override) if override else rootdir / ".grd" / "journal"


def session_dir(rootdir: Path, session_id: str) -> Path:
    return journal_root(rootdir) / _safe(session_id)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"


def run_key(session_id: str, nodeid: str) -> str:
    """A case's run key: 32 hex digits from the session and node id."""
    return hashlib.sha1(f"{session_id}\0case\0{nodeid}".encode()).hexdigest()[:32]


def parent_key(session_id: str, hypothesis: str) -> str:
    """A hypothesis's parent run key in a session."""
    return hashlib.sha1(f"{session_id}\0parent\0{hypothesis}".encode()).hexdigest()[:32]


class Journal:
    """One process's append-only journal file in a session's folder.

    Lines are written whole with one ``write`` (a reader never sees half a
    line as complete: it only takes lines that end in a newline); ``sync``
    fsyncs the file, which the tracking plugin does once per case, at its
    close."""

    def __init__(self, directory: Path, process: str) -> None:
        self.directory = directory
        self.path = directory / f"{_safe(process)}.jsonl"
        self._handle: IO[bytes] | None = None

    def _file(self) -> IO[bytes]:
        if self._handle is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "ab", buffering=0)  # noqa: SIM115 (kept open)
        return self._handle

    def append(self, entry: dict[str, Any], sync: bool = False) -> None:
        data = json.dumps(entry, separators=(",", ":"), default=repr)
        handle = self._file()
        handle.write(data.encode() + b"\n")
        if sync:
            os.fsync(handle.fileno())

    def keep_artifact(self, key: str, local: Path, artifact_path: str | None) -> str:
        """Copy a logged file (or a folder's files) into the journal; the copy's
        path relative to the session folder."""
        target = self.directory / "artifacts" / key / (artifact_path or "")
        if local.is_dir():
            shutil.copytree(local, target, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(local, target / local.name)
            target = target / local.name
        return target.relative_to(self.directory).as_posix()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


#: The journal of the process that runs the session (serial) or controls it (xdist).
MAIN = "main"


def journal_files(directory: Path) -> list[Path]:
    """A session's journal files in replay order: the workers' first, then
    ``main.jsonl`` (a controller's ``fail`` and ``end_parent`` lines come after
    the worker lines they follow)."""
    files = sorted(directory.glob("*.jsonl"))
    files = [f for f in files if f.name != "runs.jsonl"]
    return sorted(files, key=lambda f: (f.stem == MAIN, f.name))


def read_lines(path: Path, offset: int) -> Iterator[JournalLine]:
    """The complete lines of ``path`` after ``offset``, with the offset after
    each; a torn last line (a process killed mid-write) is left for later, and
    a line that is not JSON is skipped."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return
    position = offset
    for raw in data.splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            return
        position += len(raw)
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict):
            yield entry, position


class SessionLock:
    """Held by a live session's controller (released by the OS if it dies)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "session.lock"
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 (held for the session)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def session_is_live(directory: Path) -> bool:
    """Whether a controller still holds the session's lock."""
    return held(directory / "session.lock")


def mtime(path: Path) -> float:
    """``path``'s modification time, 0 when it is not there."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` atomically (readers see the old or the new file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True, default=repr))
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def now_ms() -> int:
    return int(time.time() * 1000)
