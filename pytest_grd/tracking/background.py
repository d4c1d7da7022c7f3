"""The controller's handle on the session's writer (standard library only).

:class:`BackgroundWriter` hands the session to a warm writer of the same
kind when one is up (:mod:`.warm`), else starts :mod:`.writer_process`; at
the end of the session it gives the writer a bounded time to finish.  A
writer still busy then (a store locked, hung or gone) is stopped, and what it
did not send stays in the journal, counted by
:func:`~.replay_state.pending_runs`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .journal import mtime, read_json
from .registry import held
from .replay_state import ReplayState, pending_runs
from .settings import lock_path
from .warm import Mailbox, writer_key
from .writer_process import URI_ENV, status_path

__all__ = ["SETUP_LIMIT", "PICKUP_LIMIT", "BackgroundWriter", "WriterOutcome"]

#: The longest the controller waits for the writer to import MLflow and,
#: for a new store, make its tables.
SETUP_LIMIT = 60.0
#: How long a session handed to a warm writer may wait to be taken (the
#: writer may be busy with another session); then it gets a writer of its own.
PICKUP_LIMIT = 2.0


@dataclass(frozen=True)
class WriterOutcome:
    """What the store holds of the session when the controller stops waiting."""

    pending: int
    error: str | None
    experiment_id: str | None
    #: Runs the store refused something of: run key -> the first problem.
    notes: dict[str, str]


class BackgroundWriter:
    """The session's writer, seen from the controller."""

    def __init__(
        self,
        directory: Path,
        session_id: str,
        uri: str,
        experiment: str,
        timeout: float,
        idle: float = 0.0,
    ) -> None:
        self.directory = directory
        self.session_id = session_id
        self.uri = uri
        self.experiment = experiment
        self.timeout = timeout
        self.idle = idle
        self.status = status_path(directory, uri)
        directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.mailbox = Mailbox(writer_key(uri, timeout)) if idle > 0 else None
        if self.mailbox is not None and not self.mailbox.usable():
            self.mailbox, self.idle = None, 0.0  # not ours: no writer stays
        #: Whether the session was left for a warm writer to take.
        self.handed = self.mailbox is not None and self.mailbox.hand_over(
            {
                "directory": str(directory),
                "session_id": session_id,
                "experiment": experiment,
                "timeout": timeout,
            }
        )
        if not self.handed:
            self._start()

    def _start(self) -> None:
        log = self.directory / "writer.log"  # a warm writer moves to its mailbox's
        env = {**os.environ, URI_ENV: self.uri}
        command = [
            sys.executable,
            "-m",
            "pytest_grd.tracking.writer_process",
            str(self.directory),
            self.session_id,
            self.experiment,
            str(self.timeout),
        ]
        if self.idle > 0:
            command.append(str(self.idle))
        with open(log, "ab") as handle:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=handle,
                env=env,
                start_new_session=True,  # Ctrl-C goes to the session, not the writer
            )

    def finish(self, timeout: float | None = None) -> WriterOutcome:
        """Wait for the writer to send everything, as long as it keeps
        sending (at most ``timeout`` s without progress); then stop it and
        say what is left."""
        limit = self.timeout if timeout is None else timeout
        self._make_sure_taken()
        self._wait_for_setup()
        if not self._wait_while_sending(limit):
            self._stop_writer()
        self._reap()
        status = read_json(self.status)
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

    # -- the writer's process ----------------------------------------------------

    def _writer_pid(self) -> int | None:
        """The process sending this session: the one that said so in the
        status file, else the one started for it."""
        pid = read_json(self.status).get("pid")
        if isinstance(pid, int):
            return pid
        if self.process is not None and self.process.poll() is None:
            return self.process.pid
        return None

    def _writer_alive(self) -> bool:
        pid = self._writer_pid()
        if pid is None:
            # Started, not yet running the session: alive while its process is.
            return self.process is not None and self.process.poll() is None
        if self.process is not None and pid == self.process.pid:
            return self.process.poll() is None
        return _pid_alive(pid)

    def _make_sure_taken(self) -> None:
        """A session handed over and never taken (the warm writer was busy, or
        gone) gets a writer of its own now."""
        if not self.handed or self.mailbox is None:
            return
        deadline = time.monotonic() + PICKUP_LIMIT
        while time.monotonic() < deadline:
            if read_json(self.status).get("imported"):
                return
            time.sleep(0.02)
        if self.mailbox.take_back(self.session_id):
            self.handed = False
            self._start()

    def _wait_while_sending(self, limit: float) -> bool:
        """Wait for the writer to be done with this session; give up once it
        has sent nothing for ``limit`` seconds (a writer still sending is not
        waiting on the store).  Whether it was done."""
        state = ReplayState.load(self.directory, self.uri).path
        last, idle_since = mtime(state), time.monotonic()
        while self._writer_alive():
            if read_json(self.status).get("done"):
                return True
            now = mtime(state)
            if now != last:
                last, idle_since = now, time.monotonic()
            elif time.monotonic() - idle_since >= limit:
                return False
            time.sleep(0.05)
        return True

    def _wait_for_setup(self) -> None:
        """A writer still importing MLflow, or making a new store's tables
        (seconds each on a busy machine), is working, not waiting on the
        store: the store's time starts once it has done both."""
        deadline = time.monotonic() + SETUP_LIMIT
        while self._writer_alive() and time.monotonic() < deadline:
            said = read_json(self.status)
            if said.get("imported") and not said.get("creating"):
                return
            time.sleep(0.05)

    def _stop_writer(self) -> None:
        """The writer is stuck on the store: stop it (a warm one too; the next
        session starts another)."""
        pid = self._writer_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 2
        while self._writer_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._writer_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _reap(self) -> None:
        """Collect the started process (with an idle time, it only started
        the writer and left at once)."""
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _pid_alive(pid: int) -> bool:
    """Whether the process runs (a zombie does not: a writer that left its
    controller is reaped by whoever adopts it, which in a container may be
    pytest itself, never waiting for it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc here: the signal said it is there
    return state not in ("Z", "X")


def _held(path: Path) -> str | None:
    """``"lock PATH held by another process"`` when someone holds the store's
    preparation lock (what a writer that never got to the store waited on)."""
    return f"lock {path} held by another process" if held(path) else None
