"""``grd sync``: send what sessions left in the tracking journal to the store.

A session leaves runs in ``.grd/journal/`` when it ran ``--grd-offline``,
when the store was locked, slow or gone at its end, or when it was killed.
``grd sync`` sends each such session's journal (:class:`~pytest_grd.tracking
.replay.Replayer`: idempotent, so running it again never makes a second run),
ends the runs a killed session left RUNNING as KILLED (INCONCLUSIVE), and
removes the journal once the session's own store has all of it.  A session
still running is left to its own writer.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..tracking.journal import journal_root, read_json, session_is_live
from .project import CliError, Project, find_project

__all__ = ["SyncResult", "sync_project", "sync_root", "sync_session"]


@dataclass(frozen=True)
class SyncResult:
    session: str
    lines: int
    killed: int
    pruned: bool


def _uri(project: Project, directory: Path, override: str | None) -> tuple[str, bool]:
    """Where to send a session: ``--tracking-uri``, else the session's own
    store (unless its password was redacted from the journal), else the
    project's; and whether that is the session's own store."""
    if override:
        return project.tracking_uri(override), False
    recorded = str(read_json(directory / "session.json").get("uri") or "")
    if recorded and ":***@" not in recorded:
        return recorded, True
    return project.tracking_uri(), True


def sync_session(
    project: Project, directory: Path, override: str | None, timeout: float
) -> SyncResult:
    """Send one session's journal; :class:`CliError` when the store cannot take it."""
    from ..tracking.replay import Replayer, StoreDown
    from ..tracking.settings import TrackingSettings, TrackingUnavailable
    from ..tracking.store import TrackingStore

    meta = read_json(directory / "session.json")
    session_id = str(meta.get("session_id") or directory.name)
    uri, own = _uri(project, directory, override)
    experiment = str(meta.get("experiment") or project.experiment)
    store = TrackingStore(TrackingSettings(uri=uri, source="", experiment=experiment), timeout)
    try:
        store.prepare(timeout)
        replayer = Replayer(store, directory, session_id)
        lines = 0
        while sent := replayer.step():
            lines += sent
        state = replayer.state
        killed = 0
        if state.open or not state.session_end:
            reason = (
                "the session was killed before this run ended"
                if not state.session_end
                else "the session ended before this run did"
            )
            killed = replayer.end_leftovers(reason)
    except (StoreDown, TrackingUnavailable) as exc:
        raise CliError(f"session {session_id}: {exc}; nothing lost, run grd sync again") from None
    pruned = own and replayer.done()
    if pruned:
        shutil.rmtree(directory, ignore_errors=True)
    return SyncResult(session_id, lines, killed, pruned)


def sync_root(start: Path) -> Project:
    """The project to sync: the one containing ``start``, or else the
    nearest folder, upwards, with a journal (pytest's rootdir need not have
    an ini file)."""
    try:
        return find_project(start)
    except CliError:
        for directory in (start.resolve(), *start.resolve().parents):
            if journal_root(directory).is_dir():
                return Project(root=directory)
        raise


def sync_project(project: Project, args: argparse.Namespace) -> list[str]:
    """Sync every finished session in the project's journal (or ``--session``)."""
    root = journal_root(project.root)
    sessions = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if args.session:
        sessions = [p for p in sessions if p.name.startswith(args.session)]
        if not sessions:
            raise CliError(f"no journal of session {args.session!r} in {root}")
    lines: list[str] = []
    for directory in sessions:
        if session_is_live(directory):
            lines.append(f"{directory.name}: still running; its own writer sends it")
            continue
        result = sync_session(project, directory, args.tracking_uri, args.timeout)
        said = f"{result.session}: sent {result.lines} journal line(s)"
        if result.killed:
            said += f", ended {result.killed} run(s) left RUNNING as KILLED"
        said += "; journal removed" if result.pruned else "; journal kept"
        lines.append(said)
    if not lines:
        lines.append(f"nothing to send: no journal in {root}")
    return lines
