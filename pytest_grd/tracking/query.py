"""Reading verdicts back from the tracking store (``grd status``, ``grd report``).

Each case run carries its whole record as JSON (tag ``grd.record``, split
over ``grd.record.<i>`` when long); a run without it (a crashed worker on an
old store, a record too large) is rebuilt from its params, metrics and tags.
Each hypothesis's parent run carries the session id, the verdict it was closed
with, its counts and statistics, and the git state of the code.

Two readers give the same rows (:class:`RunRow`, :class:`ParentEntry`):
:class:`~pytest_grd.tracking.fastread.SqliteReader` reads a SQLite store with
the standard library; :class:`ClientReader` goes through MLflow's client (any
other store, e.g. a tracking server).  :func:`open_reader` picks one.  This
module imports mlflow only in :class:`ClientReader` and the functions that
use it.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..record import CaseRecord, HypothesisResult, group_by_hypothesis
from ..verdict import Verdict
from .settings import redact_uri, sqlite_path
from .tags import ROLE_CASE, ROLE_PARENT, record_from_tags

__all__ = [
    "ClientReader",
    "MetricSummary",
    "ParentEntry",
    "RunRow",
    "StoreReader",
    "open_reader",
    "record_from_row",
    "records_from_store",
    "results_from_store",
    "row_of",
    "search_all_runs",
    "sessions_in_store",
]

#: Whether :func:`open_reader` reads SQLite stores directly (tests switch it
#: off to exercise the MLflow path on the same store).
FAST_SQLITE = True


@dataclass(frozen=True)
class MetricSummary:
    """One metric over a session's cases: count, mean, standard deviation
    (``0.0`` for one case) and range of the last value each case logged."""

    n: int
    mean: float
    sd: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> MetricSummary:
        """From the values (in any order: the same summary from every reader)."""
        ordered = sorted(values)
        n = len(ordered)
        mean = math.fsum(ordered) / n
        var = math.fsum((v - mean) ** 2 for v in ordered) / (n - 1) if n > 1 else 0.0
        return cls(n, mean, math.sqrt(var), ordered[0], ordered[-1])

    def to_dict(self) -> dict[str, float]:
        return {"n": self.n, "mean": self.mean, "sd": self.sd, "min": self.low, "max": self.high}


@dataclass(frozen=True)
class ParentEntry:
    """Where a parent run stands, without loading it: one hypothesis in one
    session.  ``n_cases`` is ``None`` while the session runs."""

    run_id: str
    start_time: int
    status: str
    hypothesis: str
    session_id: str
    verdict: str
    commit: str
    n_cases: float | None

    @property
    def ran_cases(self) -> bool:
        """False for a parent closed with no case (interrupted before any of
        its cases ran): that session did not run this hypothesis."""
        return self.n_cases is None or self.n_cases > 0


@dataclass
class RunRow:
    """One run as stored: its info, tags, params and (last) metrics."""

    run_id: str
    experiment_id: str
    status: str
    start_time: int | None
    end_time: int | None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def has_record(self) -> bool:
        """Whether the run carries its whole record (not to be rebuilt)."""
        return "grd.record" in self.tags or self.tags.get("grd.record.chunks", "0") not in (
            "",
            "0",
        )


class StoreReader(Protocol):
    """What ``grd`` reads from a store (see the module docstring)."""

    uri: str
    runs_read: int

    def parent_index(self, hypothesis: str | None = None) -> list[ParentEntry]: ...
    def runs(self, run_ids: Sequence[str]) -> list[RunRow]: ...
    def case_runs(self, parent_ids: Sequence[str]) -> list[RunRow]: ...
    def case_metrics(self, parent_ids: Sequence[str]) -> dict[str, dict[str, MetricSummary]]: ...
    def close(self) -> None: ...


def open_reader(
    tracking_uri: str, experiment_name: str, *, fast: bool | None = None
) -> StoreReader:
    """A reader for ``experiment_name``: SQLite read directly when it can be
    (``fast``, default :data:`FAST_SQLITE`), else through MLflow."""
    db = sqlite_path(tracking_uri)
    if db is not None and (FAST_SQLITE if fast is None else fast):
        from .fastread import SqliteReader, StoreLayoutError

        try:
            return SqliteReader(db, experiment_name, tracking_uri)
        except StoreLayoutError:
            pass  # MLflow itself knows how to read (or migrate) it
    return ClientReader(tracking_uri, experiment_name)


def _client(tracking_uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _experiment_id(client: Any, experiment_name: str) -> str | None:
    experiment = client.get_experiment_by_name(experiment_name)
    return None if experiment is None else str(experiment.experiment_id)


def search_all_runs(
    client: Any, experiment_id: str, filter_string: str, order_by: list[str] | None = None
) -> list[Any]:
    """Every run of ``experiment_id`` that ``filter_string`` matches, in
    ``order_by`` order: ``MlflowClient.search_runs`` read page after page."""
    runs: list[Any] = []
    token: str | None = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=filter_string,
            max_results=1000,
            order_by=order_by,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def row_of(run: Any) -> RunRow:
    """An MLflow ``Run`` as a :class:`RunRow`."""
    info = run.info
    return RunRow(
        run_id=info.run_id,
        experiment_id=str(info.experiment_id),
        status=str(info.status),
        start_time=info.start_time,
        end_time=info.end_time,
        tags=dict(run.data.tags),
        params=dict(run.data.params),
        metrics={k: float(v) for k, v in run.data.metrics.items()},
    )


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


class ClientReader:
    """:class:`StoreReader` through ``MlflowClient`` (tracking servers, and
    SQLite stores the direct reader does not know).  Loads every parent run
    to index them; cases only of the parents asked for."""

    def __init__(self, tracking_uri: str, experiment_name: str) -> None:
        self.uri = tracking_uri
        self.runs_read = 0
        self._client = _client(tracking_uri)
        self.experiment_id = _experiment_id(self._client, experiment_name)
        self._loaded: dict[str, RunRow] = {}

    def close(self) -> None:
        """Nothing to release (MLflow keeps its own connections)."""

    def _search(self, filter_string: str) -> list[RunRow]:
        if self.experiment_id is None:
            return []
        runs = search_all_runs(
            self._client, self.experiment_id, filter_string, ["attributes.start_time ASC"]
        )
        self.runs_read += len(runs)
        return [row_of(run) for run in runs]

    def parent_index(self, hypothesis: str | None = None) -> list[ParentEntry]:
        """Every parent run (of ``hypothesis``), oldest first."""
        query = f"tags.`grd.role` = '{ROLE_PARENT}'"
        if hypothesis is not None:
            query += f" and tags.`grd.hypothesis` = '{_quoted(hypothesis)}'"
        entries = []
        for row in self._search(query):
            self._loaded[row.run_id] = row
            tags = row.tags
            entries.append(
                ParentEntry(
                    run_id=row.run_id,
                    start_time=row.start_time or 0,
                    status=row.status,
                    hypothesis=tags.get("grd.hypothesis", ""),
                    session_id=tags.get("grd.session_id", ""),
                    verdict=tags.get("grd.verdict", ""),
                    commit=tags.get("mlflow.source.git.commit", ""),
                    n_cases=row.metrics.get("grd.n_cases"),
                )
            )
        entries.sort(key=lambda e: (e.start_time, e.run_id))
        return entries

    def runs(self, run_ids: Sequence[str]) -> list[RunRow]:
        """The runs ``run_ids``, from the index when it loaded them."""
        out = []
        for run_id in run_ids:
            row = self._loaded.get(run_id)
            if row is None:
                row = row_of(self._client.get_run(run_id))
                self.runs_read += 1
            out.append(row)
        return out

    def case_runs(self, parent_ids: Sequence[str]) -> list[RunRow]:
        """The child runs of each parent, by start time."""
        rows: list[RunRow] = []
        for parent in dict.fromkeys(parent_ids):
            rows += self._search(f"tags.`mlflow.parentRunId` = '{_quoted(parent)}'")
        return sorted(rows, key=lambda r: (r.start_time or 0, r.run_id))

    def case_metrics(self, parent_ids: Sequence[str]) -> dict[str, dict[str, MetricSummary]]:
        """Per parent, per metric, over its child runs."""
        values: dict[str, dict[str, list[float]]] = {}
        for row in self.case_runs(parent_ids):
            per = values.setdefault(row.tags.get("mlflow.parentRunId", ""), {})
            for key, value in row.metrics.items():
                if math.isfinite(value):
                    per.setdefault(key, []).append(value)
        return {
            parent: {k: MetricSummary.of(v) for k, v in per.items()}
            for parent, per in values.items()
        }


def _rebuild(row: RunRow) -> CaseRecord:
    """A record from a run's params, metrics and tags (no ``grd.record``)."""
    tags = row.tags
    params: dict[str, Any] = dict(row.params)
    seed_text = params.pop("seed", None)
    start = row.start_time or 0
    record = CaseRecord(
        hypothesis=tags.get("grd.hypothesis", ""),
        nodeid=tags.get("grd.nodeid", ""),
        name=tags.get("grd.name") or tags.get("mlflow.runName", ""),
        claim=tags.get("grd.claim", ""),
        kind=tags.get("grd.kind", "function"),
        params=params,
        seed=int(seed_text) if seed_text and seed_text.lstrip("-").isdigit() else None,
        verdict=Verdict(tags.get("grd.verdict", "INCONCLUSIVE")),
        reason=tags.get("grd.reason", "no verdict recorded (the run never finished)"),
        metrics=dict(row.metrics),
        started_at=start / 1000.0,
        duration=((row.end_time or start) - start) / 1000.0,
        worker=None if tags.get("grd.worker") in (None, "main") else tags.get("grd.worker"),
        session_id=tags.get("grd.session_id"),
        scale=tags.get("grd.scale", "full"),
    )
    lineage = tags.get("grd.lineage")
    if lineage:
        with contextlib.suppress(ValueError):
            record.lineage = list(json.loads(lineage))
    record.is_error = row.status == "FAILED"
    record.extra["rebuilt_from_store"] = True
    return record


