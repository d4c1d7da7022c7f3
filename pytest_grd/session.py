"""The pytest side of hypotheses where cases run: collection and case verdicts.

:class:`GrdSession` is registered as a plugin in every session (it is cheap);
it turns ``@pytest.mark.hypothesis`` tests into cases, decides each case's
verdict and ships the :class:`~pytest_grd.record.CaseRecord` on the test
report, so xdist workers and a serial run produce the same records.  What the
controller makes of the records is :mod:`pytest_grd.controller`'s.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from .case import Case
from .claims import HypothesisRegistry, location
from .evidence import evidence_of_failed, plan_evidence, unknown_references
from .gitinfo import git_state
from .keys import CASE_KEY, SEED_PARAM, SESSION_KEY
from .marker import MarkerError
from .record import CaseRecord, HypothesisResult, case_name, jsonable
from .settings import get_settings, seed_values
from .wire import CASE, RECORD, RecordWire

__all__ = ["GrdSession", "get_session"]


#: Names of the plugins a session registers when it has work for them.
RUNNER_NAME = "grd-runner"
CONTROLLER_NAME = "grd-controller"

#: Folders pytest-grd and MLflow write into a project, never test code.
NEVER_COLLECTED = frozenset({"mlartifacts", "mlruns", ".grd"})


def stop_file(session_id: str) -> Path:
    """Where the xdist controller of session ``session_id`` signals its
    workers to stop (see :meth:`GrdSession.pytest_runtest_protocol`)."""
    return Path(tempfile.gettempdir()) / f"pytest-grd-stop-{session_id}"


def settled_dir(session_id: str) -> Path:
    """Where the controller marks sequential hypotheses whose remaining seeds
    are not needed (one file per hypothesis id, holding the reason)."""
    return Path(tempfile.gettempdir()) / f"pytest-grd-settled-{session_id}"


def get_session(config: pytest.Config) -> GrdSession:
    """The process's :class:`GrdSession`."""
    session: GrdSession = config.stash[SESSION_KEY]
    return session


def _case_params(item: pytest.Item) -> dict[str, Any]:
    getter = getattr(item, "grd_case_params", None)
    if callable(getter):
        return dict(getter())
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return {}
    return {k: jsonable(v) for k, v in callspec.params.items()}


def _seed_major(items: list[pytest.Item]) -> None:
    """Run the seeds of sequential hypotheses in waves, seed by seed (both
    arms of a comparison together), in the slots their items already hold."""

    def sequential(item: pytest.Item) -> bool:
        return CASE_KEY in item.stash and item.stash[CASE_KEY].record.sequential

    slots = [i for i, item in enumerate(items) if sequential(item)]
    group = [items[i] for i in slots]
    order = sorted(range(len(group)), key=lambda k: (group[k].stash[CASE_KEY].record.seed or 0, k))
    for slot, k in zip(slots, order, strict=True):
        items[slot] = group[k]


