"""Sending a session's journal to an MLflow store, idempotently.

Used by the session's one writer (:mod:`.writer_process`) while the session
runs, and by ``grd sync`` afterwards.  Each :meth:`Replayer.step` reads the
journal lines not yet sent, groups them by run, and sends each run's share
with as few calls as MLflow allows: a run made (once: :class:`RunRegistry`),
one ``log_batch`` per 1000 entries, its artifacts, its data inputs, its end.
A round is committed (offsets saved) only when the store took all of it; a
store that goes away mid-round raises :class:`StoreDown`, and the round is
sent again later.  Sending a line twice changes nothing: MLflow keeps one copy
of an identical metric value, a param may be logged again with the same
value, tags and artifacts are overwritten, inputs are matched, an end is an
end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .journal import journal_files, parent_key, read_json, read_lines
from .registry import LockTimeout, RunRegistry
from .replay_state import ReplayState
from .store import TrackingStore
from .tags import parent_tags, record_dict_tags, shared_tags, verdict_tags

__all__ = ["Replayer", "StoreDown"]


class StoreDown(Exception):
    """The store cannot take the journal now (the message is one line)."""


@dataclass
class _Run:
    """One run's share of a round of journal lines."""

    key: str
    hyp: str = ""
    claim: str = ""
    scale: str = ""
    name: str = ""
    start: int | None = None
    create_tags: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[tuple[str, str | None, bool]] = field(default_factory=list)
    lineage: list[dict[str, Any]] = field(default_factory=list)
    record: dict[str, Any] | None = None
    end: tuple[str, int | None] | None = None
    bound: str | None = None
    parent: bool = False

    def take(self, entry: dict[str, Any]) -> None:
        for name in ("hyp", "claim", "scale", "name"):
            if entry.get(name) and not getattr(self, name):
                setattr(self, name, str(entry[name]))
        self.metrics.extend(
            (str(k), float(v), int(ts), int(step)) for k, v, ts, step in entry.get("metrics") or []
        )
        self.params.update(entry.get("params") or {})
        self.tags.update(entry.get("tags") or {})


def _group(lines: list[dict[str, Any]], session_id: str) -> dict[str, _Run]:
    runs: dict[str, _Run] = {}
    for entry in lines:
        op = entry.get("op")
        if op == "end_parent":
            key = parent_key(session_id, str(entry.get("hyp")))
        elif op in ("open", "log", "artifact", "bound", "close", "fail"):
            key = str(entry.get("key"))
        else:
            continue
        run = runs.setdefault(key, _Run(key=key, parent=op == "end_parent"))
        if op == "open":
            run.start = entry.get("start")
            run.create_tags.update(entry.get("tags") or {})
            run.params.update(entry.get("params") or {})
            for name in ("hyp", "claim", "scale", "name"):
                setattr(run, name, str(entry.get(name) or getattr(run, name)))
        elif op == "artifact":
            run.artifacts.append((str(entry["file"]), entry.get("path"), bool(entry.get("dir"))))
        elif op == "bound":
            run.bound = str(entry["run_id"])
        else:
            run.take(entry)
            if op in ("close", "fail"):
                run.record = entry.get("record") or run.record
                run.lineage = list(entry.get("lineage") or [])
            if op in ("close", "fail", "end_parent"):
                run.end = (str(entry.get("status") or "FINISHED"), entry.get("end"))
            if op == "fail" and not run.create_tags:
                run.create_tags.update(entry.get("create_tags") or {})
    return runs