def record_from_row(row: RunRow, tracking_uri: str) -> CaseRecord:
    """The case record a run carries (rebuilt when it carries none)."""
    tags = row.tags
    data = record_from_tags(tags)
    record = CaseRecord.from_dict(data) if data is not None else _rebuild(row)
    # The tags written last win: a crashed case's verdict is set by the
    # controller after the worker's record was stored.
    if tags.get("grd.verdict"):
        record.verdict = Verdict(tags["grd.verdict"])
        record.reason = tags.get("grd.reason", record.reason)
    record.run_id = row.run_id
    record.parent_run_id = tags.get("mlflow.parentRunId", record.parent_run_id)
    record.experiment_id = row.experiment_id
    record.tracking_uri = redact_uri(tracking_uri)
    record.extra["run_status"] = row.status
    return record


def parent_stats(row: RunRow) -> dict[str, Any] | None:
    """The statistics a parent run was closed with (``grd.stats``), or
    ``None``.  A ``grd.stats`` cut at MLflow's tag limit is no longer JSON:
    the numbers are then read from the ``grd.*`` metrics."""
    text = row.tags.get("grd.stats")
    if not text:
        return None
    with contextlib.suppress(ValueError):
        data = json.loads(text)
        if isinstance(data, dict):
            return data
    stats: dict[str, Any] = {
        key: row.metrics[f"grd.{key}"]
        for key in ("p_value", "p_adjusted", "estimate", "statistic")
        if f"grd.{key}" in row.metrics
    }
    if "grd.ci_low" in row.metrics and "grd.ci_high" in row.metrics:
        stats["ci"] = [row.metrics["grd.ci_low"], row.metrics["grd.ci_high"]]
    for key, value in row.tags.items():
        if key.startswith("grd.stats."):
            stats.setdefault(key[len("grd.stats.") :], value)
    return stats or None


