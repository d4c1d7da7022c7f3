"""Per-process memory of loaded frames and the inter-process fetch lock.

Pure logic (no pytest, no pandas import): frames are opaque values here.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["FrameCache", "fetch_lock", "append_fetch_log", "read_fetch_log"]


class FrameCache:
    """A small LRU of loaded (and validated) frames, keyed by what determines
    their content: the bytes' identity, the reader, its options, the schema.

    ``get`` hands out ``copy(frame)`` so a test that mutates what it got
    cannot change what the next case sees.
    """

    def __init__(self, copy: Callable[[Any], Any], max_entries: int = 8) -> None:
        self._copy = copy
        self._max = max_entries
        self._frames: OrderedDict[Hashable, Any] = OrderedDict()
        self.hits = 0

    def get(self, key: Hashable) -> Any | None:
        frame = self._frames.get(key)
        if frame is None:
            return None
        self._frames.move_to_end(key)
        self.hits += 1
        return self._copy(frame)

    def put(self, key: Hashable, frame: Any) -> Any:
        """Keep ``frame``; return a copy for the caller."""
        self._frames[key] = frame
        self._frames.move_to_end(key)
        while len(self._frames) > self._max:
            self._frames.popitem(last=False)
        return self._copy(frame)

    def clear(self) -> None:
        self._frames.clear()

    def __len__(self) -> int:
        return len(self._frames)


@contextmanager
def fetch_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` across processes (xdist workers).

    DVC's own repository lock makes a second concurrent pull *fail*; this one
    makes the second fetcher wait, then find the data already in the cache.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def append_fetch_log(path: Path, target: str, rev: str | None, md5: str, nfiles: int) -> None:
    """One tab-separated line per fetch from a remote (written under the lock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = "\t".join([f"{time.time():.3f}", str(os.getpid()), target, rev or "-", md5, str(nfiles)])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def read_fetch_log(path: Path) -> list[dict[str, str]]:
    """The fetch log as dicts (``time``, ``pid``, ``target``, ``rev``, ``md5``, ``nfiles``)."""
    if not path.exists():
        return []
    keys = ("time", "pid", "target", "rev", "md5", "nfiles")
    return [
        dict(zip(keys, line.split("\t"), strict=False))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line
    ]
