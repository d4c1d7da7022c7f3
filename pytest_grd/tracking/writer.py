"""One case's run as the test writes to it: a buffer, appended to the journal.

:class:`CaseRunWriter` is what :class:`~pytest_grd.tracking.run.GrdRun` sends
to when tracking is on.  Nothing here talks to MLflow: params, metrics and
tags go to the process's journal (:mod:`.journal`) when the buffer is full
and at the end of the case, artifacts are copied into it at once.  When the
test reaches for the live MLflow objects (``grd_run.client``,
``grd_run.mlflow``, ``grd_run.run``), or its process has imported MLflow
itself, the case's run is made in the store now (:mod:`.live`), MLflow's own
API logs into it, and the journal still carries everything grd logged.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..record import CaseRecord
from .journal import Journal, now_ms
from .run import MetricPoint

if TYPE_CHECKING:
    from .live import LiveRun

__all__ = ["METRICS_PER_BATCH", "PARAMS_TAGS_PER_BATCH", "CaseRunWriter", "RunTarget"]

#: MLflow's per-call limits of ``log_batch``.
METRICS_PER_BATCH = 1000
PARAMS_TAGS_PER_BATCH = 100
#: A buffer older than this is journaled at the next call.
FLUSH_EVERY_S = 2.0


class RunTarget:
    """Where a case's run goes: the journal, and the store facts needed to
    make the run live on demand (shared by the cases of one process)."""

    def __init__(
        self,
        journal: Journal,
        uri: str,
        experiment: str,
        session_id: str,
        timeout: float,
    ) -> None:
        self.journal = journal
        self.uri = uri
        self.experiment = experiment
        self.session_id = session_id
        self.timeout = timeout


class CaseRunWriter:
    """The journal side of one case's :class:`~pytest_grd.tracking.run.GrdRun`."""

    def __init__(
        self, target: RunTarget, record: CaseRecord, key: str, open_entry: dict[str, Any]
    ) -> None:
        self.target = target
        self.record = record
        self.key = key
        self.open_entry = open_entry
        self.run_id: str = ""
        self.metrics: list[MetricPoint] = []
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.live: LiveRun | None = None
        self._flushed = time.monotonic()
        target.journal.append(open_entry)

    # -- live MLflow -----------------------------------------------------------

    def bind(self) -> LiveRun:
        """Make the case's run in the store now, active for MLflow's own API."""
        if self.live is None:
            from .live import LiveRun

            self.live = LiveRun.start(self)
            self.run_id = self.live.run_id
        return self.live

    @property
    def client(self) -> Any:
        return self.bind().client

    @property
    def mlflow(self) -> Any:
        self.bind()
        import mlflow

        return mlflow

    # -- buffer ------------------------------------------------------------------

    def full(self) -> bool:
        """Worth writing now: one more entry would exceed a batch, or what is
        buffered is older than :data:`FLUSH_EVERY_S` (a long training case
        killed by the OOM killer keeps its curve up to then)."""
        if (self.metrics or self.params or self.tags) and (
            time.monotonic() - self._flushed > FLUSH_EVERY_S
        ):
            return True
        return (
            len(self.metrics) >= METRICS_PER_BATCH
            or len(self.params) >= PARAMS_TAGS_PER_BATCH
            or len(self.tags) >= PARAMS_TAGS_PER_BATCH
        )

    def _take(self) -> dict[str, Any]:
        self._flushed = time.monotonic()
        taken = {"metrics": self.metrics, "params": self.params, "tags": self.tags}
        self.metrics, self.params, self.tags = [], {}, {}
        return taken

    def flush(self) -> None:
        """Journal the buffer (and, for a live run, send it to the store)."""
        if not (self.metrics or self.params or self.tags):
            return
        taken = self._take()
        self.target.journal.append({"op": "log", "key": self.key, **taken})
        if self.live is not None:
            self.live.send(taken["metrics"], taken["params"], taken["tags"])

    def log_artifact(self, local_path: str, artifact_path: str | None) -> None:
        """Copy one file into the journal now (the store takes it from there)."""
        self._artifact(Path(local_path), artifact_path, is_dir=False)

    def log_artifacts(self, local_dir: str, artifact_path: str | None) -> None:
        """Copy a folder's files into the journal now."""
        self._artifact(Path(local_dir), artifact_path, is_dir=True)

    def _artifact(self, local: Path, artifact_path: str | None, is_dir: bool) -> None:
        journal = self.target.journal
        copy = journal.keep_artifact(self.key, local, artifact_path)
        journal.append(
            {
                "op": "artifact",
                "key": self.key,
                "file": copy,
                "path": artifact_path,
                "dir": is_dir,
            }
        )
        if self.live is not None:
            self.live.upload(local, artifact_path, is_dir)

    def close(self, status: str, tags: dict[str, str]) -> None:
        """The case is decided: journal the rest, its verdict and its record
        (fsync'd), end a live run."""
        self.tags.update(tags)
        taken = self._take()
        record = self.record
        entry = {
            "op": "close",
            "key": self.key,
            "status": status,
            "end": now_ms(),
            "hyp": record.hypothesis,
            "name": record.name,
            **taken,
            "record": record.to_dict(),
            "lineage": record.lineage,
        }
        self.target.journal.append(entry, sync=True)
        if self.live is not None:
            self.live.end(taken, status)
