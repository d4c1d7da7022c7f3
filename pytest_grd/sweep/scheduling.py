"""Longest-first ordering of a sweep's cases from durations of earlier runs.

Pure logic: no pytest or xdist import.  The controller keeps the duration of
every test it saw in pytest's cache (``grd/durations``); the next parallel
run starts the longest cases first, so a long case does not start last and
leave the other GPUs idle (the classic longest-processing-time rule).
Cases never timed count as the longest: what is unknown starts early.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "CACHE_KEY",
    "MAX_REMEMBERED",
    "DEFAULT_SCHEDULER",
    "SCHEDULERS",
    "longest_first",
    "merge_durations",
]

#: pytest cache key holding ``{nodeid: seconds}``.
CACHE_KEY = "grd/durations"
#: Bound on the cache entry so that renamed tests do not make it grow forever.
MAX_REMEMBERED = 20_000
#: Distribution modes grd can pick when it starts the workers itself.
SCHEDULERS = ("longest-first", "worksteal", "load")
#: Chosen from benchmarks/bench_parallel.py (see docs/sweeps.md).
DEFAULT_SCHEDULER = "longest-first"


def longest_first(collection: Sequence[str], durations: Mapping[str, float]) -> list[int]:
    """Indices into ``collection``, longest recorded duration first; unknown
    durations first of all; ties keep collection order (so fixtures shared by
    neighbours are still reused)."""

    def key(index: int) -> tuple[float, int]:
        seconds = durations.get(collection[index])
        known = seconds if seconds is not None and math.isfinite(seconds) else math.inf
        return (-known, index)

    return sorted(range(len(collection)), key=key)


def merge_durations(
    previous: Mapping[str, object], observed: Iterable[tuple[str, float]]
) -> dict[str, float]:
    """The cache entry after a run: this run's durations win; older entries
    are kept (most recent last) up to :data:`MAX_REMEMBERED`."""
    merged: dict[str, float] = {}
    for nodeid, seconds in previous.items():
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
            merged[str(nodeid)] = float(seconds)
    for nodeid, seconds in observed:
        merged.pop(nodeid, None)
        merged[nodeid] = round(float(seconds), 4)
    if len(merged) > MAX_REMEMBERED:
        merged = dict(list(merged.items())[-MAX_REMEMBERED:])
    return merged
