"""Recorded verdicts, read back without re-running anything.

Two sources: the project's MLflow tracking store (through
:func:`pytest_grd.tracking.query.records_from_store`) and a ``report.json``
written by ``--grd-report`` (through :func:`pytest_grd.report.load_report`).
Hypothesis-level verdicts are rebuilt from the case records the same way the
plugin builds them at the end of a session (roll-up, then the statistical
decisions declared with ``decide=``), one session at a time so that the
multiple-comparison correction covers the same hypotheses it did then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..record import CaseRecord, HypothesisResult, group_by_hypothesis
from .project import CliError, Project, sqlite_path

__all__ = [
    "Recorded",
    "finalize",
    "latest_results",
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


def finalize(records: list[CaseRecord], correction: str = "holm") -> list[HypothesisResult]:
    """Hypothesis results of one session's records, as the plugin computes them."""
    results = group_by_hypothesis(records)
    if any(case.decide for r in results for case in r.cases):
        try:
            from ..stats.decide import apply_decisions  # type: ignore[import-not-found]
        except ImportError:
            raise CliError(
                "some hypotheses are decided by statistics (decide=), which needs "
                "pytest-grd[stats]: pip install 'pytest-grd[stats]'"
            ) from None
        apply_decisions(results, correction=correction)
    return results


def _session_order(records: Iterable[CaseRecord]) -> dict[str, list[CaseRecord]]:
    """Records by session, oldest session first (by the latest case start)."""
    sessions: dict[str, list[CaseRecord]] = {}
    for record in records:
        sessions.setdefault(record.session_id or "", []).append(record)
    return dict(sorted(sessions.items(), key=lambda kv: max(r.started_at or 0.0 for r in kv[1])))


def latest_results(records: list[CaseRecord], correction: str = "holm") -> list[HypothesisResult]:
    """For each hypothesis, its result in the latest session that ran it."""
    latest: dict[str, HypothesisResult] = {}
    for _session, session_records in _session_order(records).items():
        for result in finalize(session_records, correction):
            latest[result.id] = result
    return sorted(latest.values(), key=lambda r: r.id)


def load_records(project: Project, tracking_uri: str | None = None) -> tuple[list[CaseRecord], str]:
    """Every case record of the project's experiment, and the URI read."""
    uri = project.tracking_uri(tracking_uri)
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        raise CliError(
            f"no tracking store at {db}: run your hypotheses first "
            "(pytest), or pass --from grd-report/report.json"
        )
    try:
        from ..tracking.query import records_from_store  # type: ignore[import-not-found]
    except ImportError as exc:
        raise CliError(f"cannot read the tracking store: {exc}") from None
    try:
        records: list[CaseRecord] = records_from_store(uri, project.experiment)
    except Exception as exc:  # MLflow raises many types; one line is what the user needs
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"cannot read the tracking store {uri}: {first}") from None
    if not records:
        raise CliError(
            f"no recorded cases of experiment {project.experiment!r} in {uri}: "
            "run your hypotheses first (pytest)"
        )
    return records, uri


def load_report_json(path: Path) -> tuple[list[HypothesisResult], dict[str, Any]]:
    """Results and report metadata from a ``report.json``."""
    if not path.is_file():
        raise CliError(f"{path}: no such report file")
    try:
        from ..report import load_report  # type: ignore[attr-defined]
    except ImportError as exc:
        raise CliError(f"cannot read reports: {exc}") from None
    try:
        loaded = load_report(path)
    except Exception as exc:  # a malformed file: say which and why, in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"{path}: not a pytest-grd report.json: {first}") from None
    results, meta = loaded
    return list(results), dict(meta or {})


def recorded(
    project: Project, *, tracking_uri: str | None = None, report_json: Path | None = None
) -> Recorded:
    """The latest verdicts from a report file when given, else from the store."""
    if report_json is not None:
        results, meta = load_report_json(report_json)
        return Recorded(results=results, source=str(report_json), meta=meta)
    records, uri = load_records(project, tracking_uri)
    correction = project.setting("grd_correction", "holm")
    return Recorded(results=latest_results(records, correction), source=uri, meta={})


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
    with its case counts: ``REJECTED (2 of 3 cases rejected)``."""
    p = _p_value(result.stats)
    if p is not None:
        shown = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
        return f"{result.verdict} ({shown})"
    counts = result.counts
    total = sum(counts.values())
    n = counts.get(result.verdict, 0)
    noun = "case" if total == 1 else "cases"
    return f"{result.verdict} ({n} of {total} {noun} {result.verdict.lower()})"
