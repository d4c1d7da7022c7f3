"""Seeding and longest-first scheduling (pure logic; the scheduler driven
without a session, as xdist's own scheduler tests do)."""

from __future__ import annotations

import random
import sys
import types
from typing import Any

import numpy as np
import pytest

from pytest_grd.sweep.scheduling import MAX_REMEMBERED, longest_first, merge_durations
from pytest_grd.sweep.seeding import seed_everything, seed_loaded

# -- seeding -------------------------------------------------------------------------


def _draw() -> tuple[float, float]:
    return random.random(), float(np.random.rand())


def test_same_seed_same_numbers_other_seed_other_numbers() -> None:
    assert seed_everything(3)[:2] == ["random", "numpy"]
    first = _draw()
    seed_everything(3)
    assert _draw() == first
    seed_everything(4)
    assert _draw() != first


def test_generators_already_seeded_are_not_seeded_again() -> None:
    # The sweep plugin seeds loaded generators before setup; grd_seed then
    # seeds only the rest, so draws made in between are not replayed.
    seeded = seed_loaded(8)
    assert "random" in seeded and "numpy" in seeded
    first = random.random()
    assert "random" not in seed_everything(8, already=seeded)
    assert random.random() != first  # random was not reset to seed 8 again
    seed_everything(8)
    assert random.random() == first


def test_seeds_outside_numpys_range_are_wrapped() -> None:
    seed_everything(2**32 + 5)  # NumPy's global generator takes 32 bits only
    wrapped = float(np.random.rand())
    seed_everything(5)
    assert float(np.random.rand()) == wrapped
    seed_everything(-1)  # a negative base seed is no error either
    assert 0.0 <= random.random() < 1.0


class _FakeTorch(types.ModuleType):
    """torch is not installed here: a stand-in that records what seeding calls."""

    def __init__(self, cuda: bool) -> None:
        super().__init__("torch")
        self.calls: list[tuple[str, int]] = []
        outer = self

        class _Cuda:
            @staticmethod
            def is_available() -> bool:
                return cuda

            @staticmethod
            def manual_seed_all(seed: int) -> None:
                outer.calls.append(("cuda.manual_seed_all", seed))

        self.cuda = _Cuda()

    def manual_seed(self, seed: int) -> None:
        self.calls.append(("manual_seed", seed))


@pytest.mark.parametrize("cuda", [False, True])
def test_torch_is_seeded_cpu_and_cuda(monkeypatch: pytest.MonkeyPatch, cuda: bool) -> None:
    fake = _FakeTorch(cuda)
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert seed_everything(-2) == ["random", "numpy", "torch"]
    expected = [("manual_seed", 2**64 - 2)]
    if cuda:
        expected.append(("cuda.manual_seed_all", 2**64 - 2))
    assert fake.calls == expected


def test_seed_loaded_only_touches_imported_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert seed_loaded(7) == ["random", "numpy"]  # numpy is imported by this module
    a = _draw()
    seed_loaded(7)
    assert _draw() == a
    fake = _FakeTorch(False)
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert seed_loaded(7)[-1] == "torch" and fake.calls == [("manual_seed", 7)]


# -- ordering --------------------------------------------------------------------------


def test_longest_first_puts_unknown_then_longest_first() -> None:
    collection = ["a", "b", "c", "d", "e"]
    durations = {"a": 1.0, "b": 9.0, "d": 1.0, "e": float("nan")}
    # c and e are unknown (nan counts as unknown) and start first, in
    # collection order; then b; a and d tie and keep collection order.
    assert longest_first(collection, durations) == [2, 4, 1, 0, 3]
    assert longest_first(collection, {}) == [0, 1, 2, 3, 4]


def test_merge_durations_keeps_newest_and_is_bounded() -> None:
    merged = merge_durations({"a": 1, "b": 2, "junk": "x", "flag": True}, [("a", 3.14159)])
    assert merged == {"b": 2.0, "a": 3.1416}
    assert list(merged) == ["b", "a"]  # most recent last
    many = merge_durations({f"t{i}": 1.0 for i in range(MAX_REMEMBERED)}, [("new", 1.0)])
    assert len(many) == MAX_REMEMBERED and "new" in many and "t0" not in many


# -- the xdist scheduler ---------------------------------------------------------------


class _Gateway:
    def __init__(self, name: str) -> None:
        self.id = name


