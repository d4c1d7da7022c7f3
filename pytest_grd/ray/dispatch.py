"""The controller's loop: workers per resource shape, cases in, events out.

:class:`RaySweep` starts :class:`~.worker.PytestWorker` actors (as many of
each shape as the cluster holds), gives each ready worker one case at a time
together with the case it gets next (so fixtures are torn down as in a serial
run), replays what comes back, and when a worker or its node dies puts the
case it was running back at the front of the queue, on a fresh worker,
until :class:`~.scheduling.Backlog` says its retries are spent.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import ray

from ..keys import CASE_KEY
from ..text import one_line
from .connect import Cluster
from .replay import replay, report_interrupted, report_lost
from .resources import Shape, actor_options, describe, shape_of, workers_that_fit
from .scheduling import Backlog, Task, fits_on
from .worker import PytestWorker

__all__ = ["RaySweep"]

#: Seconds a stopping worker gets to finish its session (tracking closes runs).
STOP_TIMEOUT_S = 30.0
# Two threads: ready() and run() may overlap; no restarts: a lost worker's
# case is retried by RaySweep, on a fresh worker.
_RemoteWorker: Any = ray.remote(max_concurrency=2, max_restarts=0)(  # type: ignore[call-overload]
    PytestWorker
)


#: How long a lost worker's node may take to be reported dead.
NODE_DEATH_GRACE_S = 5.0


@dataclass
class Lane:
    """One worker actor and the case(s) it holds."""

    actor: Any
    shape: Shape
    name: str
    ready_ref: Any = None
    placement: dict[str, Any] | None = None
    running: Task | None = None
    committed: Task | None = None
    ref: Any = None


class RaySweep:
    """Runs ``items`` on the cluster (see module docstring)."""

    def __init__(
        self,
        session: pytest.Session,
        cluster: Cluster,
        retries: int,
        default_request: dict[str, float],
        workerinput: Callable[[str], dict[str, Any]],
    ) -> None:
        self.session = session
        self.config = session.config
        self.cluster = cluster
        self.workerinput = workerinput
        self.items = {item.nodeid: item for item in session.items}
        tasks = [Task(item.nodeid, self._shape(item, default_request)) for item in session.items]
        self.backlog = Backlog(tasks, retries)
        self.lanes: list[Lane] = []
        self.stopping: list[Any] = []
        self._names = itertools.count()
        #: Workers per shape that died before they were ready (bounded).
        self.failed_starts: dict[Shape, int] = {}
        self.retries = retries
        # Ray imported some plugins' modules before the worker's pytest could
        # rewrite them; that warning must not fail a project's -W error.
        self.args = [str(a) for a in self.config.invocation_params.args]
        self.args += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
        self.invocation_dir = str(self.config.invocation_params.dir)

    @staticmethod
    def _shape(item: pytest.Item, default: dict[str, float]) -> Shape:
        case = item.stash.get(CASE_KEY, None)
        asked = case.spec.resources if case is not None and case.spec.resources else default
        return shape_of(asked)

    # -- workers ---------------------------------------------------------------

    def plan(self) -> list[str]:
        """Start the workers; one line per shape for the terminal."""
        lines = []
        for shape, queue in list(self.backlog.queues.items()):
            if not any(fits_on(shape, node) for node in self.cluster.nodes):
                self._give_up(shape, f"no node of the Ray cluster can hold {describe(shape)}")
                continue
            count = max(1, workers_that_fit(shape, self.cluster.totals, len(queue)))
            for _ in range(count):
                self._start(shape)
            lines.append(
                f"grd: ray: {count} worker(s) of {describe(shape)} for {len(queue)} case(s)"
            )
        return lines

    def _start(self, shape: Shape) -> None:
        name = f"ray{next(self._names)}"
        actor = _RemoteWorker.options(**actor_options(shape)).remote(
            self.args, self.invocation_dir, self.workerinput(name)
        )
        self.lanes.append(Lane(actor, shape, name, ready_ref=actor.ready.remote()))

    def _retire(self, lane: Lane) -> None:
        self.lanes.remove(lane)
        self.stopping.append((lane.actor, lane.actor.stop.remote(STOP_TIMEOUT_S)))

    def _reap(self, timeout: float) -> None:
        """Kill the workers whose session has ended: a stopped actor still
        holds its resources until it is gone."""
        if not self.stopping:
            return
        refs = [ref for _, ref in self.stopping]
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
        finished = set(done)
        for actor, ref in list(self.stopping):
            if ref in finished:
                ray.kill(actor)
                self.stopping.remove((actor, ref))

    # -- the loop --------------------------------------------------------------

    def run(self) -> None:
        try:
            while self._busy():
                self._assign()
                self._wait()
        except KeyboardInterrupt:
            for lane in self.lanes:
                if lane.running is not None:
                    item = self.items[lane.running.nodeid]
                    report_interrupted(self.config, item, self._info(lane, lane.running))
            self._kill_all()
            raise
        self._finish()

    def _stopped(self) -> bool:
        return bool(self.session.shouldfail or self.session.shouldstop)

    def _busy(self) -> bool:
        if any(lane.running is not None for lane in self.lanes):
            return True
        committed = any(lane.committed is not None for lane in self.lanes)
        return (committed or len(self.backlog) > 0) and not self._stopped()

    def _assign(self) -> None:
        for lane in list(self.lanes):
            if lane.placement is None or lane.running is not None:
                continue
            task = lane.committed or (None if self._stopped() else self.backlog.take(lane.shape))
            if task is None:
                self._retire(lane)
                continue
            after = None if self._stopped() else self.backlog.take(lane.shape)
            lane.running, lane.committed = task, after
            next_id = after.nodeid if after is not None else None
            lane.ref = lane.actor.run.remote(task.nodeid, next_id, task.info())

    def _wait(self) -> None:
        waiting = {lane.ref: lane for lane in self.lanes if lane.running is not None}
        waiting.update({lane.ready_ref: lane for lane in self.lanes if lane.placement is None})
        self._reap(timeout=0)
        if not waiting and self.stopping:
            self._reap(timeout=1.0)  # stopping workers free what pending ones wait for
            return
        if not waiting:
            for shape in list(self.backlog.queues):
                self._give_up(shape, f"no Ray worker of {describe(shape)} could start")
            return
        done, _ = ray.wait(list(waiting), num_returns=1, timeout=1.0)
        for ref in done:
            lane = waiting[ref]
            try:
                answer = ray.get(ref)
            except Exception as exc:
                self._lost(lane, self._why(lane, exc))
                continue
            if lane.placement is None:
                self._ready(lane, answer)
            else:
                self._done(lane, answer)

    def _ready(self, lane: Lane, answer: dict[str, Any]) -> None:
        if answer.get("error"):
            self.lanes.remove(lane)
            ray.kill(lane.actor)
            if not any(other.shape == lane.shape for other in self.lanes):
                self._give_up(lane.shape, f"the Ray worker could not start: {answer['error']}")
            return
        lane.placement = answer

    def _done(self, lane: Lane, answer: dict[str, Any]) -> None:
        task = lane.running
        if task is None:
            return
        if "events" in answer:
            lane.running = None
            replay(self.config, answer["events"])
        elif "missing" in answer:
            lane.running = None
            reason = f"the Ray worker did not run this case: {answer['why']}"
            report_lost(self.config, self.items[task.nodeid], reason, self._info(lane, task))
        else:  # the worker's session ended under the case
            self._lost(lane, f"worker session ended (exit {answer.get('exit')})")

    # -- losses ------------------------------------------------------------------

    def _why(self, lane: Lane, exc: BaseException) -> str:
        node = (lane.placement or {}).get("node_id")
        # The cluster marks a dead node a few seconds after its actors fail:
        # look again for a moment before calling it a worker's death.
        deadline = time.monotonic() + NODE_DEATH_GRACE_S
        while node:
            if node not in {n["NodeID"] for n in ray.nodes() if n.get("Alive")}:
                return f"node lost ({node[:12]} at {(lane.placement or {}).get('node_ip')})"
            if time.monotonic() >= deadline:
                break
            time.sleep(0.25)
        return f"worker died ({one_line(str(exc))[:200]})"

    def _info(self, lane: Lane, task: Task) -> dict[str, Any]:
        return {**(lane.placement or {}), **task.info()}

    def _lost(self, lane: Lane, why: str) -> None:
        """A worker died: its cases run again elsewhere, within their retries."""
        self.lanes.remove(lane)
        ray.kill(lane.actor)
        node = str((lane.placement or {}).get("node_id") or "?")
        if lane.committed is not None:
            self.backlog.put_back(lane.committed)
        task = lane.running
        if task is not None and not self.backlog.lose(task, node, why):
            attempts = len(task.lost)
            reason = f"{why}; gave up after {attempts} attempt(s)"
            report_lost(self.config, self.items[task.nodeid], reason, self._info(lane, task))
        if lane.placement is None:
            self.failed_starts[lane.shape] = self.failed_starts.get(lane.shape, 0) + 1
        if self.backlog.waiting(lane.shape) == 0 or self._stopped():
            return
        if self.failed_starts.get(lane.shape, 0) > self.retries + 2:
            if not any(other.shape == lane.shape for other in self.lanes):
                self._give_up(lane.shape, f"Ray workers keep dying before they start: {why}")
            return
        nodes = [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]
        if any(fits_on(lane.shape, n) for n in nodes):
            self._start(lane.shape)
        elif not any(other.shape == lane.shape for other in self.lanes):
            self._give_up(lane.shape, f"{why}; no live node can hold {describe(lane.shape)}")

    def _give_up(self, shape: Shape, reason: str) -> None:
        for task in self.backlog.drop(shape):
            info = {**task.info(), "unplaced": True}
            report_lost(self.config, self.items[task.nodeid], reason, info)

    # -- the end -------------------------------------------------------------------

    def _finish(self) -> None:
        for lane in list(self.lanes):
            if lane.placement is not None:
                self._retire(lane)
            else:
                ray.kill(lane.actor)
                self.lanes.remove(lane)
        refs = [ref for _, ref in self.stopping]
        if refs:
            ray.wait(refs, num_returns=len(refs), timeout=STOP_TIMEOUT_S + 5)
        self._kill_all()

    def _kill_all(self) -> None:
        for actor in [lane.actor for lane in self.lanes] + [a for a, _ in self.stopping]:
            with contextlib.suppress(Exception):  # already gone
                ray.kill(actor)
        self.lanes.clear()
        self.stopping.clear()