class GrdSession:
    """Per-session state and the core hooks (one instance per pytest process)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = settings = get_settings(config)
        self.is_worker = settings.is_worker
        self.worker_id = settings.worker_id
        workerinput = getattr(config, "workerinput", None)
        self.session_id: str = (
            workerinput.get("grd_session_id") if workerinput else None
        ) or uuid.uuid4().hex
        self.scale = settings.scale
        #: Which node declares which hypothesis (markers parsed once).
        self.registry = HypothesisRegistry()
        #: Records received on the controller (or the only process), and the
        #: hypothesis results made of them (see pytest_grd.controller).
        self.records: list[CaseRecord] = []
        self.results: list[HypothesisResult] = []
        # The code this session runs may differ from a previous session's in
        # the same process (pytest.main twice, a commit in between).
        git_state.cache_clear()
        self.wire = RecordWire()

    # -- reports between processes -------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_report_to_serializable(
        self, config: pytest.Config, report: Any
    ) -> Generator[None, Any, Any]:
        """A worker sends records compact (:mod:`pytest_grd.wire`)."""
        data = yield
        if self.is_worker and isinstance(data, dict) and (CASE in data or RECORD in data):
            self.wire.pack(data)
        return data

    @pytest.hookimpl(wrapper=True)
    def pytest_report_from_serializable(
        self, config: pytest.Config, data: dict[str, Any]
    ) -> Generator[None, Any, Any]:
        """The controller rebuilds them whole before any hook sees the report."""
        if CASE in data or RECORD in data:
            self.wire.unpack(data)
        return (yield)

    # -- collection --------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist controller: every worker shares this session's id, and the
        file whose existence tells it to start no new case."""
        node.workerinput["grd_session_id"] = self.session_id
        node.workerinput["grd_stop_file"] = str(stop_file(self.session_id))

    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        """Never collect what tracking and notebooks write: MLflow keeps the
        executed notebooks of every run under ``mlartifacts/`` (a second run
        would collect them and stop on duplicate ids), and ``.grd/``."""
        if collection_path.name in NEVER_COLLECTED and collection_path.is_dir():
            return True
        return None

    # trylast: after the parametrize markers, so the seed comes last in ids
    # (``test_x[0.1-seed3]``), as in case names and notebook ids.
    @pytest.hookimpl(trylast=True)
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        definition = metafunc.definition
        try:
            found = self.registry.spec_of(definition)
            if found is None:
                return
            spec, owner = found
            self.registry.claim(spec.id, owner.nodeid, location(owner))
        except MarkerError as exc:
            raise pytest.Collector.CollectError(f"{location(definition)}: {exc}") from None
        values = seed_values(self.settings, spec.seeds)
        if values:
            if SEED_PARAM not in metafunc.fixturenames:
                metafunc.fixturenames.append(SEED_PARAM)
            metafunc.parametrize(
                SEED_PARAM, values, ids=[f"seed{v}" for v in values], indirect=True
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_itemcollected(self, item: pytest.Item) -> None:
        try:
            found = self.registry.spec_of(item)
        except MarkerError:
            return  # reported as a collection error by pytest_generate_tests
        if found is None:
            return
        spec, _owner = found
        # ``-k`` matches names, not marker arguments: make the id a keyword.
        item.extra_keyword_matches.add(spec.id)
        params = _case_params(item)
        seed = params.pop(SEED_PARAM, None)
        record = CaseRecord(
            hypothesis=spec.id,
            claim=spec.claim,
            nodeid=item.nodeid,
            name=case_name(spec.id, params, seed),
            kind=getattr(item, "grd_kind", "function"),
            params=params,
            seed=seed,
            decide=spec.decide,
            baseline=spec.baseline,
            sequential=spec.sequential,
            min_seeds=spec.min_seeds,
            scale=self.scale,
            session_id=self.session_id,
            worker=self.worker_id,
            location=location(item),
        )
        item.stash[CASE_KEY] = Case(spec, record)

    def _register_runner(self, has_cases: bool) -> None:
        """Per-test hooks only where hypotheses run: a session of plain tests
        (the common case in an environment with pytest-grd installed) pays
        for none of them, and a serial one needs no controller either."""
        manager = self.config.pluginmanager
        if has_cases and not manager.has_plugin(RUNNER_NAME):
            from .runner import CaseRunner

            manager.register(CaseRunner(self), RUNNER_NAME)
        elif not has_cases and not self.is_worker and manager.has_plugin(CONTROLLER_NAME):
            manager.unregister(name=CONTROLLER_NAME)

    # tryfirst: before -k / -m / --lf deselection, which must not change how
    # many cases a hypothesis has nor which family it is corrected in.
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, items: list[pytest.Item]
    ) -> None:
        records = [item.stash[CASE_KEY].record for item in items if CASE_KEY in item.stash]
        self._register_runner(bool(records))
        plan_evidence(records, self.settings.families)
        if any(r.sequential for r in records):
            _seed_major(items)
        if self.settings.last_failed:
            lfplugin = self.config.pluginmanager.get_plugin("lfplugin")
            if lfplugin is not None:
                # The keys pytest compares items with (NodeId objects since pytest 9).
                key = {item.nodeid: getattr(item, "id", item.nodeid) for item in items}
                needed = evidence_of_failed(records, lfplugin.lastfailed)
                lfplugin.lastfailed.update({key[nodeid]: True for nodeid in needed})
        problems = unknown_references(records)
        if not problems:
            return
        message = "grd: " + problems[0]
        if not self.is_worker:
            raise pytest.UsageError(message)
        # A worker cannot end the session with a usage error: it runs nothing
        # and asks the controller to stop, which prints the reason once.
        session.shouldstop = message
        items[:] = []
