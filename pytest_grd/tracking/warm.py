"""A writer kept warm between sessions (standard library only).

Importing MLflow and opening a store is most of what a session's writer
costs: 2-3 s of CPU, paid again by every tracked session, and taken from the
cases' cores under ``-n``.  So a writer whose session is done stays up for a
while (ini ``grd_writer_idle``, default 300 s; ``0`` turns this off), and the
next session with the same store, environment and code hands its journal to
it instead of starting another.

One writer serves one kind of session, named by :func:`writer_key`: the
tracking URI, the folder pytest runs in (a relative SQLite path depends on
it), the SQLite file itself (a store deleted and made again is another
store), the interpreter, this package's and MLflow's code, and the
environment variables that change where and how runs are sent (``MLFLOW_*``,
cloud credentials, proxies).  Anything else gets a writer of its own.

Their meeting place is a :class:`Mailbox`, a folder per key in the
temporary directory (per user):

* ``alive.lock``: held by the writer while it takes sessions;
* ``door.lock``: held by a controller handing a session over, and by the
  writer taking one, or leaving once it has been idle long enough, so that
  no session is handed to a writer on its way out;
* ``request-<session>.json``: a session to send; the writer takes it
  (deleting it), or the controller takes it back when nobody did within a
  moment and starts a writer of its own;
* ``pid``, ``served`` (the sessions it sent), ``writer.log``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from .journal import mtime, read_json, write_json
from .registry import LockTimeout, held, locked
from .settings import sqlite_path

__all__ = ["IDLE_ENV", "Mailbox", "writer_key"]

#: Overrides ini ``grd_writer_idle`` (seconds; 0: no warm writer).
IDLE_ENV = "GRD_WRITER_IDLE"
#: The longest a controller waits at the door (a writer holds it for
#: milliseconds; one stopped there must not stop the session).
DOOR_LIMIT = 2.0

_ENV_PREFIXES = ("MLFLOW_", "AWS_", "AZURE_", "GOOGLE_", "GCS_", "DATABRICKS_")
_ENV_NAMES = {
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "CURL_CA_BUNDLE",
    "PYTHONPATH",
    "VIRTUAL_ENV",
}


def _stamp(path: Path | str | None) -> str:
    try:
        info = os.stat(path) if path is not None else None
    except OSError:
        return "-"
    return f"{info.st_dev}:{info.st_ino}:{info.st_mtime_ns}" if info is not None else "-"


def _code_stamp() -> str:
    """This package's tracking code and MLflow's, as files on disk: a writer
    started before an upgrade (or an edit) never serves a session after it."""
    here = Path(__file__).parent
    parts = [_stamp(p) for p in sorted(here.glob("*.py"))]
    spec = sys.modules.get("mlflow")
    origin = getattr(spec, "__file__", None)
    if origin is None:
        import importlib.util

        found = importlib.util.find_spec("mlflow")
        origin = found.origin if found is not None else None
    parts.append(_stamp(Path(origin).parent if origin else None))
    return ",".join(parts)


def _database(uri: str) -> str:
    """The SQLite file as the OS knows it (device and inode), ``new`` before
    it exists; not its modification time, which every run changes."""
    path = sqlite_path(uri)
    if path is None:
        return ""
    try:
        info = path.stat()
    except OSError:
        return "new"
    return f"{info.st_dev}:{info.st_ino}"


def writer_key(
    uri: str,
    timeout: float,
    environ: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> str:
    """What a warm writer must share with a session to send its journal
    (``timeout``: ini ``grd_tracking_timeout``, which its HTTP requests keep)."""
    env = os.environ if environ is None else environ
    chosen = sorted(
        (k, v) for k, v in env.items() if k.startswith(_ENV_PREFIXES) or k.upper() in _ENV_NAMES
    )
    parts = [
        uri,
        repr(float(timeout)),
        cwd if cwd is not None else os.getcwd(),
        _database(uri),
        sys.executable,
        _code_stamp(),
        json.dumps(chosen),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def _mailboxes() -> Path:
    return Path(tempfile.gettempdir()) / f"pytest-grd-writers-{os.getuid()}"


class Mailbox:
    """Where a warm writer and the controllers of later sessions meet."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.path = _mailboxes() / key
        self.log = self.path / "writer.log"

    def make(self) -> None:
        _mailboxes().mkdir(mode=0o700, exist_ok=True)
        self.path.mkdir(mode=0o700, exist_ok=True)

    def usable(self) -> bool:
        """Whether the mailboxes' folder is this user's own (a real folder,
        not a link, mode 0700): another user could else plant sessions in it."""
        root = _mailboxes()
        try:
            root.mkdir(mode=0o700, exist_ok=True)
            info = os.lstat(root)
        except OSError:
            return False
        return (
            stat.S_ISDIR(info.st_mode)
            and info.st_uid == os.getuid()
            and stat.S_IMODE(info.st_mode) & 0o077 == 0
        )

    # -- locks ---------------------------------------------------------------

    @contextlib.contextmanager
    def door(self, timeout: float = math.inf) -> Iterator[None]:
        """Hold ``door.lock`` (:class:`~.registry.LockTimeout` after
        ``timeout`` s: a controller does not wait on a writer stopped at the
        door, it goes its own way)."""
        self.make()
        with locked(self.path / "door.lock", timeout):
            yield

    def hold_alive(self) -> IO[str] | None:
        """The writer's side: the open, locked ``alive.lock`` (kept open while
        it takes sessions), or ``None`` when another writer holds it."""
        self.make()
        handle = open(self.path / "alive.lock", "a+")  # noqa: SIM115 - held for life
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return None
        (self.path / "pid").write_text(str(os.getpid()))
        return handle

    def writer_alive(self) -> bool:
        """Whether a writer takes sessions here (it holds ``alive.lock``)."""
        return held(self.path / "alive.lock")

    def clear(self) -> None:
        """The writer's side, leaving under :meth:`door` while it still
        holds ``alive.lock``: what only it wrote.  The lock files stay (one
        unlinked while held would let two processes each hold "the" lock)."""
        for name in ("pid", "served"):
            (self.path / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            if self.log.stat().st_size == 0:
                self.log.unlink()

    def pid(self) -> int | None:
        try:
            return int((self.path / "pid").read_text())
        except (OSError, ValueError):
            return None

    # -- requests --------------------------------------------------------------

    def _request(self, session_id: str) -> Path:
        return self.path / f"request-{session_id}.json"

    def hand_over(self, request: dict[str, Any]) -> bool:
        """The controller's side: leave a session for the writer here, if
        one takes sessions now.  Whether it was left."""
        if not self.path.is_dir():
            return False  # no writer was ever here
        try:
            with self.door(DOOR_LIMIT):
                if not self.writer_alive():
                    return False
                write_json(self._request(str(request["session_id"])), request)
                return True
        except LockTimeout:
            return False

    def take_back(self, session_id: str) -> bool:
        """The controller's side: withdraw a session nobody took.  Whether it
        was still there (else the writer has it, and has said so in the
        session's status file before letting go of the door)."""
        try:
            with self.door(DOOR_LIMIT):
                self._request(session_id).unlink()
                return True
        except (LockTimeout, FileNotFoundError):
            return False

    def served(self, session_id: str) -> None:
        """The writer's side: one line per session it sent (what shows that
        later sessions were handed to it)."""
        with open(self.path / "served", "a") as handle:
            handle.write(session_id + "\n")

    def take(self) -> dict[str, Any] | None:
        """The writer's side, under :meth:`door`: the oldest session waiting."""
        waiting = sorted(self.path.glob("request-*.json"), key=mtime)
        for path in waiting:
            request = read_json(path)
            with contextlib.suppress(OSError):
                path.unlink()
            if request.get("session_id"):
                return request
        return None
