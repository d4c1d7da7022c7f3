"""The session's writer: a process that sends the journal to the store.

Started by the controller (:mod:`.background`) once the session has a case to
track; it imports MLflow and opens the store while the cases run, then sends
each round of journal lines as they come (:class:`~.replay.Replayer`).  A
store that is locked, slow or gone only delays it: it waits (0.5 s, doubling
to 5 s) and sends the same round again.  It is done with a session once the
controller's ``session_end`` line is sent with everything before it, when
that controller is gone (its session lock is free), or when the controller
stops waiting for it; what it did not send stays in the journal for
``grd sync``.

With an idle time (ini ``grd_writer_idle``), it then stays up that long for
the next session of the same kind (:mod:`.warm`): it leaves the
controller's process first, so that no pytest waits for it.

Run as ``python -m pytest_grd.tracking.writer_process DIR SESSION EXPERIMENT
TIMEOUT [IDLE]``, the tracking URI in ``GRD_WRITER_URI`` (not on the
command line, where ``ps`` would show a password).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .journal import session_is_live, write_json
from .registry import store_name

if TYPE_CHECKING:
    from .store import TrackingStore
    from .warm import Mailbox

__all__ = ["main", "status_path"]

URI_ENV = "GRD_WRITER_URI"


def status_path(directory: Path, uri: str) -> Path:
    return directory / f"writer.{store_name(uri)}.json"


@dataclass(frozen=True)
class Request:
    """One session to send."""

    directory: Path
    session_id: str
    experiment: str
    timeout: float

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Request:
        return cls(
            Path(data["directory"]),
            str(data["session_id"]),
            str(data["experiment"]),
            float(data["timeout"]),
        )


class Writer:
    """One store, any number of sessions, one after the other."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.stores: dict[str, TrackingStore] = {}

    def store(self, experiment: str, timeout: float) -> TrackingStore:
        from .settings import TrackingSettings
        from .store import TrackingStore

        store = self.stores.get(experiment)
        if store is None:
            settings = TrackingSettings(uri=self.uri, source="", experiment=experiment)
            store = self.stores[experiment] = TrackingStore(settings, timeout)
        store.retry()
        # Looked up again for every session: the experiment may have been
        # deleted, or the server restarted on an empty store, meanwhile.
        store.experiment_id = None
        return store

    def serve(self, request: Request) -> int:
        """Send one session's journal: 0 once all of it is in the store, 1
        when its controller went away first."""
        from .replay import Replayer, StoreDown
        from .settings import TrackingUnavailable

        status = status_path(request.directory, self.uri)
        said: dict[str, Any] = {"imported": True, "pid": os.getpid()}
        # MLflow is loaded: from now on the controller's wait is the store's.
        write_json(status, said)
        store = self.store(request.experiment, request.timeout)
        replayer: Replayer | None = None
        pause = 0.5

        made: list[bool] = []

        def creating() -> None:  # making a new store's tables: work, not a wait
            write_json(status, {**said, "creating": True})
            made.append(True)

        while True:
            error = None
            sent = 0
            try:
                store.prepare(request.timeout, creating)
                if made:  # made: from now on the wait is the store's
                    write_json(status, said)
                    made.clear()
                if replayer is None:
                    replayer = Replayer(store, request.directory, request.session_id)
                sent = replayer.step()
                pause = 0.5
            except (StoreDown, TrackingUnavailable) as exc:
                error = str(exc)
                store.retry()
            done = replayer is not None and replayer.done()
            said.update(experiment_id=store.experiment_id, error=error, done=done)
            write_json(status, said)
            if done:
                return 0
            if not session_is_live(request.directory):
                return 1  # the controller died: grd sync ends what it left open
            if error is not None:
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
            elif not sent:
                time.sleep(0.05)

    def stay(self, mailbox: Mailbox, idle: float, first: str) -> None:
        """Take the next sessions handed over in ``mailbox``; leave once none
        came for ``idle`` seconds (or another writer took the mailbox)."""
        alive = mailbox.hold_alive()
        if alive is None:
            return
        _log_to(mailbox.log)  # the session's folder goes once it is sent
        mailbox.served(first)
        last = time.monotonic()
        try:
            while True:
                waiting = any(mailbox.path.glob("request-*.json"))
                expired = time.monotonic() - last >= idle
                if not waiting and not expired:
                    time.sleep(0.1)
                    continue
                with mailbox.door():
                    request = self._take(mailbox)
                    if request is None:
                        if expired:
                            mailbox.clear()
                            alive.close()  # no session is handed over from now on
                            return
                        continue
                self.serve(request)
                mailbox.served(request.session_id)
                last = time.monotonic()
        finally:
            alive.close()

    def _take(self, mailbox: Mailbox) -> Request | None:
        """Under the door: the next session to send, its status file saying
        so before the controller can look for the request (and find it gone)."""
        while True:
            taken = mailbox.take()
            if taken is None:
                return None
            request = Request.from_dict(taken)
            # A session whose controller died meanwhile is grd sync's.
            if request.directory.is_dir() and session_is_live(request.directory):
                write_json(status_path(request.directory, self.uri), {"pid": os.getpid()})
                return request


def _log_to(path: Path) -> None:
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)


def _leave_the_controller(status: Path) -> None:
    """Go on in a child of our own, so that the controller's process (whose
    child we are) is not held up by a writer staying warm: the parent says
    which process sends the session, and exits at once.  Done first, while
    this process has no thread."""
    parent = os.getpid()
    child = os.fork()
    if child != 0:
        write_json(status, {"pid": child})
        os._exit(0)
    while os.getppid() == parent:  # its word first: the status file is ours after
        time.sleep(0.001)


def main(argv: list[str]) -> int:
    directory, session_id, experiment, timeout = (
        Path(argv[0]),
        argv[1],
        argv[2],
        float(argv[3]),
    )
    idle = float(argv[4]) if len(argv) > 4 else 0.0
    uri = os.environ.pop(URI_ENV)
    if idle > 0:
        _leave_the_controller(status_path(directory, uri))
    # The environment as the controller gave it: what names this writer's
    # kind (MLflow's import and the store may set variables of their own).
    environ, cwd = dict(os.environ), os.getcwd()
    writer = Writer(uri)
    code = writer.serve(Request(directory, session_id, experiment, timeout))
    if idle > 0:
        from .warm import Mailbox, writer_key

        writer.stay(Mailbox(writer_key(uri, timeout, environ, cwd)), idle, session_id)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
