"""The tracking store as ``grd`` reads it.

Which verdict is a hypothesis's latest is decided from the parent runs alone
(one per hypothesis per session; :meth:`ProjectStore.index`); then only the
runs of the sessions asked for are loaded: the cost of ``grd status``,
``report`` and ``commit`` does not grow with the number of sessions stored.
A claim's history (``grd history``, ``grd diff``) is read from its parent runs
and the metrics of its cases, aggregated where the store can (SQLite).

Pure logic apart from the store: no pytest import; mlflow only when the store
is not a SQLite file (:func:`pytest_grd.tracking.query.open_reader`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..record import HypothesisResult
from ..tracking.query import (
    MetricSummary,
    ParentEntry,
    RunRow,
    StoreReader,
    latest_entries,
    open_reader,
    parent_stats,
    results_of,
)
from ..tracking.settings import redact_uri, sqlite_path
from .effects import case_metrics
from .project import CliError, Project

__all__ = ["SESSION_META_TAG", "ProjectStore", "SessionVerdict", "session_header"]

#: The session's report header (``collect_meta``) as JSON, on its parent runs.
SESSION_META_TAG = "grd.session_meta"


def _store_error(uri: str, exc: BaseException) -> CliError:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return CliError(f"cannot read the tracking store {redact_uri(uri)}: {first}")


def _counts(text: str | None) -> dict[str, int]:
    if not text:
        return {}
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return {str(k): int(v) for k, v in json.loads(text).items()}
    return {}


@dataclass
class SessionVerdict:
    """One hypothesis in one session: the verdict its parent run was closed
    with, the statistics, and its cases' metrics (mean over cases)."""

    hypothesis: str
    claim: str
    verdict: str
    reason: str
    session_id: str
    run_id: str
    started: float
    commit: str = ""
    dirty: bool | None = None
    counts: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Any] | None = None
    metrics: dict[str, MetricSummary] = field(default_factory=dict)
    status: str = "FINISHED"

    @classmethod
    def from_parent(cls, row: RunRow, metrics: dict[str, MetricSummary]) -> SessionVerdict:
        """From a parent run and its cases' metric summaries."""
        tags = row.tags
        dirty = tags.get("mlflow.source.git.dirty")
        return cls(
            hypothesis=tags.get("grd.hypothesis", ""),
            claim=tags.get("grd.claim", ""),
            # A session still running has no verdict yet.
            verdict=tags.get("grd.verdict", "RUNNING" if row.status == "RUNNING" else "?"),
            reason=tags.get("grd.reason", ""),
            session_id=tags.get("grd.session_id", ""),
            run_id=row.run_id,
            started=(row.start_time or 0) / 1000.0,
            commit=tags.get("mlflow.source.git.commit", ""),
            dirty=None if dirty is None else dirty == "true",
            counts=_counts(tags.get("grd.counts")),
            stats=parent_stats(row),
            metrics=metrics,
            status=row.status,
        )

    @classmethod
    def from_result(cls, result: HypothesisResult, meta: dict[str, Any]) -> SessionVerdict:
        """From a hypothesis of a ``report.json`` (its header gives session
        and commit; the metrics are its cases')."""
        git = meta.get("git") or {}
        started = min((c.started_at for c in result.cases if c.started_at), default=0.0)
        return cls(
            hypothesis=result.id,
            claim=result.claim,
            verdict=str(result.verdict),
            reason=result.reason,
            session_id=str(meta.get("session_id") or ""),
            run_id=result.parent_run_id or "",
            started=started,
            commit=str(git.get("commit") or ""),
            dirty=git.get("dirty"),
            counts=result.counts,
            stats=result.stats,
            metrics=case_metrics(result.evidence),
        )

    @property
    def n_cases(self) -> int:
        """Cases that ran (sequential seeds not needed are not counted)."""
        return sum(n for k, n in self.counts.items() if k != "NOT NEEDED")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (``--json``)."""
        return {
            "hypothesis": self.hypothesis,
            "verdict": self.verdict,
            "reason": self.reason,
            "session_id": self.session_id,
            "parent_run_id": self.run_id,
            "started": _iso(self.started),
            "commit": self.commit,
            "dirty": self.dirty,
            "counts": self.counts,
            "stats": self.stats,
            "metrics": {k: m.to_dict() for k, m in sorted(self.metrics.items())},
        }


def _iso(seconds: float) -> str:
    if not seconds:
        return ""
    moment = _dt.datetime.fromtimestamp(seconds, _dt.UTC)
    return moment.isoformat(timespec="seconds")


def session_header(parent: RunRow, root: Path) -> dict[str, Any]:
    """A report header for the session of ``parent``: the one the session
    stored (tag ``grd.session_meta``) when there is one, else what its run
    tags say (git state, Python, platform, scale, start time)."""
    tags = parent.tags
    dirty = tags.get("mlflow.source.git.dirty")
    meta: dict[str, Any] = {
        "date": _iso((parent.start_time or 0) / 1000.0),
        "command": "pytest (command not recorded)",
        "rootdir": str(root),
        "git": {
            "commit": tags.get("mlflow.source.git.commit"),
            "dirty": None if dirty is None else dirty == "true",
            "branch": tags.get("mlflow.source.git.branch"),
        },
        "machine": {
            "host": None,
            "platform": tags.get("grd.platform"),
            "python": tags.get("grd.python"),
        },
        "devices": [],
        "packages": {},
        "scale": tags.get("grd.scale", "full"),
        "session_id": tags.get("grd.session_id", ""),
        "extra": {},
    }
    stored: Any = None
    with contextlib.suppress(ValueError):
        stored = json.loads(tags.get(SESSION_META_TAG) or "null")
    if isinstance(stored, dict):
        meta.update({k: v for k, v in stored.items() if v not in (None, "", {}, [])})
        meta["rootdir"] = str(root)  # where the files are read now
    else:
        meta["extra"]["provenance"] = (
            "from the session's run tags; its command, host and package versions were "
            f"not stored (no {SESSION_META_TAG} tag)"
        )
    return meta


class ProjectStore:
    """The project's tracking store, opened for reading (a context manager)."""

    def __init__(self, project: Project, tracking_uri: str | None = None) -> None:
        self.project = project
        self.uri = project.tracking_uri(tracking_uri)
        db = sqlite_path(self.uri)
        if db is not None and not db.is_file():
            raise CliError(
                f"no tracking store at {db}: run your hypotheses first "
                "(pytest), or pass --from grd-report/report.json"
            )
        try:
            self.reader: StoreReader = open_reader(self.uri, project.experiment)
        except ImportError as exc:
            raise CliError(f"cannot read the tracking store: {exc}") from None
        except Exception as exc:  # MLflow raises many types; one line is what the user needs
            raise _store_error(self.uri, exc) from None
        self._index: list[ParentEntry] | None = None

    def __enter__(self) -> ProjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reader.close()

    @property
    def source(self) -> str:
        """The store's URI as shown to the user (no credentials)."""
        return redact_uri(self.uri)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except CliError:
            raise
        except Exception as exc:  # as in __init__
            raise _store_error(self.uri, exc) from None

    def index(self) -> list[ParentEntry]:
        """Every parent run of the experiment, oldest first (read once)."""
        if self._index is None:
            with self._reading():
                self._index = self.reader.parent_index()
        return self._index

    def history(self, hypothesis: str) -> list[ParentEntry]:
        """The parent runs of one hypothesis, oldest first."""
        if self._index is not None:
            return [e for e in self._index if e.hypothesis == hypothesis]
        with self._reading():
            return self.reader.parent_index(hypothesis)

    def require(self) -> list[ParentEntry]:
        """:meth:`index`, refusing when nothing was recorded."""
        index = self.index()
        if not index:
            raise CliError(
                f"no recorded hypotheses of experiment {self.project.experiment!r} in "
                f"{self.source}: run your hypotheses first (pytest)"
            )
        return index

    def latest(self, hypothesis: str | None = None) -> dict[str, ParentEntry]:
        """Per hypothesis, its parent run in the latest session that ran it."""
        index = self.history(hypothesis) if hypothesis is not None else self.require()
        return latest_entries(index)

    def results(
        self, entries: Sequence[ParentEntry]
    ) -> tuple[list[HypothesisResult], list[RunRow]]:
        """The results (with their cases) of these parent runs, and the runs."""
        with self._reading():
            parents = self.reader.runs([e.run_id for e in entries])
            return results_of(self.reader, parents), parents

    def verdicts(self, entries: Sequence[ParentEntry]) -> list[SessionVerdict]:
        """What each of these parent runs was closed with, with its cases'
        metric summaries (no case run is loaded from a SQLite store)."""
        ids = [e.run_id for e in entries]
        with self._reading():
            rows = self.reader.runs(ids)
            metrics = self.reader.case_metrics(ids)
        return [SessionVerdict.from_parent(r, metrics.get(r.run_id, {})) for r in rows]