def apply_parent(result: HypothesisResult, parent: RunRow) -> None:
    """Give ``result`` the verdict, reason and statistics its parent run was
    closed with (a decision across cases is read back, not recomputed)."""
    tags = parent.tags
    result.parent_run_id = parent.run_id
    if tags.get("grd.verdict"):
        result.verdict = Verdict(tags["grd.verdict"])
        result.reason = tags.get("grd.reason", result.reason)
    stats = parent_stats(parent)
    if stats is not None:
        result.stats = stats


def results_of(reader: StoreReader, parents: Sequence[RunRow]) -> list[HypothesisResult]:
    """The results of ``parents`` (one per hypothesis), with their cases."""
    by_run = {p.run_id: p for p in parents}
    records = [record_from_row(r, reader.uri) for r in reader.case_runs(list(by_run))]
    results = group_by_hypothesis(records)
    for result in results:
        parent = by_run.get(result.cases[0].parent_run_id or "") if result.cases else None
        if parent is not None:
            apply_parent(result, parent)
    return results


def latest_entries(index: Iterable[ParentEntry]) -> dict[str, ParentEntry]:
    """Per hypothesis, its parent run in the latest session that ran it."""
    latest: dict[str, ParentEntry] = {}
    for entry in index:  # oldest first: later sessions overwrite
        if entry.ran_cases:
            latest[entry.hypothesis] = entry
    return latest


