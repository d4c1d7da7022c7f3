"""Recorded verdicts, read back without re-running anything.

Two sources: the project's MLflow tracking store (:mod:`.store`) and a
``report.json`` written by ``--grd-report`` (through
:func:`pytest_grd.report.load_report`).  Each hypothesis's verdict is the one
its MLflow parent run was closed with in the latest session that ran it
(``pytest -k hyp_002`` re-runs one hypothesis; the others keep their earlier
verdicts), so statistical decisions and their multiple-comparison correction
are read back, not recomputed.  Which session is a hypothesis's latest is
read from the parent runs; only those sessions' cases are loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..record import HypothesisResult
from ..tracking.query import ParentEntry, RunRow
from .declared import Declarations
from .effects import p_value
from .project import CliError, Project
from .store import ProjectStore, session_header

__all__ = [
    "Recorded",
    "load_report_json",
    "recorded",
    "removed_hypotheses",
    "result_summary",
]


@dataclass
class Recorded:
    """The verdicts of one source: per hypothesis, its latest result; from a
    store also every session's verdict (``trail``, oldest first)."""

    results: list[HypothesisResult]
    source: str
    meta: dict[str, Any]
    trail: dict[str, list[ParentEntry]] = field(default_factory=dict)
    #: Hypotheses no file of the project declares any more.
    removed: set[str] = field(default_factory=set)
    #: Runs loaded from the store (what the command cost).
    runs_read: int = 0


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


def removed_hypotheses(project: Project, results: list[HypothesisResult]) -> set[str]:
    """The ids of ``results`` that no file of the project declares any more
    (see :mod:`.declared`)."""
    declarations = Declarations(
        project.root, project.list_setting("testpaths"), project.list_setting("norecursedirs")
    )
    return declarations.removed({r.id: [c.nodeid for c in r.cases[:1]] for r in results})


def _header(project: Project, parents: list[RunRow]) -> dict[str, Any]:
    """The header of the newest session among ``parents``; a note names the
    others when the latest verdicts come from several sessions."""
    if not parents:
        return {}
    newest = max(parents, key=lambda p: p.start_time or 0)
    meta = session_header(newest, project.root)
    sessions: dict[str, list[str]] = {}
    for parent in parents:
        session = parent.tags.get("grd.session_id", "")
        if session != newest.tags.get("grd.session_id", ""):
            sessions.setdefault(session, []).append(parent.tags.get("grd.hypothesis", "?"))
    notes = list(meta.get("notes") or [])
    for session, ids in sorted(sessions.items()):
        sample = next(p for p in parents if p.tags.get("grd.session_id", "") == session)
        commit = (sample.tags.get("mlflow.source.git.commit") or "no commit")[:12]
        notes.append(
            f"{', '.join(sorted(ids))}: latest verdict from an earlier session "
            f"({session[:8] or 'unknown'}, commit {commit}, "
            f"{session_header(sample, project.root)['date']})"
        )
    if notes:
        meta["notes"] = notes
    return meta


def _devices(results: list[HypothesisResult]) -> list[str]:
    seen: dict[str, None] = {}
    for result in results:
        for case in result.cases:
            gpu = case.extra.get("gpu")
            name = gpu.get("name") if isinstance(gpu, dict) else None
            for device in (case.device, name):
                if device:
                    seen[str(device)] = None
    return list(seen)


def _from_store(project: Project, tracking_uri: str | None, hypothesis: str | None) -> Recorded:
    with ProjectStore(project, tracking_uri) as store:
        latest = store.latest(hypothesis)
        if hypothesis is not None and hypothesis not in latest:
            known = ", ".join(sorted(store.latest())) or "none"
            raise CliError(
                f"no recorded verdict for {hypothesis} in {store.source} (recorded: {known}); "
                "run it first: pytest -k " + hypothesis
            )
        results, parents = store.results(list(latest.values()))
        meta = _header(project, parents)
        if meta and not meta.get("devices"):
            meta["devices"] = _devices(results)
        trail: dict[str, list[ParentEntry]] = {}
        for entry in store.history(hypothesis) if hypothesis else store.index():
            trail.setdefault(entry.hypothesis, []).append(entry)
        return Recorded(
            results=sorted(results, key=lambda r: r.id),
            source=store.source,
            meta=meta,
            trail=trail,
            runs_read=store.reader.runs_read,
        )


def recorded(
    project: Project,
    *,
    tracking_uri: str | None = None,
    report_json: Path | None = None,
    hypothesis: str | None = None,
) -> Recorded:
    """The latest verdicts (of ``hypothesis`` only, when given) from a
    report file when given, else from the store; hypotheses no longer in the
    code are named in ``removed``."""
    if report_json is not None:
        results, meta = load_report_json(report_json)
        found = Recorded(results=results, source=str(report_json), meta=meta)
        if hypothesis is not None and not any(r.id == hypothesis for r in results):
            known = ", ".join(r.id for r in results) or "none"
            raise CliError(
                f"no recorded verdict for {hypothesis} in {report_json} (recorded: {known}); "
                "run it first: pytest -k " + hypothesis
            )
    else:
        found = _from_store(project, tracking_uri, hypothesis)
    if hypothesis is not None:
        found.results = [r for r in found.results if r.id == hypothesis]
    found.removed = removed_hypotheses(project, found.results)
    return found


def result_summary(result: HypothesisResult) -> str:
    """``VALIDATED (p = 0.004)`` when decided by statistics, else the verdict
    with what its cases ended as: ``REJECTED (1 rejected, 2 validated)``,
    ``INCONCLUSIVE (5 measured)``."""
    p = p_value(result.stats)
    if p is not None:
        shown = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
        return f"{result.verdict} ({shown})"
    counts = sorted(result.counts.items(), key=lambda item: item[0] != result.verdict)
    text = ", ".join(f"{n} {word.lower()}" for word, n in counts if n) or "no cases"
    return f"{result.verdict} ({text})"
