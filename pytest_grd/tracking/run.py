"""``grd_run``: the case's run, as the test sees it.

Without tracking (``--grd-no-tracking``) it still records metrics, params,
tags and artifact names into the case's record; with tracking, the tracking
plugin gives it a writer (:class:`pytest_grd.tracking.writer.CaseRunWriter`)
and what the test logs is buffered and appended to the session's journal,
which one writer per session sends to MLflow in ``log_batch`` calls.

Every call is checked against MLflow's own rules (``mlflow.utils.validation``)
before anything is buffered, with or without tracking, so that a study
behaves the same offline: a call MLflow would refuse raises
:class:`~pytest_grd.outcomes.TrackingCallError` at the line that made it,
instead of failing a batch at the end of the case.

No mlflow import here: other concerns (notebooks) import this module to log
artifacts, in sessions that may not track at all.
"""

from __future__ import annotations

import numbers
import os
import posixpath
import time
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Protocol

from ..case import Case
from ..outcomes import TrackingCallError
from .tags import MAX_PARAM_VALUE, MAX_TAG_VALUE, name_problem, param_value

__all__ = ["GrdRun", "MetricPoint", "RunWriter", "run_for_case"]

#: ``(key, value, timestamp_ms, step)``, what ``log_batch`` needs of a metric.
MetricPoint = tuple[str, float, int, int]


