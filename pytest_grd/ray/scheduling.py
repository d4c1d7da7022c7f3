"""Which case a Ray worker runs next, and what a lost worker costs.

Pure logic, no Ray import.  :class:`Backlog` holds the cases not yet done,
one queue per resource shape; a case whose worker or node died goes back to
the front of its queue until it has been lost ``retries + 1`` times.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .resources import Shape

__all__ = ["Backlog", "Task", "fits_on"]


@dataclass
class Task:
    """One case on its way through the cluster."""

    nodeid: str
    shape: Shape
    #: 1 for the first run; one more after every loss.
    attempt: int = 1
    #: Each loss so far: ``{"node": ..., "why": ...}``.
    lost: list[dict[str, str]] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        """What the worker writes into the case's record."""
        return {"attempt": self.attempt, "retried": list(self.lost)}


class Backlog:
    """The cases still to run, per shape, in collection order."""

    def __init__(self, tasks: Iterable[Task], retries: int) -> None:
        self.retries = retries
        self.queues: dict[Shape, deque[Task]] = {}
        for task in tasks:
            self.queues.setdefault(task.shape, deque()).append(task)

    def __len__(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def waiting(self, shape: Shape) -> int:
        return len(self.queues.get(shape, ()))

    def take(self, shape: Shape) -> Task | None:
        queue = self.queues.get(shape)
        return queue.popleft() if queue else None

    def put_back(self, task: Task) -> None:
        """A case handed to a worker that died before starting it."""
        self.queues.setdefault(task.shape, deque()).appendleft(task)

    def lose(self, task: Task, node: str, why: str) -> bool:
        """The case's worker died while running it: True if it runs again
        (first in line), False once its retries are spent."""
        task.lost.append({"node": node, "why": why})
        if len(task.lost) > self.retries:
            return False
        task.attempt += 1
        self.put_back(task)
        return True

    def drop(self, shape: Shape) -> list[Task]:
        """Every waiting case of ``shape`` (no node can run them)."""
        return list(self.queues.pop(shape, ()))


def fits_on(shape: Shape, node_resources: Mapping[str, float]) -> bool:
    """Whether one worker of ``shape`` fits on a node with these totals."""
    from .resources import BUILTIN

    return all(
        amount <= 0 or float(node_resources.get(BUILTIN.get(name, name), 0.0)) >= amount
        for name, amount in shape
    )
