"""The controller's handle on the session's writer process (standard library only).

:class:`BackgroundWriter` starts :mod:`.writer_process` and, at the end of the
session, gives it a bounded time to finish; a writer still busy then (a store
locked, hung or gone) is stopped, and what it did not send stays in the
journal, counted by :func:`~.replay_state.pending_runs`.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .journal import read_json
from .replay_state import ReplayState, pending_runs
from .settings import lock_path
from .writer_process import URI_ENV, status_path

__all__ = ["IMPORT_LIMIT", "BackgroundWriter", "WriterOutcome"]

#: The longest the controller waits for the writer to import MLflow.
IMPORT_LIMIT = 60.0


@dataclass(frozen=True)
class WriterOutcome:
    """What the store holds of the session when the controller stops waiting."""

    pending: int
    error: str | None
    experiment_id: str | None
    #: Runs the store refused something of: run key -> the first problem.
    notes: dict[str, str]


class BackgroundWriter:
    """One writer process per session, started by the controller."""

    def __init__(
        self, directory: Path, session_id: str, uri: str, experiment: str, timeout: float
    ) -> None:
        self.directory = directory
        self.uri = uri
        self.timeout = timeout
        directory.mkdir(parents=True, exist_ok=True)
        self.log = directory / "writer.log"
        env = {**os.environ, URI_ENV: uri}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pytest_grd.tracking.writer_process",
                    str(directory),
                    session_id,
                    experiment,
                    str(timeout),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,  # Ctrl-C goes to the session, not the writer
            )

    def finish(self, timeout: float | None = None) -> WriterOutcome:
        """Wait for the writer to send everything, as long as it keeps
        sending (at most ``timeout`` s without progress); then stop it and
        say what is left."""
        limit = self.timeout if timeout is None else timeout
        self._wait_for_import()
        if not self._wait_while_sending(limit):
            self.process.terminate()
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        status = read_json(status_path(self.directory, self.uri))
        state = ReplayState.load(self.directory, self.uri)
        error = status.get("error")
        pending = pending_runs(self.directory, self.uri)
        if pending and not error:
            error = _held(lock_path(self.uri)) or f"nothing sent for {limit:g} s"
        return WriterOutcome(
            pending=pending,
            error=str(error) if error else None,
            experiment_id=status.get("experiment_id"),
            notes=dict(state.notes),
        )

    def _wait_while_sending(self, limit: float) -> bool:
        """Wait for the writer to end; give up once it has sent nothing for
        ``limit`` seconds (a writer still sending is not waiting on the
        store).  Whether it ended."""
        state = ReplayState.load(self.directory, self.uri).path
        last, idle_since = _mtime(state), time.monotonic()
        while self.process.poll() is None:
            now = _mtime(state)
            if now != last:
                last, idle_since = now, time.monotonic()
            elif time.monotonic() - idle_since >= limit:
                return False
            time.sleep(0.05)
        return True

    def _wait_for_import(self) -> None:
        """A writer still importing MLflow (seconds on a busy machine) is
        not waiting on the store: the store's time starts once it has."""
        status = status_path(self.directory, self.uri)
        deadline = time.monotonic() + IMPORT_LIMIT
        while self.process.poll() is None and time.monotonic() < deadline:
            if read_json(status).get("imported"):
                return
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the writer now (the session is being torn down)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _held(path: Path) -> str | None:
    """``"lock PATH held by another process"`` when someone holds the store's
    preparation lock (what a writer that never got to the store waited on)."""
    if not path.exists():
        return None
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return f"lock {path} held by another process"
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return None
