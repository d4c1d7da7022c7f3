"""How far a session's journal has been sent to a store, and what is left.

Standard library only: the controller reads it at the end of a session (how
many runs are pending) without importing MLflow; the replayer
(:mod:`.replay`) writes it after each round it sent whole.

``state.<store>.json`` in the session's journal folder holds, per store: the
offset reached in each journal file, the case runs opened and not yet ended,
the parents ended, and whether the session's ``session_end`` was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .journal import journal_files, read_json, read_lines, write_json
from .registry import store_name

__all__ = ["ReplayState", "pending_runs"]


@dataclass
class ReplayState:
    """What one store has received of a session's journal."""

    path: Path
    offsets: dict[str, int] = field(default_factory=dict)
    #: Case runs opened in the store and not ended: key -> ``{hyp, name}``.
    open: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Parent runs made: hypothesis -> ``{claim, scale}``; and those ended.
    parents: dict[str, dict[str, str]] = field(default_factory=dict)
    ended_parents: list[str] = field(default_factory=list)
    session_end: bool = False
    #: Runs the store refused something of: key -> the first problem.
    notes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path, uri: str) -> ReplayState:
        path = directory / f"state.{store_name(uri)}.json"
        data = read_json(path)
        return cls(
            path=path,
            offsets={str(k): int(v) for k, v in (data.get("offsets") or {}).items()},
            open=dict(data.get("open") or {}),
            parents=dict(data.get("parents") or {}),
            ended_parents=list(data.get("ended_parents") or []),
            session_end=bool(data.get("session_end")),
            notes=dict(data.get("notes") or {}),
        )

    def save(self) -> None:
        data: dict[str, Any] = {
            "offsets": self.offsets,
            "open": self.open,
            "parents": self.parents,
            "ended_parents": self.ended_parents,
            "session_end": self.session_end,
            "notes": self.notes,
        }
        write_json(self.path, data)


def pending_runs(directory: Path, uri: str) -> int:
    """How many runs of the session the store does not have whole yet: those
    with journal lines past what was sent, and those opened but not ended."""
    state = ReplayState.load(directory, uri)
    keys: set[str] = set(state.open)
    for path in journal_files(directory):
        for entry, _ in read_lines(path, state.offsets.get(path.name, 0)):
            key = entry.get("key") or (
                f"parent:{entry['hyp']}" if entry.get("op") == "end_parent" else None
            )
            if key:
                keys.add(str(key))
    return len(keys)
