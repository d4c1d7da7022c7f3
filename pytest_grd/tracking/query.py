"""Reading verdicts back from the tracking store (``grd status``, ``grd report``).

Each case run carries its whole record as JSON (tag ``grd.record``, split
over ``grd.record.<i>`` when long); a run without it (a crashed worker on an
old store, a record too large) is rebuilt from its params, metrics and tags.
Imports mlflow when called.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from ..record import CaseRecord, HypothesisResult, group_by_hypothesis
from ..verdict import Verdict
from .settings import redact_uri
from .tags import ROLE_CASE, ROLE_PARENT, record_from_tags

__all__ = ["records_from_store", "results_from_store", "search_all_runs", "sessions_in_store"]


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


def sessions_in_store(tracking_uri: str, experiment_name: str) -> list[str]:
    """Session ids of the experiment, newest first."""
    client = _client(tracking_uri)
    experiment_id = _experiment_id(client, experiment_name)
    if experiment_id is None:
        return []
    seen: dict[str, None] = {}
    for run in search_all_runs(
        client,
        experiment_id,
        f"tags.`grd.role` = '{ROLE_PARENT}'",
        ["attributes.start_time DESC"],
    ):
        session_id = run.data.tags.get("grd.session_id")
        if session_id:
            seen.setdefault(session_id, None)
    return list(seen)


def _rebuild(run: Any) -> CaseRecord:
    """A record from a run's params, metrics and tags (no ``grd.record``)."""
    tags: dict[str, str] = dict(run.data.tags)
    params: dict[str, Any] = dict(run.data.params)
    seed_text = params.pop("seed", None)
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
        metrics={k: float(v) for k, v in run.data.metrics.items()},
        started_at=(run.info.start_time or 0) / 1000.0,
        duration=((run.info.end_time or run.info.start_time or 0) - (run.info.start_time or 0))
        / 1000.0,
        worker=None if tags.get("grd.worker") in (None, "main") else tags.get("grd.worker"),
        session_id=tags.get("grd.session_id"),
        scale=tags.get("grd.scale", "full"),
    )
    lineage = tags.get("grd.lineage")
    if lineage:
        with contextlib.suppress(ValueError):
            record.lineage = list(json.loads(lineage))
    record.is_error = run.info.status == "FAILED"
    record.extra["rebuilt_from_store"] = True
    return record


def _record(run: Any, tracking_uri: str) -> CaseRecord:
    tags: dict[str, str] = dict(run.data.tags)
    data = record_from_tags(tags)
    record = CaseRecord.from_dict(data) if data is not None else _rebuild(run)
    # The tags written last win: a crashed case's verdict is set by the
    # controller after the worker's record was stored.
    if tags.get("grd.verdict"):
        record.verdict = Verdict(tags["grd.verdict"])
        record.reason = tags.get("grd.reason", record.reason)
    record.run_id = run.info.run_id
    record.parent_run_id = tags.get("mlflow.parentRunId", record.parent_run_id)
    record.experiment_id = str(run.info.experiment_id)
    record.tracking_uri = redact_uri(tracking_uri)
    record.extra["run_status"] = run.info.status
    return record


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
            latest = _search_latest_session(client, experiment_id)
            if latest is None:
                return []
            session_id = latest
        query += f" and tags.`grd.session_id` = '{session_id}'"
    runs = search_all_runs(client, experiment_id, query, ["attributes.start_time ASC"])
    records = [_record(run, tracking_uri) for run in runs]
    first_start: dict[str, float] = {}
    for record in records:
        key = record.session_id or ""
        first_start[key] = min(first_start.get(key, record.started_at), record.started_at)
    records.sort(key=lambda r: (first_start[r.session_id or ""], r.session_id or "", r.nodeid))
    return records


def _search_latest_session(client: Any, experiment_id: str) -> str | None:
    page = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`grd.role` = '{ROLE_CASE}'",
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    for run in page:
        return str(run.data.tags.get("grd.session_id") or "") or None
    return None


def results_from_store(
    tracking_uri: str, experiment_name: str, session_id: str | None = None
) -> list[HypothesisResult]:
    """The hypotheses of one session (latest by default) with the verdict,
    reason and statistics their parent runs were closed with."""
    records = records_from_store(tracking_uri, experiment_name, session_id)
    results = group_by_hypothesis(records)
    if not records:
        return results
    client = _client(tracking_uri)
    experiment_id = _experiment_id(client, experiment_name)
    if experiment_id is None:
        return results
    session = records[0].session_id
    parents = {
        run.data.tags.get("grd.hypothesis"): run
        for run in search_all_runs(
            client,
            experiment_id,
            f"tags.`grd.role` = '{ROLE_PARENT}' and tags.`grd.session_id` = '{session}'",
            ["attributes.start_time ASC"],
        )
    }
    for result in results:
        parent = parents.get(result.id)
        if parent is None:
            continue
        tags = parent.data.tags
        result.parent_run_id = parent.info.run_id
        if tags.get("grd.verdict"):
            result.verdict = Verdict(tags["grd.verdict"])
            result.reason = tags.get("grd.reason", result.reason)
        if tags.get("grd.stats"):
            with contextlib.suppress(ValueError):
                result.stats = dict(json.loads(tags["grd.stats"]))
    return results
