"""Reading a SQLite tracking store with the standard library alone.

MLflow's client costs 2-3 s before the first row (``import mlflow``, then
SQLAlchemy and alembic's schema check) and loads each run as ORM objects with
every tag, param and metric.  ``grd`` only reads, and only a few runs: the
latest parent run of each hypothesis and that session's cases.  A read-only
connection (``mode=ro``) to MLflow's tables does that in milliseconds and can
never change the store.  The tables and columns read here (``experiments``,
``runs``, ``tags``, ``params``, ``latest_metrics``) have kept their names and
meaning across MLflow's schema history; anything unexpected raises
:class:`StoreLayoutError` and the caller reads through MLflow instead
(:func:`pytest_grd.tracking.query.open_reader`).

Pure logic: no mlflow, no pytest import.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from .query import MetricSummary, ParentEntry, RunRow

__all__ = ["SqliteReader", "StoreLayoutError"]

#: Host parameters per statement: SQLite builds before 3.32 allow 999.
_CHUNK = 500

#: What must exist for the reads below to mean what they say.
_NEEDED = {
    "experiments": {"experiment_id", "name", "lifecycle_stage"},
    "runs": {"run_uuid", "status", "start_time", "end_time", "lifecycle_stage", "experiment_id"},
    "tags": {"key", "value", "run_uuid"},
    "params": {"key", "value", "run_uuid"},
    "latest_metrics": {"key", "value", "is_nan", "run_uuid"},
}

#: One row per parent run: the tags that place it (hypothesis, session,
#: verdict, commit) and whether it ran any case (``grd.n_cases``).
_PARENT_INDEX = """
SELECT r.run_uuid, r.start_time, r.status, h.value, s.value, v.value, c.value, n.value
FROM tags role
JOIN runs r ON r.run_uuid = role.run_uuid
JOIN tags h ON h.run_uuid = r.run_uuid AND h.key = 'grd.hypothesis'
LEFT JOIN tags s ON s.run_uuid = r.run_uuid AND s.key = 'grd.session_id'
LEFT JOIN tags v ON v.run_uuid = r.run_uuid AND v.key = 'grd.verdict'
LEFT JOIN tags c ON c.run_uuid = r.run_uuid AND c.key = 'mlflow.source.git.commit'
LEFT JOIN latest_metrics n ON n.run_uuid = r.run_uuid AND n.key = 'grd.n_cases'
WHERE role.key = 'grd.role' AND role.value = 'parent'
  AND r.experiment_id = ? AND r.lifecycle_stage = 'active'
"""

_CHILDREN = """
SELECT r.run_uuid, r.status, r.start_time, r.end_time, r.experiment_id, p.value
FROM tags p JOIN runs r ON r.run_uuid = p.run_uuid
WHERE p.key = 'mlflow.parentRunId' AND p.value IN ({marks}) AND r.lifecycle_stage = 'active'
"""

_CHILD_TAGS = """
SELECT t.run_uuid, t.key, t.value
FROM tags p JOIN tags t ON t.run_uuid = p.run_uuid
WHERE p.key = 'mlflow.parentRunId' AND p.value IN ({marks})
"""

_CHILD_METRICS = """
SELECT p.value, m.key, m.value
FROM tags p JOIN latest_metrics m ON m.run_uuid = p.run_uuid
JOIN runs r ON r.run_uuid = p.run_uuid
WHERE p.key = 'mlflow.parentRunId' AND p.value IN ({marks})
  AND m.is_nan = 0 AND r.lifecycle_stage = 'active'