class Replayer:
    """Sends one session's journal to one store."""

    def __init__(
        self, store: TrackingStore, directory: Path, session_id: str, limit: int = 5000
    ) -> None:
        self.store = store
        self.directory = directory
        self.session_id = session_id
        self.limit = limit
        self.registry = RunRegistry(directory, store.uri, timeout=30.0)
        self.state = ReplayState.load(directory, store.uri)
        self.meta = str(read_json(directory / "session.json").get("meta") or "")
        self._looked_up = False

    # -- rounds ----------------------------------------------------------------

    def step(self) -> int:
        """Send the next round of lines; how many were sent (0: nothing new).
        Raises :class:`StoreDown` when the store went away mid-round."""
        lines: list[dict[str, Any]] = []
        offsets = dict(self.state.offsets)
        for path in journal_files(self.directory):
            for entry, offset in read_lines(path, offsets.get(path.name, 0)):
                lines.append(entry)
                offsets[path.name] = offset
                if len(lines) >= self.limit:
                    break
            if len(lines) >= self.limit:
                break
        if not lines:
            return 0
        self._look_up_runs()
        for run in _group(lines, self.session_id).values():
            if run.parent:
                self._end_parent(run)
            else:
                self._send(run)
        if any(entry.get("op") == "session_end" for entry in lines):
            self.state.session_end = True
        self.state.offsets = offsets
        self.state.save()
        return len(lines)

    def done(self) -> bool:
        """The session ended and everything it journaled is in the store."""
        return self.state.session_end and not self.state.open and not self._unread()

    def _unread(self) -> bool:
        for path in journal_files(self.directory):
            offset = self.state.offsets.get(path.name, 0)
            if path.stat().st_size > offset:
                return True
        return False

    def _look_up_runs(self) -> None:
        """Runs of this session the store already has (a journal sent before
        with its registry lost, or to this store from another folder)."""
        if self._looked_up:
            return
        found, problem = self.store.call("find runs", self.store.runs_by_key, self.session_id)
        self._check(None, problem)
        self._looked_up = True
        for key, run_id in (found or {}).items():
            if self.registry.get(key) is None:
                self.registry.add(key, run_id)

    def _check(self, key: str | None, problem: str | None) -> None:
        if self.store.error is not None:
            raise StoreDown(self.store.error)
        if problem is not None and key is not None:
            self.state.notes.setdefault(key, problem)

    # -- runs ------------------------------------------------------------------

    def _ensure(self, key: str, tags: dict[str, str], name: str, start: int | None) -> str | None:
        def create() -> str:
            run_id, problem = self.store.call(
                "open run", self.store.create_run, {**tags, "grd.run_key": key}, name, start
            )
            self._check(key, problem)
            if run_id is None:
                raise _Refused
            return run_id

        try:
            return self.registry.ensure(key, create)[0]
        except _Refused:
            return None
        except LockTimeout as exc:
            raise StoreDown(str(exc)) from None

    def _parent(self, run: _Run) -> str | None:
        key = parent_key(self.session_id, run.hyp)
        known = self.registry.get(key)
        if known is not None:
            # Made in a round that did not finish: this one ends it, or a
            # sync of a killed session does.
            self.state.parents.setdefault(run.hyp, {"claim": run.claim, "scale": run.scale})
            return known
        tags = shared_tags(run.create_tags)
        tags.update(parent_tags(run.hyp, run.claim, run.scale))
        if self.meta:
            tags["grd.session_meta"] = self.meta
        run_id = self._ensure(key, tags, run.hyp, run.start)
        if run_id is not None:
            self.state.parents.setdefault(run.hyp, {"claim": run.claim, "scale": run.scale})
        return run_id

    def _send(self, run: _Run) -> None:
        run_id = run.bound or self.registry.get(run.key)
        if run.bound is not None and self.registry.get(run.key) is None:
            self.registry.add(run.key, run.bound)
        if run_id is None:
            if not run.hyp:
                self.state.notes.setdefault(run.key, "not logged: its run was never opened")
                return
            tags = dict(run.create_tags)
            parent_id = self._parent(run)
            if parent_id is not None:
                tags["mlflow.parentRunId"] = parent_id
            run_id = self._ensure(run.key, tags, run.name, run.start)
            if run_id is None:
                return
        if run.end is None and run.hyp:
            self.state.open.setdefault(run.key, {"hyp": run.hyp, "name": run.name})
        if run.hyp and self.registry.get(parent_key(self.session_id, run.hyp)) is not None:
            self.state.parents.setdefault(run.hyp, {"claim": run.claim, "scale": run.scale})
        tags = dict(run.tags)
        if run.record is not None:
            tags.update(record_dict_tags(self._with_ids(run, run_id)))
        self._check(run.key, self.store.write(run_id, run.metrics, run.params, tags))
        for file, artifact_path, is_dir in run.artifacts:
            local = str(self.directory / file)
            send = self.store.log_artifacts if is_dir else self.store.log_artifact
            self._check(run.key, send(run_id, local, artifact_path))
        if run.lineage:
            self._check(run.key, self.store.log_lineage(run_id, run.lineage))
        if run.end is not None:
            self._check(run.key, self.store.terminate(run_id, *run.end))
            self.state.open.pop(run.key, None)

    def _with_ids(self, run: _Run, run_id: str) -> dict[str, Any]:
        record = dict(run.record or {})
        record["run_id"] = run_id
        record["parent_run_id"] = self.registry.get(parent_key(self.session_id, run.hyp))
        record["experiment_id"] = self.store.experiment_id
        record["tracking_uri"] = self.store.shown_uri
        return record

    def _end_parent(self, run: _Run) -> None:
        parent_id = self._parent(run)
        if parent_id is None:
            return
        tags = dict(run.tags)
        if self.meta:
            tags["grd.session_meta"] = self.meta
        now = run.end[1] if run.end is not None and run.end[1] is not None else 0
        points = [(k, v, int(now), 0) for k, v, _, _ in run.metrics]
        self._check(run.key, self.store.write(parent_id, points, {}, tags))
        status = run.end[0] if run.end is not None else "FINISHED"
        self._check(run.key, self.store.terminate(parent_id, status, run.end and run.end[1]))
        if run.hyp not in self.state.ended_parents:
            self.state.ended_parents.append(run.hyp)

    # -- a session that died ---------------------------------------------------

    def end_leftovers(self, reason: str) -> int:
        """End as KILLED every run the session opened and never ended (its
        controller was killed): INCONCLUSIVE, with ``reason``.  How many."""
        ended = 0
        for key in list(self.state.open):
            run_id = self.registry.get(key)
            if run_id is not None:
                tags = verdict_tags("INCONCLUSIVE", reason)
                self._check(key, self.store.write(run_id, [], {}, tags))
                self._check(key, self.store.terminate(run_id, "KILLED", None))
                ended += 1
            self.state.open.pop(key, None)
        for hyp in list(self.state.parents):
            if hyp in self.state.ended_parents:
                continue
            run_id = self.registry.get(parent_key(self.session_id, hyp))
            if run_id is not None:
                tags = verdict_tags("INCONCLUSIVE", reason)
                self._check(None, self.store.write(run_id, [], {}, tags))
                self._check(None, self.store.terminate(run_id, "KILLED", None))
                ended += 1
            self.state.ended_parents.append(hyp)
        self.state.session_end = True
        self.state.save()
        return ended


class _Refused(Exception):
    """The store refused to make a run (noted; its lines are skipped)."""
