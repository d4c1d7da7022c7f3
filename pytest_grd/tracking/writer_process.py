"""The session's one writer: a process that sends the journal to the store.

Started by the controller (:mod:`.background`) once the session has a case to
track; it imports MLflow and opens the store while the cases run, then sends
each round of journal lines as they come (:class:`~.replay.Replayer`).  A
store that is locked, slow or gone only delays it: it waits (0.5 s, doubling
to 5 s) and sends the same round again.  It ends once the controller's
``session_end`` line is sent with everything before it, when its controller
is gone, or when the controller stops waiting for it; what it did not send
stays in the journal for ``grd sync``.

Run as ``python -m pytest_grd.tracking.writer_process DIR SESSION EXPERIMENT
TIMEOUT``, the tracking URI in ``GRD_WRITER_URI`` (not on the command line,
where ``ps`` would show a password).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .journal import write_json
from .registry import store_name

__all__ = ["main", "status_path"]

URI_ENV = "GRD_WRITER_URI"


def status_path(directory: Path, uri: str) -> Path:
    return directory / f"writer.{store_name(uri)}.json"


def main(argv: list[str]) -> int:
    directory, session_id, experiment, timeout = (
        Path(argv[0]),
        argv[1],
        argv[2],
        float(argv[3]),
    )
    uri = os.environ[URI_ENV]
    controller = os.getppid()
    status = status_path(directory, uri)
    from .replay import Replayer, StoreDown
    from .settings import TrackingSettings, TrackingUnavailable
    from .store import TrackingStore

    # MLflow is loaded: from now on the controller's wait is the store's.
    write_json(status, {"imported": True})
    store = TrackingStore(TrackingSettings(uri=uri, source="", experiment=experiment), timeout)
    replayer: Replayer | None = None
    pause = 0.5
    while True:
        error = None
        sent = 0
        try:
            store.prepare(timeout)
            if replayer is None:
                replayer = Replayer(store, directory, session_id)
            sent = replayer.step()
            pause = 0.5
        except (StoreDown, TrackingUnavailable) as exc:
            error = str(exc)
            store.retry()
        write_json(status, {"imported": True, "experiment_id": store.experiment_id, "error": error})
        if replayer is not None and replayer.done():
            return 0
        if os.getppid() != controller:
            return 1  # the controller died: grd sync ends what it left open
        if error is not None:
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
        elif not sent:
            time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
