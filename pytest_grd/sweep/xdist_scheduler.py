"""An xdist scheduler that starts the longest cases first.

Imported only on the xdist controller when grd started the workers and the
user did not choose ``--dist``.  It keeps xdist's ``LoadScheduling``
bookkeeping (collections, crash accounting) and replaces the dealing:

* pending cases are ordered longest first
  (:func:`~pytest_grd.sweep.scheduling.longest_first`, from the durations
  of earlier runs; cases never timed count as long);
* an xdist worker starts a case only once it holds the next one (or is told
  to shut down), so each worker holds two cases at most, and the one it is
  handed next is chosen with the estimated time each worker becomes free:
  the worker that frees first gets the longest case left (the classic
  longest-processing-time rule); a worker busy with a case longer than
  everything the others still have to do is released (shut down after its
  case) rather than handed a case it would start last.  Release needs known
  durations for every case involved, so a first run never releases;
* a crashed worker's queued case goes back into the ordered pool.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import pytest
from xdist.remote import Producer
from xdist.scheduler.load import LoadScheduling
from xdist.workermanage import WorkerController

from .scheduling import longest_first

__all__ = ["LongestFirstScheduling"]

#: A worker's queue: the running case and the next one.
_DEPTH = 2


class LongestFirstScheduling(LoadScheduling):  # type: ignore[misc]
    """Longest-processing-time-first list scheduling over xdist workers."""

    def __init__(
        self,
        config: pytest.Config,
        log: Producer | None,
        durations: Mapping[str, float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config, log)
        self.collection: list[str] | None = None
        self.durations = dict(durations)
        self.clock = clock
        #: When each worker's first pending case started running (estimated).
        self.running_since: dict[WorkerController, float] = {}
        self._estimate: dict[int, float] = {}
        self._known: set[int] = set()

    # -- estimates -------------------------------------------------------------

    def _prepare_estimates(self, collection: list[str]) -> None:
        known = {
            i: float(self.durations[nodeid])
            for i, nodeid in enumerate(collection)
            if isinstance(self.durations.get(nodeid), (int, float))
        }
        # An unknown case counts as the longest known one (or 1 s): start it early.
        unknown = max(known.values(), default=1.0) or 1.0
        self._known = set(known)
        self._estimate = {i: known.get(i, unknown) for i in range(len(collection))}

    def _free_in(self, node: WorkerController, now: float) -> float:
        """Estimated seconds until ``node`` has run everything it holds."""
        pending = self.node2pending.get(node, [])
        if not pending:
            return 0.0
        elapsed = now - self.running_since.get(node, now)
        head = max(0.0, self._estimate[pending[0]] - elapsed)
        return head + sum(self._estimate[i] for i in pending[1:])

    def _sort_pending(self) -> None:
        self.pending.sort(key=lambda i: (-self._estimate.get(i, 0.0), i))

    # -- dealing -----------------------------------------------------------------

    def _give(self, node: WorkerController, index_in_pending: int) -> None:
        index = self.pending.pop(index_in_pending)
        if len(self.node2pending[node]) == 1:
            # It holds its next case now, so its first one starts running.
            self.running_since[node] = self.clock()
        self.node2pending[node].append(index)
        node.send_runtest_some([index])

    def _release(self, node: WorkerController) -> None:
        """Shut ``node`` down: it runs what it holds (its last case starts now), then exits."""
        if len(self.node2pending[node]) == 1:
            self.running_since[node] = self.clock()
        node.shutdown()

    def _refill(self, node: WorkerController) -> None:
        """Top ``node`` up to two cases, or release it."""
        while len(self.node2pending[node]) < _DEPTH and not node.shutting_down:
            if not self.pending:
                self._release(node)
                return
            if not self.node2pending[node]:
                self._give(node, 0)  # an idle worker starts the longest case
                continue
            self._choose_next(node)

    def _choose_next(self, node: WorkerController) -> None:
        now = self.clock()
        others = [m for m in self.node2pending if m is not node and not m.shutting_down]
        free_self = self._free_in(node, now)
        free_others = [self._free_in(m, now) for m in others]
        if not others or free_self <= min(free_others):
            self._give(node, 0)  # frees first: the longest case left
            return
        involved = [*self.node2pending[node], *self.pending]
        if all(i in self._known for i in involved):
            rest = sum(self._estimate[i] for i in self.pending) + sum(free_others)
            shortest = self._estimate[self.pending[-1]]
            release = max(free_self, rest / len(others))
            commit = max(free_self + shortest, (rest - shortest) / len(others))
            if release < commit:
                self._release(node)
                return
        self._give(node, len(self.pending) - 1)  # the shortest adds least to its tail

    # -- xdist's Scheduling protocol --------------------------------------------

    def check_schedule(self, node: WorkerController, duration: float = 0) -> None:
        if node.shutting_down:
            return
        self._refill(node)

    def mark_test_complete(
        self, node: WorkerController, item_index: int, duration: float = 0
    ) -> None:
        self.node2pending[node].remove(item_index)
        self.running_since[node] = self.clock()
        self.check_schedule(node, duration=duration)

    def remove_node(self, node: WorkerController) -> str | None:
        pending = self.node2pending.pop(node)
        self.running_since.pop(node, None)
        if not pending:
            return None
        assert self.collection is not None  # xdist's contract: nodes run only after schedule()
        crashitem: str = self.collection[pending.pop(0)]
        self.pending.extend(pending)
        self._sort_pending()
        for other in self._by_free_time():
            self.check_schedule(other)
        return crashitem

    def _by_free_time(self) -> list[WorkerController]:
        now = self.clock()
        return sorted(self.node2pending, key=lambda n: self._free_in(n, now))

    def schedule(self) -> None:
        assert self.collection_is_completed  # xdist's contract, as in LoadScheduling
        if self.collection is not None:  # a node joined late (a crashed one's clone)
            for node in self._by_free_time():
                self.check_schedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        collection: list[str] = next(iter(self.node2collection.values()))
        self.collection = collection
        self._prepare_estimates(collection)
        self.pending[:] = longest_first(collection, self.durations)
        if not collection:
            return
        # First one case each, longest first, then the next case of each,
        # the worker that frees first choosing first.
        for node in self.nodes:
            if self.pending:
                self._give(node, 0)
        for node in self._by_free_time():
            self._refill(node)