"""


class StoreLayoutError(RuntimeError):
    """The database is not an MLflow store this module can read (an unknown
    schema, WAL without shared memory, not SQLite at all)."""


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class SqliteReader:
    """Read-only access to one experiment of an MLflow SQLite store.

    ``runs_read`` counts the runs whose tags (and, where needed, params and
    metrics) were loaded: what ``grd`` pays per run.  The parent index and
    the metric aggregates read a few columns of rows SQLite finds by index,
    and are not counted.
    """

    def __init__(self, db: Path, experiment_name: str, uri: str = "") -> None:
        self.uri = uri or f"sqlite:///{db}"
        self.runs_read = 0
        try:
            self._conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=20)
        except sqlite3.Error as exc:
            raise StoreLayoutError(str(exc)) from None
        try:
            self._check_layout()
            self.experiment_id = self._experiment_id(experiment_name)
        except sqlite3.Error as exc:
            self._conn.close()
            raise StoreLayoutError(str(exc)) from None
        except StoreLayoutError:
            self._conn.close()
            raise

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def _check_layout(self) -> None:
        for table, columns in _NEEDED.items():
            found = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            missing = columns - found
            if missing:
                raise StoreLayoutError(f"table {table} lacks {', '.join(sorted(missing))}")

    def _experiment_id(self, name: str) -> str | None:
        rows = self._conn.execute(
            "SELECT experiment_id, lifecycle_stage FROM experiments WHERE name = ?", (name,)
        ).fetchall()
        active = [row for row in rows if row[1] != "deleted"]
        if len(active) > 1:  # one name in several workspaces: MLflow knows which
            raise StoreLayoutError(f"experiment {name!r} exists {len(active)} times")
        return str(active[0][0]) if active else None

    def parent_index(self, hypothesis: str | None = None) -> list[ParentEntry]:
        """Every parent run of the experiment (of ``hypothesis`` when given),
        oldest first."""
        if self.experiment_id is None:
            return []
        query, args = _PARENT_INDEX, [self.experiment_id]
        if hypothesis is not None:
            query += " AND h.value = ?"
            args.append(hypothesis)
        query += " ORDER BY r.start_time, r.run_uuid"
        return [
            ParentEntry(
                run_id=run_id,
                start_time=int(start or 0),
                status=str(status or ""),
                hypothesis=str(hyp),
                session_id=str(session or ""),
                verdict=str(verdict or ""),
                commit=str(commit or ""),
                n_cases=None if n_cases is None else float(n_cases),
            )
            for run_id, start, status, hyp, session, verdict, commit, n_cases in (
                self._conn.execute(query, args)
            )
        ]

    def runs(self, run_ids: Sequence[str]) -> list[RunRow]:
        """The runs ``run_ids`` (parents), with tags and metrics, in that order."""
        rows: dict[str, RunRow] = {}
        for chunk in _chunks(list(run_ids)):
            for run_id, status, start, end, experiment in self._conn.execute(
                "SELECT run_uuid, status, start_time, end_time, experiment_id FROM runs "
                f"WHERE run_uuid IN ({_marks(len(chunk))})",
                list(chunk),
            ):
                rows[run_id] = RunRow(run_id, str(experiment), str(status), start, end)
        self._fill(rows, tags=True, params=False, metrics=True)
        self.runs_read += len(rows)
        return [rows[r] for r in run_ids if r in rows]

    def case_runs(self, parent_ids: Sequence[str]) -> list[RunRow]:
        """Every active child run of ``parent_ids``, with its tags (params and
        metrics too for a run that carries no record), by start time."""
        rows: dict[str, RunRow] = {}
        for chunk in _chunks(list(dict.fromkeys(parent_ids))):
            marks = _marks(len(chunk))
            for run_id, status, start, end, experiment, parent in self._conn.execute(
                _CHILDREN.format(marks=marks), list(chunk)
            ):
                rows[run_id] = RunRow(run_id, str(experiment), str(status), start, end)
                rows[run_id].tags["mlflow.parentRunId"] = parent
            for run_id, key, value in self._conn.execute(
                _CHILD_TAGS.format(marks=marks), list(chunk)
            ):
                row = rows.get(run_id)
                if row is not None:
                    row.tags[key] = value
        bare = {k: r for k, r in rows.items() if not r.has_record}
        self._fill(bare, tags=False, params=True, metrics=True)
        self.runs_read += len(rows)
        return sorted(rows.values(), key=lambda r: (r.start_time or 0, r.run_id))

    def _fill(self, rows: dict[str, RunRow], *, tags: bool, params: bool, metrics: bool) -> None:
        tables = [("tags", tags), ("params", params), ("latest_metrics", metrics)]
        for chunk in _chunks(list(rows)):
            marks = _marks(len(chunk))
            for table, wanted in tables:
                if not wanted:
                    continue
                nan = " AND is_nan = 0" if table == "latest_metrics" else ""
                for run_id, key, value in self._conn.execute(
                    f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({marks}){nan}",
                    list(chunk),
                ):
                    row = rows[run_id]
                    if table == "tags":
                        row.tags[key] = value
                    elif table == "params":
                        row.params[key] = value
                    else:
                        row.metrics[key] = float(value)

    def case_metrics(self, parent_ids: Sequence[str]) -> dict[str, dict[str, MetricSummary]]:
        """Per parent run, per metric: the count, mean, spread and range of
        the last value each child run logged (three columns per value; no
        run is loaded)."""
        values: dict[str, dict[str, list[float]]] = {}
        for chunk in _chunks(list(dict.fromkeys(parent_ids))):
            for parent, key, value in self._conn.execute(
                _CHILD_METRICS.format(marks=_marks(len(chunk))), list(chunk)
            ):
                values.setdefault(parent, {}).setdefault(key, []).append(float(value))
        return {
            parent: {k: MetricSummary.of(v) for k, v in per.items()}
            for parent, per in values.items()
        }