class _Node:
    """The slice of xdist's WorkerController that a scheduler uses."""

    def __init__(self, name: str) -> None:
        self.gateway = _Gateway(name)
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def _scheduler(
    pytester: pytest.Pytester, collection: list[str], durations: dict[str, float]
) -> tuple[Any, list[_Node]]:
    from pytest_grd.sweep.xdist_scheduler import LongestFirstScheduling

    config = pytester.parseconfig("--tx=2*popen")
    # A frozen clock: estimates then depend on durations alone.
    sched = LongestFirstScheduling(config, None, durations, clock=lambda: 0.0)
    nodes = [_Node("gw0"), _Node("gw1")]
    for node in nodes:
        sched.add_node(node)
        sched.add_node_collection(node, collection)
    assert sched.collection_is_completed
    sched.schedule()
    return sched, nodes


def test_scheduler_deals_longest_cases_to_different_workers(pytester: pytest.Pytester) -> None:
    collection = [f"t{i}" for i in range(6)]
    durations = {"t0": 1, "t1": 1, "t2": 1, "t3": 1, "t4": 10, "t5": 9}
    sched, (gw0, gw1) = _scheduler(pytester, collection, durations)
    # The two longest start on different workers; each holds a next case.
    assert gw0.sent == [4, 1] and gw1.sent == [5, 0]
    assert sched.pending == [2, 3]
    # A worker that finishes a case gets the longest case left, one at a time.
    sched.mark_test_complete(gw1, 5, duration=9)
    assert gw1.sent == [5, 0, 2]
    sched.mark_test_complete(gw0, 4, duration=10)
    assert gw0.sent == [4, 1, 3]
    assert not sched.pending
    # Nothing left: a worker that drops below two is shut down.
    sched.mark_test_complete(gw0, 1)
    assert gw0.shutting_down and not gw1.shutting_down


def test_scheduler_releases_a_worker_whose_case_outlasts_the_rest(
    pytester: pytest.Pytester,
) -> None:
    # Eight short cases, then one as long as all of them together.
    collection = [f"s{i}" for i in range(8)] + ["long"]
    durations = {**{f"s{i}": 0.3 for i in range(8)}, "long": 2.4}
    sched, (gw0, gw1) = _scheduler(pytester, collection, durations)
    # gw0 starts the long case first; handing it a short case to run after it
    # would end the sweep at 2.7 s instead of 2.4 s: it is released instead.
    assert gw0.sent == [8] and gw0.shutting_down
    assert gw1.sent == [0, 1] and not gw1.shutting_down
    for done, expected_next in zip(range(6), range(2, 8), strict=True):
        sched.mark_test_complete(gw1, done, duration=0.3)
        assert gw1.sent[-1] == expected_next
    assert gw0.sent == [8]


def test_scheduler_never_releases_on_unknown_durations(pytester: pytest.Pytester) -> None:
    collection = [f"s{i}" for i in range(8)] + ["long"]
    sched, (gw0, gw1) = _scheduler(pytester, collection, {})
    # A first run: collection order, two cases each, nobody released.
    assert gw0.sent == [0, 2] and gw1.sent == [1, 3]
    assert not gw0.shutting_down and not gw1.shutting_down
    assert sched.pending == [4, 5, 6, 7, 8]


def test_scheduler_with_fewer_cases_than_slots(pytester: pytest.Pytester) -> None:
    _sched, (gw0, gw1) = _scheduler(pytester, ["only"], {})
    assert gw0.sent == [0] and gw1.sent == []
    assert gw0.shutting_down and gw1.shutting_down


def test_scheduler_requeues_a_crashed_workers_next_case(pytester: pytest.Pytester) -> None:
    collection = [f"t{i}" for i in range(5)]
    durations = {"t0": 5.0, "t1": 1.0, "t2": 4.0, "t3": 1.0, "t4": 1.0}
    sched, (gw0, gw1) = _scheduler(pytester, collection, durations)
    assert gw0.sent == [0, 3] and gw1.sent == [2, 1]
    crashed = sched.remove_node(gw0)
    assert crashed == "t0"  # reported as the crashed case
    # Its queued case goes back into the ordered pool.
    assert sched.pending == [3, 4]
    sched.mark_test_complete(gw1, 2, duration=4)
    assert gw1.sent == [2, 1, 3]
