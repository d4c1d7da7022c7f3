"""``grd_run``: the case's run, as the test sees it.

Without tracking (``--grd-no-tracking``) it still records metrics, params,
tags and artifact names into the case's record; with tracking, the tracking
plugin gives it a writer (:class:`pytest_grd.tracking.store.CaseRunWriter`)
and what the test logs is buffered and sent in ``log_batch`` calls.

No mlflow import here: other concerns (notebooks) import this module to log
artifacts, in sessions that may not track at all.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from ..case import Case
from .tags import check_key, param_value

__all__ = ["GrdRun", "MetricPoint", "RunWriter", "run_for_case"]

#: ``(key, value, timestamp_ms, step)``, what ``log_batch`` needs of a metric.
MetricPoint = tuple[str, float, int, int]


class RunWriter(Protocol):
    """Where a tracked :class:`GrdRun` sends its buffer (the MLflow side)."""

    run_id: str
    metrics: list[MetricPoint]
    params: dict[str, str]
    tags: dict[str, str]

    @property
    def client(self) -> Any: ...

    @property
    def mlflow(self) -> Any: ...

    def full(self) -> bool: ...

    def flush(self) -> None: ...

    def log_artifact(self, local_path: str, artifact_path: str | None) -> None: ...

    def log_artifacts(self, local_dir: str, artifact_path: str | None) -> None: ...


class GrdRun:
    """The MLflow run of the current case.

    ``log_param(s)``, ``log_metric(s)`` (with ``step``) and ``set_tag(s)`` are
    buffered and written in batches (at the end of the case, or as soon as a
    batch is full); ``log_artifact(s)`` uploads at once, because the file may
    be gone by the end of the case.  Metrics also land in the case's record,
    artifact names in ``record.artifacts``, with or without tracking.
    """

    def __init__(self, case: Case, writer: RunWriter | None = None) -> None:
        self._case = case
        self._writer = writer

    def attach(self, writer: RunWriter) -> None:
        """Used by the tracking plugin when it opens the case's MLflow run."""
        self._writer = writer

    @property
    def tracking(self) -> bool:
        """Whether this run is logged to MLflow."""
        return self._writer is not None

    @property
    def run_id(self) -> str | None:
        """The MLflow run id (``None`` without tracking)."""
        return self._case.record.run_id

    @property
    def client(self) -> Any:
        """An ``mlflow.MlflowClient`` for the run's store (``None`` without
        tracking); call :meth:`flush` first to read back what was logged."""
        return self._writer.client if self._writer is not None else None

    @property
    def mlflow(self) -> Any:
        """The ``mlflow`` module (imported on first use)."""
        if self._writer is not None:
            return self._writer.mlflow
        import mlflow

        return mlflow

    @property
    def run(self) -> Any:
        """The ``mlflow.entities.Run`` as stored now (flushes first); ``None``
        without tracking."""
        if self._writer is None or self.run_id is None:
            return None
        self.flush()
        return self._writer.client.get_run(self.run_id)

    # -- metrics -------------------------------------------------------------

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Log one metric value; ``step`` defaults to the number of values
        already logged under ``key``."""
        check_key("metric", key)
        self._case.log_metric(key, value, step)
        if self._writer is not None:
            used_step, number = self._case.history[key][-1]
            stamp = timestamp if timestamp is not None else int(time.time() * 1000)
            self._writer.metrics.append((key, number, stamp, used_step))
            self._maybe_flush()

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log several metrics at the same step."""
        stamp = int(time.time() * 1000)
        for key, value in metrics.items():
            self.log_metric(key, value, step, stamp)

    # -- params and tags -----------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        """Log a parameter; logging a key again with another value is an error
        (as in MLflow), with the same value a no-op."""
        check_key("param", key)
        params = self._case.record.params
        if key in params and param_value(params[key]) != param_value(value):
            raise ValueError(
                f"param {key!r} already logged as {params[key]!r}; cannot change it to {value!r}"
            )
        params.setdefault(key, value)
        if self._writer is not None:
            self._writer.params[key] = param_value(value)
            self._maybe_flush()

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log several parameters."""
        for key, value in params.items():
            self.log_param(key, value)

    def set_tag(self, key: str, value: Any) -> None:
        """Set a run tag (kept in ``record.extra["tags"]`` too)."""
        check_key("tag", key)
        text = value if isinstance(value, str) else param_value(value)
        self._case.record.extra.setdefault("tags", {})[key] = text
        if self._writer is not None:
            self._writer.tags[key] = text[:8000]
            self._maybe_flush()

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several run tags."""
        for key, value in tags.items():
            self.set_tag(key, value)

    # -- artifacts -----------------------------------------------------------

    def log_artifact(
        self, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload a file to the run (under ``artifact_path``) and name it in
        ``record.artifacts``."""
        path = Path(local_path)
        if not path.is_file():
            raise FileNotFoundError(f"log_artifact: no such file: {path}")
        self._note_artifact(path.name, artifact_path)
        if self._writer is not None:
            self._writer.log_artifact(str(path), artifact_path)

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload every file under a directory, keeping its layout."""
        root = Path(local_dir)
        if not root.is_dir():
            raise NotADirectoryError(f"log_artifacts: no such directory: {root}")
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            self._note_artifact(file.relative_to(root).as_posix(), artifact_path)
        if self._writer is not None:
            self._writer.log_artifacts(str(root), artifact_path)

    def _note_artifact(self, name: str, artifact_path: str | None) -> None:
        full = f"{artifact_path.strip('/')}/{name}" if artifact_path else name
        if full not in self._case.record.artifacts:
            self._case.record.artifacts.append(full)

    # -- buffer --------------------------------------------------------------

    def flush(self) -> None:
        """Send what is buffered now (the plugin also does at the end of the case)."""
        if self._writer is not None:
            self._writer.flush()

    def _maybe_flush(self) -> None:
        if self._writer is not None and self._writer.full():
            self._writer.flush()


def run_for_case(case: Case) -> GrdRun:
    """The :class:`GrdRun` of ``case``: the tracked one the tracking plugin
    attached, or one that records into the case only (created once, so every
    caller shares the same artifact list)."""
    run = case.run
    if isinstance(run, GrdRun):
        return run
    run = GrdRun(case)
    case.run = run
    return run
