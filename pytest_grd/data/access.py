"""Resolve a target at a git revision to local bytes, and say where they came from.

A :class:`DataStore` serves one repository (the DVC repository that holds the
pytest rootdir, or the rootdir itself when there is none) in one process.  It
decides where a target's bytes come from and records their lineage; the work
is done by:

* :mod:`.revisions`: git revisions and what DVC records for a target at one
  (its ``.dvc`` file, or ``DVCFileSystem`` for outputs of ``dvc.yaml`` stages
  and files inside tracked directories);
* :mod:`.hashing`: hashes of working-tree bytes, to tell whether they are a
  version DVC or git knows;
* :mod:`.materialize`: the repository's local cache, ``DataCloud.pull`` from
  the default remote for what it lacks (once, under an inter-process lock),
  and read-only local paths to the bytes.

Nothing here imports pytest; DVC is imported on first use.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from .cache import FrameCache
from .hashing import FileHashes, tree_size
from .materialize import Materializer
from .readers import copy_frame
from .resolved import SOURCES, Resolved, Tracked, label, missing
from .revisions import Revisions

__all__ = ["DataStore", "Resolved", "find_dvc_root", "SOURCES"]


def find_dvc_root(start: Path) -> Path | None:
    """The closest directory at or above ``start`` that holds a ``.dvc``
    directory (what ``dvc.repo.Repo.find_root`` finds, without importing DVC)."""
    for directory in (start, *start.parents):
        if (directory / ".dvc").is_dir():
            return directory
    return None


class DataStore:
    """Per-process access to one repository's versioned data."""

    def __init__(self, rootdir: Path, max_frames: int = 8) -> None:
        self.rootdir = rootdir.resolve()
        self.root = find_dvc_root(self.rootdir)
        #: Targets are relative to the DVC repository root (else the rootdir).
        self.base = self.root or self.rootdir
        self.frames = FrameCache(copy_frame, max_entries=max_frames)
        self.revisions = Revisions(self.root, self.base)
        self.materializer = Materializer(self.grd_dir)
        self._hashes = FileHashes()
        self._resolved: dict[tuple[str, str], Resolved] = {}
        #: Schemas used as frame-cache keys (by id; kept alive so ids stay unique).
        self.schemas: dict[int, Any] = {}
        #: Schema failure reasons by frame-cache key: a repeat fails fast.
        self.failures: dict[Hashable, str] = {}

    # -- paths -----------------------------------------------------------

    @property
    def grd_dir(self) -> Path:
        """pytest-grd's scratch space inside the repository (``.dvc/tmp`` is
        git-ignored by ``dvc init``)."""
        return (self.root or self.rootdir) / ".dvc" / "tmp" / "grd"

    @property
    def lock_path(self) -> Path:
        return self.materializer.lock_path

    @property
    def fetch_log_path(self) -> Path:
        """One line per fetch from a remote: time, pid, target, rev, md5, files."""
        return self.materializer.fetch_log_path

    @property
    def repo(self) -> Any:
        """The ``dvc.repo.Repo``, opened on first use."""
        return self.revisions.repo

    def relative(self, target: str | os.PathLike[str]) -> str:
        """``target`` as a POSIX path relative to :attr:`base`."""
        raw = os.fspath(target)
        path = Path(raw)
        if path.is_absolute():
            try:
                rel = PurePosixPath(path.resolve().relative_to(self.base).as_posix())
            except ValueError:
                raise missing(f"{raw} is outside the repository {self.base}") from None
        else:
            rel = PurePosixPath(os.path.normpath(raw).replace(os.sep, "/"))
        if not rel.parts or rel.parts[0] == ".." or str(rel) == ".":
            raise missing(f"{raw!r} does not name a file or directory inside {self.base}")
        return str(rel)

    # -- resolution --------------------------------------------------------

    def resolve(self, target: str | os.PathLike[str], rev: str | None = None) -> Resolved:
        """Local bytes of ``target`` at ``rev`` (``None``: the working tree).

        Raises :class:`~pytest_grd.outcomes.DataInvalid` with a one-line
        ``data missing: ...`` reason when the data cannot be had.
        """
        rel = self.relative(target)
        if self.root is None:
            if rev is not None:
                raise missing(
                    f"{label(rel, rev)}: a revision needs a git + DVC repository, and "
                    f"{self.rootdir} is not inside one (run `dvc init`)"
                )
            return self._untracked(rel)
        if rev is None:
            return self._workspace(rel)
        sha = self.revisions.sha(rev)
        known = self._resolved.get((rel, sha))
        if known is not None:
            # Already fetched/materialized in this process: now served locally.
            source = "cache" if known.source == "remote" else known.source
            return replace(known, rev_requested=rev, source=source)
        tracked = self.revisions.tracked(rel, sha, rev)
        if tracked is not None:
            resolved = self._from_cache(rel, rev, sha, tracked)
        else:
            resolved = self._from_git(rel, rev, sha)
        self._resolved[(rel, sha)] = resolved
        return resolved

    def _untracked(self, rel: str, detail: str = "") -> Resolved:
        path = self.base / rel
        if not path.exists():
            tracked_by = "tracked by DVC" if self.root is not None else "in a DVC repository"
            raise missing(f"{rel} is neither {tracked_by} nor present in {self.base}{detail}")
        isdir = path.is_dir()
        st = path.stat()
        identity = None if isdir else ("file", str(path), st.st_mtime_ns, st.st_size, st.st_ino)
        return Resolved(
            target=rel,
            path=path,
            rev_requested=None,
            rev_resolved=None,
            md5=None,
            size=tree_size(path) if isdir else st.st_size,
            source="workspace",
            versioned=False,
            isdir=isdir,
            identity=identity,
        )

    def _workspace(self, rel: str) -> Resolved:
        tracked = self.revisions.tracked(rel, None, None)
        path = self.base / rel
        head = self.revisions.head()
        if tracked is None:
            resolved = self._untracked(rel)
            md5 = self._git_unchanged(rel, path, head) if not resolved.isdir else None
            if md5 is None:
                return resolved
            return replace(resolved, md5=md5, versioned=True, rev_resolved=head)
        if not path.exists():
            # Tracked but not checked out: the recorded version, from the cache.
            return self._from_cache(rel, None, head, tracked)
        actual = self._hashes.workspace(path, tracked.hash_name)
        if actual != tracked.md5:
            # Edited since `dvc add`: these bytes are no version DVC knows.
            return self._untracked(rel)
        return Resolved(
            target=rel,
            path=path,
            rev_requested=None,
            rev_resolved=head,
            md5=tracked.md5,
            size=tracked.size,
            source="workspace",
            versioned=True,
            isdir=tracked.isdir,
            identity=("md5", tracked.md5),
        )

    def _git_unchanged(self, rel: str, path: Path, head: str | None) -> str | None:
        """The md5 of a git-tracked file that matches HEAD (``None`` otherwise)."""
        committed = self.revisions.committed_md5(rel, head)
        if committed is None:
            return None
        return committed if committed == self._hashes.file(path, "md5") else None

    def _from_cache(self, rel: str, rev: str | None, sha: str | None, tracked: Tracked) -> Resolved:
        """A DVC-tracked target, from the cache (pulled into it when it lacks it)."""
        path, source = self.materializer.from_cache(self.repo, rel, rev, tracked)
        return Resolved(
            target=rel,
            path=path,
            rev_requested=rev,
            rev_resolved=sha,
            md5=tracked.md5,
            size=tracked.size,
            source=source,
            versioned=True,
            isdir=tracked.isdir,
            identity=("md5", tracked.md5),
        )

    def _from_git(self, rel: str, rev: str, sha: str) -> Resolved:
        """A file kept in git itself (not DVC) at a revision."""
        data = self.revisions.git_file(rel, rev, sha)
        path, md5 = self.materializer.from_bytes(data, PurePosixPath(rel).name)
        return Resolved(
            target=rel,
            path=path,
            rev_requested=rev,
            rev_resolved=sha,
            md5=md5,
            size=len(data),
            source="cache",
            versioned=True,
            isdir=False,
            identity=("md5", md5),
        )

    def close(self) -> None:
        """Release the DVC repository and forget cached frames."""
        self.frames.clear()
        self.revisions.close()