class RunWriter(Protocol):
    """Where a tracked :class:`GrdRun` sends its buffer (the journal, and
    the store for a live run)."""

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
    artifact names in ``record.artifacts``, with or without tracking.  A call
    MLflow would refuse raises :class:`~pytest_grd.outcomes.TrackingCallError`
    (a missing local file: :class:`FileNotFoundError`) and logs nothing.
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
        """The MLflow run id: ``None`` without tracking, and until the run
        is in the store (the session's writer sends it from the journal;
        :attr:`client`, :attr:`mlflow` and :attr:`run` make it at once)."""
        return self._case.record.run_id

    def live_run_id(self) -> str | None:
        """Make the run in the store now (with tracking) and return its id."""
        if self._writer is None:
            return None
        _ = self._writer.client
        return self._case.record.run_id

    @property
    def client(self) -> Any:
        """An ``mlflow.MlflowClient`` for the run's store (``None`` without
        tracking).  Makes the case's run in the store now, so :attr:`run_id`
        is set; call :meth:`flush` first to read back what was logged."""
        return self._writer.client if self._writer is not None else None

    @property
    def mlflow(self) -> Any:
        """The ``mlflow`` module, with the case's run active (with tracking)."""
        if self._writer is not None:
            return self._writer.mlflow
        import mlflow

        return mlflow

    @property
    def run(self) -> Any:
        """The ``mlflow.entities.Run`` as stored now (flushes first); ``None``
        without tracking."""
        if self._writer is None:
            return None
        client = self._writer.client
        self.flush()
        return client.get_run(self._case.record.run_id)

    # -- metrics -------------------------------------------------------------

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Log one metric value; ``step`` defaults to the number of values
        already logged under ``key``."""
        self._log_metrics("log_metric", {key: value}, step, timestamp)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log several metrics at the same step (all checked before any is logged)."""
        self._log_metrics("log_metrics", metrics, step, None)

    def _log_metrics(
        self, method: str, metrics: Mapping[str, Any], step: Any, timestamp: Any
    ) -> None:
        checked: list[tuple[str, float]] = []
        for key, value in metrics.items():
            call = _call(method, key)
            _check_name(call, key)
            checked.append((key, _metric_value(call, value)))
            _check_step(call, step)
            _check_timestamp(call, timestamp)
        stamp = int(timestamp) if timestamp is not None else int(time.time() * 1000)
        used = int(step) if step is not None else None
        for key, number in checked:
            self._case.log_metric(key, number, used)
            if self._writer is not None:
                used_step, logged = self._case.history[key][-1]
                self._writer.metrics.append((key, logged, stamp, used_step))
        self._maybe_flush()

    # -- params and tags -----------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        """Log a parameter; logging a key again with another value is an error
        (as in MLflow), with the same value a no-op."""
        self._log_params("log_param", {key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log several parameters (all checked before any is logged)."""
        self._log_params("log_params", params)

    def _log_params(self, method: str, params: Mapping[str, Any]) -> None:
        logged = self._case.record.params
        checked: list[tuple[str, Any, str]] = []
        for key, value in params.items():
            call = _call(method, key)
            _check_name(call, key)
            text = param_value(value)
            _check_length(call, text, MAX_PARAM_VALUE)
            if key in logged and param_value(logged[key]) != text:
                raise TrackingCallError(
                    f"{call}: already logged as {_shown(logged[key])}; a param cannot "
                    f"change to {_shown(value)} (log it under another name)"
                )
            checked.append((key, value, text))
        for key, value, text in checked:
            logged.setdefault(key, value)
            if self._writer is not None:
                self._writer.params[key] = text
        self._maybe_flush()

    def set_tag(self, key: str, value: Any) -> None:
        """Set a run tag (kept in ``record.extra["tags"]`` too)."""
        self._set_tags("set_tag", {key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several run tags (all checked before any is set)."""
        self._set_tags("set_tags", tags)

    def _set_tags(self, method: str, tags: Mapping[str, Any]) -> None:
        checked: list[tuple[str, str]] = []
        for key, value in tags.items():
            call = _call(method, key)
            _check_name(call, key)
            text = value if isinstance(value, str) else param_value(value)
            _check_length(call, text, MAX_TAG_VALUE)
            checked.append((key, text))
        kept = self._case.record.extra.setdefault("tags", {})
        for key, text in checked:
            kept[key] = text
            if self._writer is not None:
                self._writer.tags[key] = text
        self._maybe_flush()

    # -- artifacts -----------------------------------------------------------

    def log_artifact(
        self, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload a file to the run (under ``artifact_path``, a folder inside
        the run) and name it in ``record.artifacts``."""
        path = Path(local_path)
        call = _artifact_call("log_artifact", str(local_path), artifact_path)
        _check_artifact_path(call, artifact_path)
        if path.is_dir():
            raise IsADirectoryError(f"{call}: {path} is a directory; use grd_run.log_artifacts")
        if not path.is_file():
            raise FileNotFoundError(f"{call}: no such file: {path}")
        self._note_artifact(path.name, artifact_path)
        if self._writer is not None:
            self._writer.log_artifact(str(path), artifact_path or None)

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload every file under a directory, keeping its layout."""
        root = Path(local_dir)
        call = _artifact_call("log_artifacts", str(local_dir), artifact_path)
        _check_artifact_path(call, artifact_path)
        if not root.is_dir():
            raise NotADirectoryError(f"{call}: no such directory: {root}")
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            self._note_artifact(file.relative_to(root).as_posix(), artifact_path)
        if self._writer is not None:
            self._writer.log_artifacts(str(root), artifact_path or None)

    def _note_artifact(self, name: str, artifact_path: str | None) -> None:
        full = f"{artifact_path}/{name}" if artifact_path else name
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


# -- MLflow's rules, checked at the call ----------------------------------------

#: A step is stored as a 64-bit integer.
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


def _shown(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shown_path(path: str, limit: int = 80) -> str:
    """A local path in a message: its end, which names the file, when long."""
    text = repr(path)
    return text if len(text) <= limit else "'…" + text[-(limit - 2) :]


def _call(method: str, *args: object) -> str:
    """How the call reads in a message: ``grd_run.log_param('notes')``."""
    return f"grd_run.{method}({', '.join(_shown(a) for a in args)})"


def _artifact_call(method: str, local: str, artifact_path: object) -> str:
    shown = _shown_path(local)
    if artifact_path is not None:
        shown += f", {_shown(artifact_path)}"
    return f"grd_run.{method}({shown})"


def _check_name(call: str, key: object) -> None:
    problem = name_problem(key)
    if problem is not None:
        raise TrackingCallError(f"{call}: invalid name: {problem}")


def _check_length(call: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise TrackingCallError(
            f"{call}: value is {len(text):,} characters; MLflow's limit is {limit:,}"
        )


def _metric_value(call: str, value: object) -> float:
    """``value`` as a float if it is a number (a Python or NumPy number, a
    0-d array or tensor); MLflow refuses strings and booleans."""
    if value is None or isinstance(value, (bool, str, bytes)):
        number = None
    else:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            number = None
    if number is None:
        raise TrackingCallError(
            f"{call}: value must be a number, got {type(value).__name__} {_shown(value)}"
        )
    return number


def _check_step(call: str, step: object) -> None:
    if step is None:
        return
    if (
        isinstance(step, bool)
        or not isinstance(step, numbers.Integral)
        or not _LONG_MIN <= int(step) <= _LONG_MAX
    ):
        raise TrackingCallError(
            f"{call}: step must be an integer (64-bit), got {type(step).__name__} {_shown(step)}"
        )


def _check_timestamp(call: str, timestamp: object) -> None:
    if timestamp is None:
        return
    if (
        isinstance(timestamp, bool)
        or not isinstance(timestamp, numbers.Integral)
        or not 0 <= int(timestamp) <= _LONG_MAX
    ):
        raise TrackingCallError(
            f"{call}: timestamp must be a non-negative integer (milliseconds since the epoch), "
            f"got {_shown(timestamp)}"
        )


def _artifact_path_problem(artifact_path: object) -> str | None:
    """Why MLflow would refuse ``artifact_path`` (its client's
    ``verify_artifact_path`` and its server's ``validate_path_is_safe``)."""
    if artifact_path is None or artifact_path == "":
        return None
    if not isinstance(artifact_path, str):
        return f"must be a string, not {type(artifact_path).__name__}"
    if "\\" in artifact_path:
        return "must use '/' between folders, not '\\'"
    if "#" in artifact_path:
        return "must not contain '#'"
    if PurePosixPath(artifact_path).is_absolute() or PureWindowsPath(artifact_path).is_absolute():
        return "must be relative (a folder inside the run), not absolute"
    if ".." in artifact_path.split("/"):
        return "must not contain '..' (it must stay inside the run)"
    norm = posixpath.normpath(artifact_path)
    if norm == ".":
        return "names no folder; leave it out to log at the top of the run"
    if norm != artifact_path:
        return f"must be written {norm!r}"
    return None


def _check_artifact_path(call: str, artifact_path: object) -> None:
    problem = _artifact_path_problem(artifact_path)
    if problem is not None:
        raise TrackingCallError(f"{call}: artifact_path {_shown(artifact_path)} {problem}")
