"""``grd diff [OLD [NEW]]``: two sets of verdicts side by side.

Each side is a *snapshot*: per hypothesis, one session's verdict, statistics
and case metrics.  A side is named by

* ``latest`` - each hypothesis's latest session (what ``grd status`` shows);
* ``previous`` - each hypothesis's session before its latest one;
* a session id, or its first characters (``session:3f2a``);
* a git commit (sha prefix or any ref git resolves, ``commit:HEAD~2``): per
  hypothesis, its latest session that ran at that commit;
* a ``report.json`` or the folder holding one (``report:grd-report``).

Without arguments ``previous`` is compared with ``latest``: what each claim's
last run changed.  A verdict that differs is a *flip*; a metric whose mean
over the cases moved by more than the tolerance (relative) has *drifted*.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..gitinfo import run_git
from ..tracking.query import MetricSummary, ParentEntry, latest_entries
from .effects import metric_text, p_text, stat_text
from .history import commit_cell, when
from .project import CliError, Project
from .store import ProjectStore, SessionVerdict
from .verdicts import load_report_json

__all__ = ["ClaimChange", "MetricChange", "Snapshot", "compare", "diff_lines", "snapshot"]

DEFAULT_TOLERANCE = 0.05
#: Metrics listed per hypothesis at most.
SHOWN = 3
_HEX = re.compile(r"^[0-9a-fA-F]{4,40}$")


@dataclass
class Snapshot:
    """Per hypothesis, the verdict one side of the comparison holds."""

    label: str
    verdicts: dict[str, SessionVerdict]


@dataclass(frozen=True)
class MetricChange:
    """One metric's mean over the cases, before and after."""

    name: str
    old: MetricSummary
    new: MetricSummary

    @property
    def relative(self) -> float | None:
        """``(new - old) / |old|``; ``None`` when the old mean is 0."""
        if self.old.mean == 0:
            return None
        return (self.new.mean - self.old.mean) / abs(self.old.mean)

    def drifted(self, tolerance: float) -> bool:
        """Moved by more than ``tolerance`` (relative; any move from 0)."""
        rel = self.relative
        return self.new.mean != self.old.mean if rel is None else abs(rel) > tolerance

    def text(self) -> str:
        rel = self.relative
        shown = "" if rel is None else f" ({rel:+.1%})"
        return f"{self.name} {metric_text(self.old)} -> {metric_text(self.new)}{shown}"


@dataclass
class ClaimChange:
    """One hypothesis on both sides."""

    hypothesis: str
    old: SessionVerdict | None
    new: SessionVerdict | None
    metrics: list[MetricChange] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """``new``, ``gone``, ``flipped`` or ``same`` (verdict)."""
        if self.old is None:
            return "new"
        if self.new is None:
            return "gone"
        return "flipped" if self.old.verdict != self.new.verdict else "same"

    def drifted(self, tolerance: float) -> list[MetricChange]:
        """The metrics that moved by more than ``tolerance``."""
        return [m for m in self.metrics if m.drifted(tolerance)]

    def to_dict(self, tolerance: float) -> dict[str, Any]:
        """Plain JSON (``--json``)."""
        return {
            "hypothesis": self.hypothesis,
            "change": self.kind,
            "old": None if self.old is None else self.old.to_dict(),
            "new": None if self.new is None else self.new.to_dict(),
            "metrics": [
                {
                    "name": m.name,
                    "old": m.old.mean,
                    "new": m.new.mean,
                    "relative": m.relative,
                    "drifted": m.drifted(tolerance),
                }
                for m in self.metrics
            ],
        }


def compare(old: Snapshot, new: Snapshot) -> list[ClaimChange]:
    """Every hypothesis of either side, by id."""
    changes = []
    for hid in sorted(set(old.verdicts) | set(new.verdicts)):
        before, after = old.verdicts.get(hid), new.verdicts.get(hid)
        metrics = []
        if before is not None and after is not None:
            for name in sorted(set(before.metrics) & set(after.metrics)):
                metrics.append(MetricChange(name, before.metrics[name], after.metrics[name]))
        changes.append(ClaimChange(hid, before, after, metrics))
    return changes


def _stats_line(change: ClaimChange) -> str:
    """``p = 0.004 -> p = 0.210; auc effect ... -> ...`` when the statistics
    changed (``""`` when they did not, or there are none)."""
    old, new = change.old, change.new
    if old is None or new is None or not (old.stats or new.stats):
        return ""
    parts = []
    for text in (p_text, stat_text):
        before, after = text(old.stats), text(new.stats)
        if before != after:
            parts.append(f"{before or '-'} -> {after or '-'}")
    return "; ".join(parts)


def _change_lines(
    change: ClaimChange, tolerance: float, metric: str | None, width: int
) -> list[str]:
    """The hypothesis's line, then what changed: statistics, then the metrics
    that drifted (for a flip, those that moved most; ``metric`` always)."""
    old = change.old.verdict if change.old else "(none)"
    new = change.new.verdict if change.new else "(none)"
    mark = {"new": "  new", "gone": "  not in the new side", "flipped": "  FLIPPED"}
    lines = [f"{change.hypothesis:<{width}}  {old} -> {new}{mark.get(change.kind, '')}"]
    stats = _stats_line(change)
    if stats:
        lines.append(f"    {stats}")
    drifted = [m.name for m in change.drifted(tolerance)]
    by_name = {m.name: m for m in change.metrics}
    if metric is not None:
        shown = [metric] if metric in by_name else []
    elif change.kind == "flipped":
        moved = sorted(change.metrics, key=lambda m: -abs(m.relative or 0.0))
        shown = list(dict.fromkeys([*drifted, *(m.name for m in moved)]))[:SHOWN]
    else:
        shown = drifted[:SHOWN]
    for name in shown:
        flag = "  DRIFT" if name in drifted else ""
        lines.append(f"    {by_name[name].text()}{flag}")
    return lines


