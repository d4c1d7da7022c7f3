"""Which store run each journal run key became, shared by the processes of a
session (the writer, and a worker whose test reached for live MLflow objects).

Standard library only.  ``runs.jsonl`` in the session's journal folder, one
``{"store", "key", "run_id"}`` line per run made, appended under an exclusive
``flock`` of ``runs.lock`` that is also held while the run is created, so two
processes never both create the run of one key.  ``store`` names the tracking
URI, so that ``grd sync --uri`` to another store makes runs of its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["LockTimeout", "RunRegistry", "held", "locked"]


class LockTimeout(RuntimeError):
    """A lock file stayed held by another process longer than allowed."""


@contextlib.contextmanager
def locked(path: Path, timeout: float, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive (or ``shared``) ``flock`` of ``path``;
    :class:`LockTimeout` (naming the file) after ``timeout`` seconds of waiting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"lock {path} held by another process for {timeout:g} s"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def held(path: Path) -> bool:
    """Whether another process holds a ``flock`` of ``path`` (looked at
    without waiting, and without making the file)."""
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False


def store_name(uri: str) -> str:
    return hashlib.sha1(uri.encode()).hexdigest()[:16]


class RunRegistry:
    """Run keys to run ids for one store, read from and appended to ``runs.jsonl``."""

    def __init__(self, directory: Path, uri: str, timeout: float = 10.0) -> None:
        self.path = directory / "runs.jsonl"
        self.lock = directory / "runs.lock"
        self.store = store_name(uri)
        self.timeout = timeout
        self.runs: dict[str, str] = {}
        self._offset = 0

    def refresh(self) -> None:
        """Read what other processes added since the last look."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return
        for raw in data.splitlines(keepends=True):
            if not raw.endswith(b"\n"):
                break
            self._offset += len(raw)
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("store") == self.store:
                self.runs.setdefault(str(entry["key"]), str(entry["run_id"]))

    def get(self, key: str) -> str | None:
        if key not in self.runs:
            self.refresh()
        return self.runs.get(key)

    def ensure(self, key: str, create: Callable[[], str]) -> tuple[str, bool]:
        """The run id of ``key``, creating the run (``create()``) if no process
        has; ``(run_id, created)``.  :class:`LockTimeout` when another process
        holds the registry too long."""
        known = self.runs.get(key)
        if known is not None:
            return known, False
        with locked(self.lock, self.timeout):
            self.refresh()
            known = self.runs.get(key)
            if known is not None:
                return known, False
            run_id = create()
            self.add(key, run_id)
            return run_id, True

    def add(self, key: str, run_id: str) -> None:
        """Note a run found or made (call under the lock, or for a run found
        in the store by its key tag)."""
        line = json.dumps({"store": self.store, "key": key, "run_id": run_id}) + "\n"
        with open(self.path, "ab") as handle:
            handle.write(line.encode())
        self.runs[key] = run_id
