"""Revision resolution: git revisions, and what DVC records for a target at one.

:class:`Revisions` serves one DVC repository in one process.  It resolves
revisions to commits, reads small files (``.dvc`` files, ``dvc.lock``) from
the working tree or from git at a commit, and looks up the md5 DVC records for
a target: from its ``.dvc`` file, or from ``DVCFileSystem`` for outputs of
``dvc.yaml`` stages and files inside tracked directories.  DVC is imported on
first use; nothing here fetches or writes bytes (see :mod:`.materialize`).
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path, PurePosixPath
from typing import Any

from ..outcomes import DataInvalid
from ..text import one_line
from .resolved import Tracked, missing

__all__ = ["Revisions", "parse_dvcfile"]


class Revisions:
    """Git and DVC metadata of one repository, resolved once per process."""

    def __init__(self, root: Path | None, base: Path) -> None:
        #: The DVC repository root (``None``: there is none, nothing here is used).
        self.root = root
        #: What targets are relative to; the working tree's files are read there.
        self.base = base
        self._repo: Any = None
        self._shas: dict[str, str] = {}
        self._git_prefix: str | None = None
        self._dvcfs: dict[str | None, Any] = {}

    @property
    def repo(self) -> Any:
        """The ``dvc.repo.Repo``, opened on first use."""
        if self._repo is None:
            from dvc.repo import Repo

            self._repo = Repo(str(self.root))
        return self._repo

    def sha(self, rev: str) -> str:
        """The commit ``rev`` names, or a one-line 'unknown revision' error."""
        sha = self._shas.get(rev)
        if sha is None:
            try:
                sha = str(self.repo.scm.resolve_rev(rev))
            except Exception as exc:  # scmrepo's RevError, or no git at all
                raise missing(f"unknown revision {rev!r} in {self.root}: {one_line(exc)}") from None
            self._shas[rev] = sha
        return sha

    def head(self) -> str | None:
        """The commit checked out (``None``: no commit yet)."""
        try:
            return str(self.repo.scm.get_rev())
        except Exception:  # no commit yet
            return None

    def dvcfs(self, sha: str | None) -> Any:
        """A ``DVCFileSystem`` at ``sha`` (``None``: the working tree)."""
        fs = self._dvcfs.get(sha)
        if fs is None:
            from dvc.api import DVCFileSystem

            fs = DVCFileSystem(str(self.root), rev=sha)
            self._dvcfs[sha] = fs
        return fs

    def git_path(self, rel: str) -> str:
        """``rel`` (relative to the DVC root) as git's tree names it: a DVC
        project made with ``dvc init --subdir`` sits below the git top level."""
        prefix = self._git_prefix
        if prefix is None:
            try:
                top = Path(self.repo.scm.root_dir).resolve()
                prefix = PurePosixPath(Path(str(self.root)).resolve().relative_to(top)).as_posix()
            except Exception:  # no git repository: nothing to prefix
                prefix = "."
            self._git_prefix = prefix
        return rel if prefix in ("", ".") else f"{prefix}/{rel}"

    def read_text(self, rel: str, sha: str | None) -> str | None:
        """A small file (a ``.dvc`` file) from the working tree or git at ``sha``."""
        if sha is None:
            path = self.base / rel
            return path.read_text(encoding="utf-8") if path.is_file() else None
        gitfs = self.repo.scm.get_fs(sha)
        if not gitfs.isfile(self.git_path(rel)):
            return None
        return bytes(gitfs.cat_file(self.git_path(rel))).decode("utf-8")

    def tracked(self, rel: str, sha: str | None, rev: str | None) -> Tracked | None:
        """What DVC records for ``rel`` at ``sha`` (``None``: not DVC-tracked)."""
        dvcfile = rel + ".dvc"
        where = "the working tree" if sha is None else f"{rev} ({sha[:10]})"
        text = self.read_text(dvcfile, sha)
        if text is not None:
            return parse_dvcfile(text, dvcfile, PurePosixPath(rel).name, where)
        if self.in_git(rel, sha):
            return None  # git keeps it, so DVC does not (its outputs are git-ignored)
        # Outputs of dvc.yaml stages and files inside tracked directories:
        # only DVC's index knows them.
        try:
            info = self.dvcfs(sha).info(rel)
        except FileNotFoundError:
            return None
        except Exception as exc:  # a corrupt .dvc / dvc.yaml / dvc.lock elsewhere
            if not self._may_be_output(rel, sha):
                return None  # nothing could track it: the corrupt file concerns others
            raise missing(
                f"cannot tell whether {rel} is DVC-tracked at {where}: corrupt DVC metadata: "
                f"{one_line(exc)}"
            ) from None
        dvc_info = info.get("dvc_info") or {}
        md5 = info.get("md5") or dvc_info.get("md5")
        if not md5:
            return None
        entry = dvc_info.get("entry")
        hash_info = getattr(entry, "hash_info", None)
        legacy = getattr(hash_info, "name", "md5") == "md5-dos2unix"
        size = dvc_info.get("size") or info.get("size")
        return Tracked(md5=str(md5), size=int(size) if size is not None else None, legacy=legacy)

    def in_git(self, rel: str, sha: str | None) -> bool:
        """Whether git tracks ``rel`` (in the index, or in the tree at ``sha``)."""
        try:
            if sha is None:
                return bool(self.repo.scm.is_tracked(self.git_path(rel)))
            return bool(self.repo.scm.get_fs(sha).exists(self.git_path(rel)))
        except Exception:  # no git repository, or no commit yet
            return False

    def _may_be_output(self, rel: str, sha: str | None) -> bool:
        """Whether a ``.dvc`` file of a parent directory or a ``dvc.lock``
        next to one could track ``rel`` (asked when DVC's index cannot load)."""
        parents = list(PurePosixPath(rel).parents)
        candidates = [f"{p}.dvc" for p in parents if str(p) != "."]
        candidates += [str(p / "dvc.lock") if str(p) != "." else "dvc.lock" for p in parents]
        for candidate in candidates:
            try:
                if self.read_text(candidate, sha) is not None:
                    return True
            except Exception:  # unreadable: assume it might track rel
                return True
        return False

    def git_file(self, rel: str, rev: str, sha: str) -> bytes:
        """The bytes of a file kept in git itself (not DVC) at a revision."""
        gitfs = self.repo.scm.get_fs(sha)
        where = f"{rev} ({sha[:10]})"
        rel_git = self.git_path(rel)
        if not gitfs.exists(rel_git):
            raise missing(f"{rel} does not exist at {where}: neither DVC- nor git-tracked there")
        if gitfs.isdir(rel_git):
            raise missing(
                f"{rel} at {where} is a git-tracked directory; track data directories with "
                "`dvc add` to read them at a revision"
            )
        return bytes(gitfs.cat_file(rel_git))

    def committed_md5(self, rel: str, head: str | None) -> str | None:
        """The md5 of the file ``rel`` as committed at ``head`` (``None``: no
        such file, no commit, or no git repository)."""
        if head is None:
            return None
        try:
            gitfs = self.repo.scm.get_fs(head)
            if not gitfs.isfile(rel):
                return None
            return hashlib.md5(bytes(gitfs.cat_file(rel))).hexdigest()
        except Exception:  # not a git repository: simply unversioned
            return None

    def close(self) -> None:
        """Release the DVC file systems and the repository (best effort)."""
        for fs in self._dvcfs.values():
            close = getattr(getattr(fs, "fs", None), "close", None)
            if callable(close):
                with contextlib.suppress(Exception):  # best effort
                    close()
        self._dvcfs.clear()
        if self._repo is not None:
            with contextlib.suppress(Exception):  # best effort
                self._repo.close()
            self._repo = None


def parse_dvcfile(text: str, dvcfile: str, basename: str, where: str) -> Tracked:
    """The output of a ``.dvc`` file, or a one-line 'corrupt .dvc file' error."""
    from dvc.utils.serialize import parse_yaml

    def corrupt(why: str) -> DataInvalid:
        return missing(f"corrupt .dvc file {dvcfile} at {where}: {why}")

    try:
        data = parse_yaml(text, dvcfile)
    except Exception as exc:
        cause = exc.__cause__ or exc
        raise corrupt(one_line(cause, 160)) from None
    outs = data.get("outs") if isinstance(data, dict) else None
    if not isinstance(outs, list) or not outs:
        raise corrupt("no 'outs' list")
    named = [o for o in outs if isinstance(o, dict) and Path(str(o.get("path"))).name == basename]
    chosen = named[0] if named else (outs[0] if len(outs) == 1 else None)
    if not isinstance(chosen, dict):
        raise corrupt(f"no output named {basename!r}")
    md5 = chosen.get("md5")
    if not isinstance(md5, str) or len(md5.removesuffix(".dir")) != 32:
        raise corrupt(f"missing or malformed md5 {md5!r}")
    size = chosen.get("size")
    if size is not None and not isinstance(size, int):
        raise corrupt(f"malformed size {size!r}")
    legacy = chosen.get("hash") != "md5"
    return Tracked(md5=md5, size=size, legacy=legacy)
