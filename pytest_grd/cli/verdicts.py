"""Recorded verdicts, read back without re-running anything.

Two sources: the project's MLflow tracking store (through
:func:`pytest_grd.tracking.query.records_from_store`) and a ``report.json``
written by ``--grd-report`` (through :func:`pytest_grd.report.load_report`).
Each hypothesis's verdict is the one its MLflow parent run was closed with in
the latest session that ran it (``pytest -k hyp_002`` re-runs one hypothesis;
the others keep their earlier verdicts), so statistical decisions and their
multiple-comparison correction are read back, not recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..record import CaseRecord, HypothesisResult
from ..tracking.settings import sqlite_path
from .project import CliError, Project

__all__ = [
    "Recorded",
    "latest_from_store",
    "load_records",
    "load_report_json",
    "result_summary",
]


@dataclass
class Recorded:
    """The verdicts of one source: per hypothesis, its latest result."""

    results: list[HypothesisResult]
    source: str
    meta: dict[str, Any]


def _store_error(uri: str, exc: Exception) -> CliError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return CliError(f"cannot read the tracking store {uri}: {first}")


def load_records(project: Project, tracking_uri: str | None = None) -> tuple[list[CaseRecord], str]:
    """Every case record of the project's experiment (all sessions), and the URI read."""
    uri = project.tracking_uri(tracking_uri)
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        raise CliError(
            f"no tracking store at {db}: run your hypotheses first "
            "(pytest), or pass --from grd-report/report.json"
        )
    try:
        from ..tracking.query import records_from_store
    except ImportError as exc:
        raise CliError(f"cannot read the tracking store: {exc}") from None
    try:
        records = records_from_store(uri, project.experiment, all_sessions=True)
    except Exception as exc:  # MLflow raises many types; one line is what the user needs
        raise _store_error(uri, exc) from None
    if not records:
        raise CliError(
            f"no recorded cases of experiment {project.experiment!r} in {uri}: "
            "run your hypotheses first (pytest)"
        )
    return records, uri


def latest_from_store(
    project: Project, tracking_uri: str | None = None
) -> tuple[list[HypothesisResult], str]:
    """Per hypothesis, the result of the latest session that ran it, with the
    verdict, reason and statistics its MLflow parent run was closed with."""
    records, uri = load_records(project, tracking_uri)
    latest_session: dict[str, str] = {}
    for record in records:  # sorted by session start: later sessions overwrite
        latest_session[record.hypothesis] = record.session_id or ""
    from ..tracking.query import results_from_store

    by_id: dict[str, HypothesisResult] = {}
    for session in dict.fromkeys(latest_session.values()):
        try:
            results = results_from_store(uri, project.experiment, session or None)
        except Exception as exc:  # as above
            raise _store_error(uri, exc) from None
        for result in results:
            if latest_session.get(result.id) == session:
                by_id[result.id] = result
    return sorted(by_id.values(), key=lambda r: r.id), uri


def load_report_json(path: Path) -> tuple[list[HypothesisResult], dict[str, Any]]:
    """Results and report metadata from a ``report.json`` (or its folder)."""
    try:
        from ..report.render import ReportError, load_report
    except ImportError as exc:
        raise CliError(f"cannot read reports: {exc}") from None
    try:
        results, meta = load_report(path)
    except ReportError as exc:
        raise CliError(str(exc)) from None
    return list(results), dict(meta or {})


def recorded(
    project: Project, *, tracking_uri: str | None = None, report_json: Path | None = None
) -> Recorded:
    """The latest verdicts from a report file when given, else from the store."""
    if report_json is not None:
        results, meta = load_report_json(report_json)
        return Recorded(results=results, source=str(report_json), meta=meta)
    results, uri = latest_from_store(project, tracking_uri)
    return Recorded(results=results, source=uri, meta={})


def _p_value(stats: dict[str, Any] | None) -> float | None:
    if not stats:
        return None
    for key in ("p_adjusted", "p_value_adjusted", "p_value", "pvalue", "p"):
        value = stats.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def result_summary(result: HypothesisResult) -> str:
    """``VALIDATED (p = 0.004)`` when decided by statistics, else the verdict
    with what its cases ended as: ``REJECTED (1 rejected, 2 validated)``,
    ``INCONCLUSIVE (5 measured)``."""
    p = _p_value(result.stats)
    if p is not None:
        shown = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
        return f"{result.verdict} ({shown})"
    counts = sorted(result.counts.items(), key=lambda item: item[0] != result.verdict)
    text = ", ".join(f"{n} {word.lower()}" for word, n in counts if n) or "no cases"
    return f"{result.verdict} ({text})"
