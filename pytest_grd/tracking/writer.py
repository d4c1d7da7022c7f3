"""One case's run as the test writes to it: a buffer, flushed in batches.

:class:`CaseRunWriter` is what :class:`~pytest_grd.tracking.run.GrdRun` sends
to when tracking is on; every problem it meets becomes a note on the case's
record (:meth:`TrackingStore.note`), never an error in the test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..record import CaseRecord
from .run import MetricPoint

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from .store import TrackingStore

__all__ = ["METRICS_PER_BATCH", "PARAMS_TAGS_PER_BATCH", "CaseRunWriter"]

#: MLflow's per-call limits of ``log_batch``.
METRICS_PER_BATCH = 1000
PARAMS_TAGS_PER_BATCH = 100


class CaseRunWriter:
    """The MLflow side of one case's :class:`~pytest_grd.tracking.run.GrdRun`:
    its buffer and where the buffer goes."""

    def __init__(self, store: TrackingStore, record: CaseRecord) -> None:
        self.store = store
        self.record = record
        self.run_id: str = record.run_id or ""
        self.metrics: list[MetricPoint] = []
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}

    @property
    def client(self) -> MlflowClient:
        return self.store.client

    @property
    def mlflow(self) -> Any:
        import mlflow  # loaded already: the store imported it

        return mlflow

    def full(self) -> bool:
        """Worth sending now: one more entry would exceed a batch."""
        return (
            len(self.metrics) >= METRICS_PER_BATCH
            or len(self.params) >= PARAMS_TAGS_PER_BATCH
            or len(self.tags) >= PARAMS_TAGS_PER_BATCH
        )

    def flush(self) -> None:
        """Send the buffer; a problem goes into the record, not the test."""
        if not (self.metrics or self.params or self.tags):
            return
        metrics, params, tags = self.metrics, self.params, self.tags
        self.metrics, self.params, self.tags = [], {}, {}
        self.store.note(self.record, self.store.write(self.run_id, metrics, params, tags))

    def log_artifact(self, local_path: str, artifact_path: str | None) -> None:
        """Upload one file now."""
        self.store.note(
            self.record, self.store.log_artifact(self.run_id, local_path, artifact_path)
        )

    def log_artifacts(self, local_dir: str, artifact_path: str | None) -> None:
        """Upload a directory now."""
        self.store.note(
            self.record, self.store.log_artifacts(self.run_id, local_dir, artifact_path)
        )
