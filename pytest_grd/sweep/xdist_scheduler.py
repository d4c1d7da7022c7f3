"""An xdist scheduler that starts the longest cases first, one at a time.

Imported only on the xdist controller when grd started the workers and the
user did not choose ``--dist``.  It is xdist's ``LoadScheduling`` with two
changes:

* the pending cases are ordered by :func:`~pytest_grd.sweep.scheduling.longest_first`;
* a crashed worker's queued case goes back to the front of the queue;
* every worker holds at most two cases (the one running and the next: an
  xdist worker only starts a case once it knows the one after it), dealt
  round-robin at the start, so the two longest cases never queue on one GPU
  and a free worker always takes the longest case left.
"""

from __future__ import annotations

from collections.abc import Mapping

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
        self, config: pytest.Config, log: Producer | None, durations: Mapping[str, float]
    ) -> None:
        super().__init__(config, log)
        self.collection: list[str] | None = None
        self.durations = dict(durations)

    def check_schedule(self, node: WorkerController, duration: float = 0) -> None:
        if node.shutting_down:
            return
        if self.pending:
            missing = _DEPTH - len(self.node2pending[node])
            if missing > 0:
                self._send_tests(node, missing)
        else:
            node.shutdown()

    def remove_node(self, node: WorkerController) -> str | None:
        pending = self.node2pending.pop(node)
        if not pending:
            return None
        assert self.collection is not None  # xdist's contract: nodes run only after schedule()
        crashitem: str = self.collection[pending.pop(0)]
        # The crashed worker's next case was dealt before everything still
        # pending, so it goes back to the front (xdist appends it at the end).
        self.pending[:0] = pending
        for other in self.node2pending:
            self.check_schedule(other)
        return crashitem

    def schedule(self) -> None:
        assert self.collection_is_completed  # xdist's contract, as in LoadScheduling
        if self.collection is not None:  # a node joined late (a crashed one's clone)
            for node in self.nodes:
                self.check_schedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        collection: list[str] = next(iter(self.node2collection.values()))
        self.collection = collection
        self.pending[:] = longest_first(collection, self.durations)
        if not collection:
            return
        for _ in range(_DEPTH):
            for node in self.nodes:
                if self.pending:
                    self._send_tests(node, 1)
        if not self.pending:
            for node in self.nodes:
                node.shutdown()
