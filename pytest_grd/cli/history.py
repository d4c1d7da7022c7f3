"""``grd history HYP_ID`` and the history column of ``grd status``: how a
claim's verdict and evidence moved from session to session, commit to commit.

Pure logic: rows in, lines out.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

from ..tracking.query import ParentEntry
from .effects import metric_text, p_text, pick_metrics, stat_text
from .store import SessionVerdict

__all__ = ["evidence_cell", "flips", "history_lines", "letter", "trail_text"]

#: One letter per verdict in a trail.
LETTERS = {"VALIDATED": "V", "REJECTED": "R", "INCONCLUSIVE": "I", "MEASURED": "M"}
TRAIL_LIMIT = 12
TRAIL_LEGEND = (
    "history: one letter per session that ran it, oldest first "
    "(V validated, R rejected, I inconclusive, M measured, . still running); "
    "'grd history HYP_ID' shows each session's evidence"
)


def letter(verdict: str) -> str:
    """``V``, ``R``, ``I``, ``M``; ``.`` for a session without a verdict yet."""
    return LETTERS.get(verdict, ".")


def trail_text(entries: Sequence[ParentEntry], limit: int = TRAIL_LIMIT) -> str:
    """``RVVV``: the verdict of each session that ran the hypothesis, oldest
    first; the last ``limit`` sessions, after ``…`` when there were more."""
    letters = [letter(e.verdict) for e in entries if e.ran_cases]
    shown = "".join(letters[-limit:])
    return ("…" + shown) if len(letters) > limit else shown


def when(seconds: float) -> str:
    """Local date and time, to the minute."""
    if not seconds:
        return "?"
    return _dt.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M")


def commit_cell(verdict: SessionVerdict) -> str:
    """``a1b2c3d4e5f6`` (``*`` when the tree had uncommitted changes)."""
    if not verdict.commit:
        return "-"
    return verdict.commit[:12] + ("*" if verdict.dirty else "")


def evidence_cell(verdict: SessionVerdict, metric: str | None = None) -> str:
    """What the session's verdict rested on: the statistic (and the mean of
    its metric) when decided by one, else the mean of two metrics over the
    cases; ``metric`` chooses the metric shown."""
    parts = [p for p in (p_text(verdict.stats), stat_text(verdict.stats)) if p]
    if metric:
        names = [metric] if metric in verdict.metrics else []
        if not names:
            parts.append(f"{metric}: not logged")
    elif parts and verdict.stats:
        deciding = str(verdict.stats.get("metric") or "")
        names = [deciding] if deciding in verdict.metrics else []
    else:
        names = pick_metrics(verdict.metrics, (), 2)
    parts += [f"{name} {metric_text(verdict.metrics[name])}" for name in names]
    return "; ".join(parts) or "-"


def flips(verdicts: Sequence[SessionVerdict]) -> list[int]:
    """Indices of the sessions whose verdict differs from the session before
    (sessions still running are skipped)."""
    out = []
    previous: str | None = None
    for i, verdict in enumerate(verdicts):
        if verdict.verdict not in LETTERS:
            continue
        if previous is not None and verdict.verdict != previous:
            out.append(i)
        previous = verdict.verdict
    return out


def _table(verdicts: Sequence[SessionVerdict], metric: str | None) -> list[str]:
    flipped = set(flips(verdicts))
    rows = [("date", "session", "commit", "verdict", "cases", "evidence")]
    for i, v in enumerate(verdicts):
        mark = "  <- flipped" if i in flipped else ""
        rows.append(
            (
                when(v.started),
                v.session_id[:8] or "-",
                commit_cell(v),
                v.verdict,
                str(v.n_cases),
                evidence_cell(v, metric) + mark,
            )
        )
    widths = [max(len(row[c]) for row in rows) for c in range(5)]
    return [
        "  " + "  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row[:5])) + "  " + row[5]
        for row in rows
    ]


def _summary(verdicts: Sequence[SessionVerdict]) -> str:
    commits = {v.commit for v in verdicts if v.commit}
    changed = flips(verdicts)
    noun = "session" if len(verdicts) == 1 else "sessions"
    text = f"{len(verdicts)} {noun} at {len(commits)} commit{'s' if len(commits) != 1 else ''}"
    if not changed:
        return text + "; the verdict never changed"
    last = changed[-1]
    before = next(
        v.verdict for v in reversed(verdicts[:last]) if v.verdict in LETTERS
    )  # flips() guarantees one
    after = verdicts[last]
    times = "once" if len(changed) == 1 else f"{len(changed)} times"
    return (
        f"{text}; the verdict changed {times}, last {before} -> {after.verdict} "
        f"in session {after.session_id[:8]} ({when(after.started)}, commit {commit_cell(after)})"
    )


def history_lines(
    hypothesis: str,
    verdicts: Sequence[SessionVerdict],
    declared: bool | None,
    metric: str | None = None,
) -> list[str]:
    """The ``grd history`` text: the claim, whether the code still declares
    it, one row per session (oldest first) and a summary line."""
    claim = next((" ".join(v.claim.split()) for v in reversed(verdicts) if v.claim), "")
    lines = [f"{hypothesis}: {claim or '(no claim declared)'}"]
    if declared is False:
        lines.append("  removed from the code: no test or notebook declares it any more")
    elif declared is None:
        lines.append("  (could not check whether the code still declares it)")
    lines += _table(verdicts, metric)
    lines.append(_summary(verdicts))
    return lines