def diff_lines(
    old: Snapshot,
    new: Snapshot,
    changes: Sequence[ClaimChange],
    tolerance: float = DEFAULT_TOLERANCE,
    metric: str | None = None,
) -> list[str]:
    """The ``grd diff`` text: both sides, each hypothesis, a summary."""
    lines = [f"old: {old.label}", f"new: {new.label}"]
    width = max((len(c.hypothesis) for c in changes), default=0)
    for change in changes:
        lines += ["  " + line for line in _change_lines(change, tolerance, metric, width)]
    both = [c for c in changes if c.old is not None and c.new is not None]
    flipped = sum(1 for c in both if c.kind == "flipped")
    drifted = sum(1 for c in both if c.drifted(tolerance))
    lines.append(
        f"{len(both)} compared: {flipped} verdict{'s' if flipped != 1 else ''} flipped, "
        f"{drifted} with a metric moved by more than {tolerance:.0%}; "
        f"{sum(1 for c in changes if c.kind == 'new')} only in new, "
        f"{sum(1 for c in changes if c.kind == 'gone')} only in old"
    )
    return lines


# -- naming a side -------------------------------------------------------------


def _session_label(verdicts: Sequence[SessionVerdict]) -> str:
    first = verdicts[0]
    return f"session {first.session_id[:8]} ({when(first.started)}, commit {commit_cell(first)})"


def _from_entries(
    store: ProjectStore, label: str, entries: Sequence[ParentEntry], only: Container[str] | None
) -> Snapshot:
    if only is not None:
        entries = [e for e in entries if e.hypothesis in only]
    verdicts = store.verdicts(entries)
    sessions = {v.session_id for v in verdicts}
    if len(sessions) == 1 and verdicts:
        label = f"{label}: {_session_label(verdicts)}" if label else _session_label(verdicts)
    elif not label:
        label = f"{len(sessions)} sessions"
    return Snapshot(label, {v.hypothesis: v for v in verdicts})


def _previous(index: Sequence[ParentEntry]) -> list[ParentEntry]:
    by_hyp: dict[str, list[ParentEntry]] = {}
    for entry in index:
        if entry.ran_cases:
            by_hyp.setdefault(entry.hypothesis, []).append(entry)
    return [runs[-2] for runs in by_hyp.values() if len(runs) > 1]


def _sessions_matching(index: Sequence[ParentEntry], prefix: str) -> list[str]:
    ids = dict.fromkeys(e.session_id for e in index if e.session_id)
    if prefix in ids:
        return [prefix]
    return [s for s in ids if s.startswith(prefix.lower())]


def _commit_of(project: Project, ref: str) -> str | None:
    return run_git(project.root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")


def _at_commit(index: Sequence[ParentEntry], sha: str) -> list[ParentEntry]:
    return list(latest_entries(e for e in index if e.commit.startswith(sha.lower())).values())


def _from_report(text: str, only: Container[str] | None) -> Snapshot:
    results, meta = load_report_json(Path(text))
    verdicts = {r.id: SessionVerdict.from_result(r, meta) for r in results}
    if only is not None:
        verdicts = {k: v for k, v in verdicts.items() if k in only}
    return Snapshot(f"report {text}", verdicts)


def snapshot(
    project: Project,
    selector: str,
    store: Callable[[], ProjectStore],
    only: Container[str] | None = None,
) -> Snapshot:
    """The side ``selector`` names (see the module docstring), of the
    hypotheses in ``only`` when given; ``store`` opens the tracking store
    when the side is read from it."""
    kind, _, value = selector.partition(":")
    if kind not in ("session", "commit", "report") or not value:
        kind, value = "", selector
    if kind == "report" or (not kind and (value.endswith(".json") or Path(value).is_dir())):
        return _from_report(value, only)
    index = store().require()
    if not kind and value == "latest":
        return _from_entries(store(), "latest", list(latest_entries(index).values()), only)
    if not kind and value == "previous":
        entries = _previous(index)
        if not entries:
            raise CliError("no hypothesis has run in two sessions yet: nothing to compare")
        return _from_entries(store(), "previous", entries, only)
    sessions = _sessions_matching(index, value) if kind in ("", "session") else []
    sha = None
    if kind in ("", "commit"):
        sha = value.lower() if _HEX.match(value) else _commit_of(project, value)
    at_commit = _at_commit(index, sha) if sha else []
    if len(sessions) > 1:
        raise CliError(f"{value!r} matches {len(sessions)} sessions: give more characters")
    if sessions and at_commit:
        raise CliError(
            f"{value!r} names a session and a commit: write session:{value} or commit:{value}"
        )
    if sessions:
        ran = [e for e in index if e.session_id == sessions[0] and e.ran_cases]
        return _from_entries(store(), "", ran, only)
    if at_commit:
        return _from_entries(store(), f"commit {value}", at_commit, only)
    raise CliError(
        f"{selector!r} is no session, commit or report.json recorded for this project "
        "(try 'grd history HYP_ID' for session ids)"
    )
