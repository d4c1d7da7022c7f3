"""The MLflow side of tracking: the store, the parent runs, each case's run.

Imports mlflow; imported only once a session has a hypothesis to track.
Every MLflow call goes through :meth:`TrackingStore.call`, which turns a
failure into a note on the record instead of an error in the test, and tells
two failures apart:

* the store cannot be reached (connection refused or reset, a timeout,
  "database is locked", a 5xx from the server after its retries, an OSError
  writing artifacts): this process stops talking to the store for the rest of
  the session (a server that went away would otherwise cost its retry delays
  on every later case) and the controller lists the runs that were not logged;
* the store refused one request (an invalid value, a param changed, any 4xx):
  only that case's run is marked, and logging goes on for the others.

A test's own bad call (a bad name, an over-long param, an artifact path out of
the run) never gets here: :class:`~pytest_grd.tracking.run.GrdRun` raises it
at the call.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repo import verify_artifact_path
from mlflow.tracking import MlflowClient

from ..record import CaseRecord, HypothesisResult
from ..verdict import Verdict
from .faults import refused, short, unreachable
from .preparation import initialized, interprocess_lock, quiet_store_setup
from .query import search_all_runs
from .run import MetricPoint
from .settings import (
    TrackingSettings,
    TrackingUnavailable,
    check_reachable,
    is_http,
    lock_path,
    redact_uri,
    sqlite_path,
)
from .tags import (
    ROLE_PARENT,
    case_params,
    case_tags,
    env_tags,
    git_tags,
    parent_tags,
    process_tags,
    record_tags,
    result_tags,
    verdict_tags,
)
from .writer import METRICS_PER_BATCH, PARAMS_TAGS_PER_BATCH, CaseRunWriter

__all__ = ["TrackingStore", "TrackingUnavailable", "CaseRunWriter", "RunStatusName"]

T = TypeVar("T")

#: MLflow's limit of entities in one ``log_batch`` (see also .writer).
_ENTITIES_PER_BATCH = 1000
_INPUT_TAG_VALUE = 500
_DIGEST = 36

RunStatusName = str  # "FINISHED" | "FAILED" | "KILLED"


class TrackingStore:
    """One per process: the MLflow client, the experiment, the parent runs of
    this session, and the runs this process has open."""

    def __init__(
        self,
        settings: TrackingSettings,
        rootdir: Path,
        worker: str | None,
        session_id: str | None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.rootdir = rootdir
        self.uri = settings.uri
        self.experiment_id: str | None = None
        #: hypothesis id -> parent run id, for this session.
        self.parents: dict[str, str] = {}
        #: Why the store cannot be reached (the first such failure); once set,
        #: nothing more is sent (see module doc).  A refused request is not here.
        self.error: str | None = None
        #: Case runs open in this process, by run id (killed on interrupt).
        #: The session's report header as JSON, a tag of each parent run.
        self.session_meta = ""
        self.open_runs: dict[str, CaseRunWriter] = {}
        env = os.environ if environ is None else environ
        self._common_tags = {
            **process_tags(worker, session_id),
            **git_tags(rootdir),
            **env_tags(settings.env_allowlist, env),
        }
        self.session_id = session_id
        if is_http(self.uri):
            # MLflow retries a failing request 7 times with exponential backoff
            # (minutes); a session must not hang that long on a dead server.
            for name, value in (
                ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"),
                ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
                ("MLFLOW_HTTP_REQUEST_TIMEOUT", "30"),
                # Else every ended run prints a "View run" link into the
                # terminal (and costs one more request).
                ("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true"),
            ):
                os.environ.setdefault(name, value)
        self._client: MlflowClient | None = None

    # -- plumbing ------------------------------------------------------------

    @property
    def client(self) -> MlflowClient:
        """The MLflow client for this store (created on first use)."""
        if self._client is None:
            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    @property
    def shown_uri(self) -> str:
        return redact_uri(self.uri)

    def call(
        self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> tuple[T | None, str | None]:
        """Run one MLflow call: ``(result, None)``, or ``(None, problem)`` on
        failure (tracking must never change a verdict).  A store that cannot
        be reached sets :attr:`error`, and every later call is ``(None,
        error)`` without being sent; a refused request only returns
        ``"<what> refused: ..."`` for the caller's record."""
        if self.error is not None:
            return None, self.error
        try:
            return fn(*args, **kwargs), None
        except Exception as exc:  # any store/server failure: keep the session going
            down = self.unreachable(exc)
            if down is not None:
                self.error = f"{down}: {what}: {short(exc)}"
                return None, self.error
            return None, f"{what} refused: {refused(exc)}"

    def unreachable(self, exc: BaseException) -> str | None:
        """See :func:`pytest_grd.tracking.faults.unreachable`."""
        return unreachable(exc, is_http(self.uri))

    def not_logged(self) -> str:
        return f"not logged to {self.shown_uri}: {self.error or 'tracking unavailable'}"

    def note(self, record: CaseRecord, problem: str | None) -> None:
        """Put what went wrong into ``record.extra["tracking_error"]``: a lost
        store replaces an earlier note, a refused request keeps the first."""
        if problem is None:
            return
        if self.error is not None:
            record.extra["tracking_error"] = self.not_logged()
            return
        done = "partly logged" if record.run_id else "not logged"
        record.extra.setdefault("tracking_error", f"{done} to {self.shown_uri}: {problem}")

    # -- session start -------------------------------------------------------

    def prepare(self, hypotheses: Mapping[str, str], scale: str) -> None:
        """Create (or migrate) the store, the experiment and this session's
        parent runs, once, under an inter-process lock, before any case logs.
        A process that comes second finds what the first one made."""
        check_reachable(self.uri)
        db = sqlite_path(self.uri)
        if db is not None and not db.parent.is_dir():
            raise TrackingUnavailable(
                f"grd: cannot create the MLflow store {self.shown_uri}: "
                f"directory {db.parent} does not exist"
            )
        if db is not None and initialized(db):
            # An existing store: open it (engine, schema check: most of the
            # cost) before taking the lock, so workers do this in parallel.
            # Anything odd (a migration under way elsewhere) is retried below,
            # under the lock.
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    self.client.get_experiment_by_name(self.settings.experiment)
            except Exception:
                self._client = None
        try:
            with (
                interprocess_lock(lock_path(self.uri)),
                warnings.catch_warnings(),
                quiet_store_setup(),
            ):
                # SQLAlchemy/alembic deprecation noise from MLflow's store
                # setup is not the user's to act on.
                warnings.simplefilter("ignore", DeprecationWarning)
                self._prepare_locked(hypotheses, scale)
        except TrackingUnavailable:
            raise
        except Exception as exc:
            raise TrackingUnavailable(
                f"grd: cannot prepare the MLflow store {self.shown_uri}: {short(exc)}"
            ) from None

    def _prepare_locked(self, hypotheses: Mapping[str, str], scale: str) -> None:
        client = self.client
        name = self.settings.experiment
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            location = None
            db = sqlite_path(self.uri)
            if db is not None:
                # Next to the database, not MLflow's ./mlruns (whose presence
                # would make a later `mlflow ui` read the file store instead).
                safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
                location = (db.parent / "mlartifacts" / safe).as_uri()
            self.experiment_id = client.create_experiment(name, artifact_location=location)
        else:
            if experiment.lifecycle_stage == "deleted":
                client.restore_experiment(experiment.experiment_id)
            self.experiment_id = experiment.experiment_id
        self.parents.update(self._find_parents())
        for hypothesis, claim in hypotheses.items():
            if hypothesis in self.parents:
                continue
            tags = {**self._common_tags, **parent_tags(hypothesis, claim, scale)}
            if self.session_meta:
                tags["grd.session_meta"] = self.session_meta
            run = client.create_run(self.experiment_id, tags=tags, run_name=hypothesis)
            self.parents[hypothesis] = run.info.run_id

    def _find_parents(self) -> dict[str, str]:
        if self.experiment_id is None:
            return {}
        found: dict[str, str] = {}
        runs = search_all_runs(
            self.client,
            self.experiment_id,
            f"tags.`grd.session_id` = '{self.session_id}' and tags.`grd.role` = '{ROLE_PARENT}'",
        )
        for run in runs:
            found.setdefault(run.data.tags.get("grd.hypothesis", ""), run.info.run_id)
        return found

    # -- cases ---------------------------------------------------------------

    def open_case(self, record: CaseRecord) -> CaseRunWriter | None:
        """Open the case's run under its parent; ``None`` (and a note in the
        record) when the store cannot be written."""
        record.tracking_uri = self.shown_uri
        record.experiment_id = self.experiment_id
        record.parent_run_id = self.parents.get(record.hypothesis)
        if self.experiment_id is None or self.error is not None:
            record.extra["tracking_error"] = self.not_logged()
            return None
        tags = {**self._common_tags, **case_tags(record)}
        run, problem = self.call(
            "open run",
            self.client.create_run,
            self.experiment_id,
            start_time=int((record.started_at or time.time()) * 1000),
            tags=tags,
            run_name=record.name,
        )
        if run is None:
            self.note(record, problem or "open run: no run")
            return None
        record.run_id = run.info.run_id
        writer = CaseRunWriter(self, record)
        writer.params.update(case_params(record))
        self.open_runs[record.run_id] = writer
        return writer

    def close_case(self, writer: CaseRunWriter, status: RunStatusName) -> None:
        """Flush what is buffered, the verdict and the record; log the data
        lineage; end the run."""
        record = writer.record
        self.open_runs.pop(writer.run_id, None)
        writer.tags.update(verdict_tags(record.verdict, record.reason))
        if record.lineage:
            writer.tags["grd.lineage"] = json.dumps(record.lineage, default=repr)[:8000]
        if record.artifacts:
            writer.tags["grd.artifacts"] = json.dumps(record.artifacts)[:8000]
        writer.tags.update(record_tags(record))
        writer.flush()
        if record.lineage:
            _, problem = self.call(
                "log data lineage", self._log_lineage, writer.run_id, record.lineage
            )
            self.note(record, problem)
        _, problem = self.call(
            "end run",
            self.client.set_terminated,
            writer.run_id,
            status,
            end_time=int(time.time() * 1000),
        )
        self.note(record, problem)

    def _log_lineage(self, run_id: str, lineage: list[dict[str, Any]]) -> None:
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.sources import LocalArtifactDatasetSource  # type: ignore[attr-defined]

        datasets = []
        # MLflow keeps one input per dataset name and digest (the first): its
        # context names every use of those bytes in the case, in order.
        contexts: dict[tuple[str, str], list[str]] = {}
        for entry in lineage:
            md5 = entry.get("md5")
            path = str(entry.get("path") or entry.get("target") or "")
            dataset = MetaDataset(  # type: ignore[abstract]
                LocalArtifactDatasetSource(path),
                name=str(entry.get("target") or path)[:500],
                # The digest column is String(36): an md5 or "<md5>.dir" fits.
                digest=str(md5)[:_DIGEST] if md5 else "unversioned",
            )
            # How the case used the data (training, evaluation, ...);
            # entries recorded before the context existed: training.
            context = str(entry.get("context") or "training")
            uses = contexts.setdefault((dataset.name, dataset.digest), [])
            if context not in uses:
                uses.append(context)
            datasets.append((entry, dataset, uses))
        inputs = []
        for entry, dataset, uses in datasets:
            input_tags = [
                InputTag(key="mlflow.data.context", value=", ".join(uses)[:_INPUT_TAG_VALUE])
            ]
            for key in ("rev_requested", "rev_resolved", "source", "versioned", "schema"):
                value = entry.get(key)
                if value is not None:
                    input_tags.append(
                        InputTag(key=f"grd.{key}", value=str(value)[:_INPUT_TAG_VALUE])
                    )
            if entry.get("validation") is not None:
                input_tags.append(InputTag(key="grd.validation", value=str(entry["validation"])))
            inputs.append(DatasetInput(dataset=dataset._to_mlflow_entity(), tags=input_tags))
        self.client.log_inputs(run_id, datasets=inputs)

    def write(
        self,
        run_id: str,
        metrics: list[MetricPoint],
        params: Mapping[str, str],
        tags: Mapping[str, str],
    ) -> str | None:
        """Send a buffer with as few ``log_batch`` calls as MLflow's limits
        allow (1000 entities, 100 params or tags per call); the first problem,
        or ``None``.  A refused batch does not stop the next; a lost store does."""
        metric_entities = [Metric(k, v, ts, step) for k, v, ts, step in metrics]
        param_entities = [Param(k, v) for k, v in params.items()]
        tag_entities = [RunTag(k, v) for k, v in tags.items()]
        first: str | None = None
        while metric_entities or param_entities or tag_entities:
            batch_params = param_entities[:PARAMS_TAGS_PER_BATCH]
            batch_tags = tag_entities[:PARAMS_TAGS_PER_BATCH]
            room = _ENTITIES_PER_BATCH - len(batch_params) - len(batch_tags)
            batch_metrics = metric_entities[: min(room, METRICS_PER_BATCH)]
            del param_entities[: len(batch_params)]
            del tag_entities[: len(batch_tags)]
            del metric_entities[: len(batch_metrics)]
            problem = self._log_batch(run_id, batch_metrics, batch_params, batch_tags)
            if problem is not None and self.error is None:
                # One refused entry refuses the whole batch: send each kind
                # alone, so that a refused param does not cost the run its
                # metrics or its verdict tags.
                kinds = [k for k in (batch_metrics, batch_params, batch_tags) if k]
                if len(kinds) > 1:
                    self._log_batch(run_id, batch_metrics, [], [])
                    self._log_batch(run_id, [], batch_params, [])
                    self._log_batch(run_id, [], [], batch_tags)
            first = first or problem
            if self.error is not None:
                return self.error
        return first

    def _log_batch(
        self, run_id: str, metrics: list[Metric], params: list[Param], tags: list[RunTag]
    ) -> str | None:
        if not (metrics or params or tags):
            return None
        _, problem = self.call(
            "log batch",
            self.client.log_batch,
            run_id,
            metrics=metrics,
            params=params,
            tags=tags,
            synchronous=True,
        )
        return problem

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None) -> str | None:
        """Upload one file now; the problem, or ``None``."""
        return self._upload(
            "log artifact", self.client.log_artifact, run_id, local_path, artifact_path
        )

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None) -> str | None:
        """Upload a directory now; the problem, or ``None``."""
        return self._upload(
            "log artifacts", self.client.log_artifacts, run_id, local_dir, artifact_path
        )

    def _upload(
        self,
        what: str,
        fn: Callable[[str, str, str | None], None],
        run_id: str,
        local: str,
        artifact_path: str | None,
    ) -> str | None:
        # MLflow raises a bad artifact path as an INTERNAL_ERROR, which from a
        # server would read as an outage: refuse it here, as the request it is.
        try:
            verify_artifact_path(artifact_path)  # type: ignore[no-untyped-call]
        except MlflowException as exc:
            return f"{what} refused: {refused(exc)}"
        return self.call(what, fn, run_id, local, artifact_path)[1]

    def kill_open_runs(self, reason: str = "session interrupted") -> None:
        """End every case run still open here as KILLED, keeping what it logged."""
        for writer in list(self.open_runs.values()):
            writer.record.verdict = Verdict.INCONCLUSIVE
            writer.record.reason = reason
            self.close_case(writer, RunStatus.to_string(RunStatus.KILLED))

    # -- controller ----------------------------------------------------------

    def fail_run(self, record: CaseRecord) -> None:
        """Mark a case's run FAILED with the record's (INCONCLUSIVE) verdict:
        its worker died while the run was RUNNING, or its teardown failed
        after the run had been closed with an earlier verdict."""
        if not record.run_id:
            return
        tags = {**verdict_tags(record.verdict, record.reason), **record_tags(record)}
        self.note(record, self.write(record.run_id, [], {}, tags))
        _, problem = self.call(
            "end run",
            self.client.set_terminated,
            record.run_id,
            RunStatus.to_string(RunStatus.FAILED),
        )
        self.note(record, problem)

    def end_parent(self, run_id: str, result: HypothesisResult | None, status: str) -> bool:
        """Close a parent run with the hypothesis's rolled-up (or statistically
        decided) verdict, its counts and its statistics."""
        if result is not None:
            metrics, tags = result_tags(result)
        else:
            metrics = {"grd.n_cases": 0.0}
            reason = "session interrupted" if status == "KILLED" else "no cases ran"
            tags = verdict_tags("INCONCLUSIVE", reason)
        now = int(time.time() * 1000)
        points = [(k, v, now, 0) for k, v in metrics.items()]
        written = self.write(run_id, points, {}, tags)
        _, ended = self.call("end run", self.client.set_terminated, run_id, status, end_time=now)
        return written is None and ended is None
