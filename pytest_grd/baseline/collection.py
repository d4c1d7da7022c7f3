"""What a session collected: enough to tell a hypothesis that is gone from
one that was only left out of the run.

Pure logic: no pytest import.  The pytest side (items collected here, the
summaries xdist workers send through ``workeroutput``) lives in
:mod:`pytest_grd.baseline.plugin`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["Collection", "collection_roots"]


@dataclass
class Collection:
    """What this session collected.

    ``collected`` maps every hypothesis id collected (before ``-k``/``-m``
    deselection) to its case names; ``selected`` holds the case names that
    were selected to run; ``roots`` are the paths the session collected from
    (relative to the rootdir, POSIX).  ``known`` is False when nothing is
    known (every xdist worker crashed before reporting).
    """

    collected: dict[str, list[str]] = field(default_factory=dict)
    selected: set[str] = field(default_factory=set)
    roots: list[str] = field(default_factory=lambda: ["."])
    known: bool = True

    def covers(self, file: str) -> bool:
        """Whether ``file`` lies under a path this session collected from:
        a hypothesis recorded there would have been collected if it existed."""
        if not file:
            return True
        path = PurePosixPath(file)
        for root in self.roots:
            if root in ("", "."):
                return True
            r = PurePosixPath(root)
            if path == r or r in path.parents:
                return True
        return False

    def is_gone(self, hypothesis: str, file: str) -> bool:
        """Recorded hypothesis ``hypothesis`` no longer exists: it was not
        collected though its file lies under what the session collected."""
        return self.known and hypothesis not in self.collected and self.covers(file)

    def case_is_gone(self, hypothesis: str, case: str) -> bool:
        """Recorded case ``case`` of a collected hypothesis no longer exists."""
        return self.known and case not in self.collected.get(hypothesis, ())

    def any_selected(self, hypothesis: str) -> bool:
        """Whether a case of ``hypothesis`` was selected to run."""
        return any(name in self.selected for name in self.collected.get(hypothesis, ()))

    def merge(self, other: Mapping[str, Any]) -> None:
        """Add a worker's collection (as sent through ``workeroutput``)."""
        for hypothesis, names in other.get("collected", {}).items():
            known = self.collected.setdefault(hypothesis, [])
            known.extend(n for n in names if n not in known)
        self.selected.update(other.get("selected", []))

    def to_dict(self) -> dict[str, Any]:
        """The plain form :meth:`merge` reads (what a worker sends)."""
        return {"collected": self.collected, "selected": sorted(self.selected)}


def collection_roots(args: Iterable[str], invocation_dir: Path, rootpath: Path) -> list[str]:
    """The paths a session collected from (its file or directory arguments),
    relative to the rootdir, POSIX; ``["."]`` when it names none there."""
    root = rootpath.resolve()
    roots: list[str] = []
    for arg in args:
        path = (invocation_dir / arg.split("::", 1)[0]).resolve()
        try:
            roots.append(path.relative_to(root).as_posix())
        except ValueError:
            continue  # outside the rootdir: no baseline entry can live there
    return roots or ["."]
