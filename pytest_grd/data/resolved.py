"""What resolving a target yields, and the one-line error when it cannot be had.

:class:`Resolved` is a target at a revision as local bytes, with its lineage;
:class:`Tracked` is what DVC records for a target at a revision.  Shared by
:mod:`.revisions`, :mod:`.materialize` and :mod:`.access`.  Pure logic: no
pytest, DVC or pandas import.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..outcomes import DataInvalid
from ..text import one_line

__all__ = ["SOURCES", "Resolved", "Tracked", "label", "missing"]

#: Where bytes came from: the working tree, a local store (DVC cache or git's
#: object database), or a DVC remote fetched from for this access.
SOURCES = ("cache", "remote", "workspace")


def missing(message: str) -> DataInvalid:
    """The error for data that cannot be found (the case becomes INCONCLUSIVE)."""
    return DataInvalid("data missing: " + one_line(message, 400))


def label(target: str, rev: str | None) -> str:
    """``target@rev`` (just ``target`` for the working tree)."""
    return target if rev is None else f"{target}@{rev}"


@dataclass(frozen=True)
class Resolved:
    """A target at a revision, as local bytes, with its lineage."""

    target: str
    path: Path
    rev_requested: str | None
    rev_resolved: str | None
    md5: str | None
    size: int | None
    source: str
    versioned: bool
    isdir: bool
    #: What identifies the bytes for the in-memory frame cache (``None``: do not cache).
    identity: Hashable | None = None

    def lineage(self, schema: str | None, validation: str | None) -> dict[str, Any]:
        """The lineage entry of one access (the keys the tracking plugin logs)."""
        return {
            "target": self.target,
            "path": str(self.path),
            "rev_requested": self.rev_requested,
            "rev_resolved": self.rev_resolved,
            "md5": self.md5,
            "size": self.size,
            "source": self.source,
            "versioned": self.versioned,
            "schema": schema,
            "validation": validation,
        }


@dataclass(frozen=True)
class Tracked:
    """What DVC records for a target at a revision."""

    md5: str
    size: int | None
    legacy: bool  # DVC 2 ``md5-dos2unix`` hash, kept in the legacy cache layout

    @property
    def isdir(self) -> bool:
        return self.md5.endswith(".dir")

    @property
    def hash_name(self) -> str:
        return "md5-dos2unix" if self.legacy else "md5"