# -- whole sessions, through MLflow (kept for callers that want MLflow's view) --


def sessions_in_store(tracking_uri: str, experiment_name: str) -> list[str]:
    """Session ids of the experiment, newest first."""
    reader = ClientReader(tracking_uri, experiment_name)
    seen = {e.session_id: None for e in reversed(reader.parent_index()) if e.session_id}
    return list(seen)


def records_from_store(
    tracking_uri: str,
    experiment_name: str,
    session_id: str | None = None,
    *,
    all_sessions: bool = False,
) -> list[CaseRecord]:
    """The case records of one session of ``experiment_name``: ``session_id``,
    else the latest session; every session with ``all_sessions=True``.
    Sorted by session start, then node id.  ``[]`` when the experiment does
    not exist."""
    client = _client(tracking_uri)
    experiment_id = _experiment_id(client, experiment_name)
    if experiment_id is None:
        return []
    query = f"tags.`grd.role` = '{ROLE_CASE}'"
    if not all_sessions:
        if session_id is None:
            page = client.search_runs(
                [experiment_id], query, max_results=1, order_by=["attributes.start_time DESC"]
            )
            session_id = next((str(r.data.tags.get("grd.session_id") or "") for r in page), "")
            if not session_id:
                return []
        query += f" and tags.`grd.session_id` = '{_quoted(session_id)}'"
    runs = search_all_runs(client, experiment_id, query, ["attributes.start_time ASC"])
    records = [record_from_row(row_of(run), tracking_uri) for run in runs]
    first_start: dict[str, float] = {}
    for record in records:
        key = record.session_id or ""
        first_start[key] = min(first_start.get(key, record.started_at), record.started_at)
    records.sort(key=lambda r: (first_start[r.session_id or ""], r.session_id or "", r.nodeid))
    return records


def results_from_store(
    tracking_uri: str, experiment_name: str, session_id: str | None = None
) -> list[HypothesisResult]:
    """The hypotheses of one session (latest by default) with the verdict,
    reason and statistics their parent runs were closed with."""
    records = records_from_store(tracking_uri, experiment_name, session_id)
    results = group_by_hypothesis(records)
    if not records:
        return results
    reader = ClientReader(tracking_uri, experiment_name)
    session = records[0].session_id
    wanted = [e.run_id for e in reader.parent_index() if e.session_id == session]
    parents = {p.tags.get("grd.hypothesis"): p for p in reader.runs(wanted)}
    for result in results:
        parent = parents.get(result.id)
        if parent is not None:
            apply_parent(result, parent)
    return results
