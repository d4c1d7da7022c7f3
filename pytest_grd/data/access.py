"""Resolve a target at a git revision to local bytes, and say where they came from.

A :class:`DataStore` serves one repository (the DVC repository that holds the
pytest rootdir, or the rootdir itself when there is none) in one process.  It
uses DVC's Python API: the target's ``.dvc`` file (read from the working tree
or from git at the revision), ``DVCFileSystem`` for outputs of ``dvc.yaml``
stages and files inside tracked directories, the repository's local cache, and
``DataCloud.pull`` to fetch what the cache lacks from the default remote.

Workers only read: a fetch runs under an inter-process lock and re-checks the
cache first, so under xdist the first worker fetches and the others find the
data in the cache.  Nothing here imports pytest; DVC is imported on first use.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import uuid
from collections.abc import Hashable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from ..outcomes import DataInvalid
from .cache import FrameCache, append_fetch_log, fetch_lock
from .readers import copy_frame

__all__ = ["DataStore", "Resolved", "find_dvc_root", "SOURCES"]

#: Where bytes came from: the working tree, a local store (DVC cache or git's
#: object database), or a DVC remote fetched from for this access.
SOURCES = ("cache", "remote", "workspace")


def _one_line(text: object, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def missing(message: str) -> DataInvalid:
    """The error for data that cannot be found (the case becomes INCONCLUSIVE)."""
    return DataInvalid("data missing: " + _one_line(message, 400))


def find_dvc_root(start: Path) -> Path | None:
    """The closest directory at or above ``start`` that holds a ``.dvc``
    directory (what ``dvc.repo.Repo.find_root`` finds, without importing DVC)."""
    for directory in (start, *start.parents):
        if (directory / ".dvc").is_dir():
            return directory
    return None


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
class _Tracked:
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


def _label(target: str, rev: str | None) -> str:
    return target if rev is None else f"{target}@{rev}"


def _file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link a cache object (instant, and read-only like the cache); copy
    when the cache is on another filesystem."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
        os.chmod(dst, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


class DataStore:
    """Per-process access to one repository's versioned data."""

    def __init__(self, rootdir: Path, max_frames: int = 8) -> None:
        self.rootdir = rootdir.resolve()
        self.root = find_dvc_root(self.rootdir)
        #: Targets are relative to the DVC repository root (else the rootdir).
        self.base = self.root or self.rootdir
        self.frames = FrameCache(copy_frame, max_entries=max_frames)
        self._repo: Any = None
        self._shas: dict[str, str] = {}
        self._git_prefix: str | None = None
        self._dvcfs: dict[str | None, Any] = {}
        self._resolved: dict[tuple[str, str], Resolved] = {}
        self._hashes: dict[tuple[str, int, int, int, str], str] = {}
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
        return self.grd_dir / "fetch.lock"

    @property
    def fetch_log_path(self) -> Path:
        """One line per fetch from a remote: time, pid, target, rev, md5, files."""
        return self.grd_dir / "fetches.log"

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

    # -- DVC and git -------------------------------------------------------

    @property
    def repo(self) -> Any:
        if self._repo is None:
            from dvc.repo import Repo

            self._repo = Repo(str(self.root))
        return self._repo

    def _sha(self, rev: str) -> str:
        sha = self._shas.get(rev)
        if sha is None:
            try:
                sha = str(self.repo.scm.resolve_rev(rev))
            except Exception as exc:  # scmrepo's RevError, or no git at all
                raise missing(
                    f"unknown revision {rev!r} in {self.root}: {_one_line(exc)}"
                ) from None
            self._shas[rev] = sha
        return sha

    def _head(self) -> str | None:
        try:
            return str(self.repo.scm.get_rev())
        except Exception:  # no commit yet
            return None

    def _fs(self, sha: str | None) -> Any:
        fs = self._dvcfs.get(sha)
        if fs is None:
            from dvc.api import DVCFileSystem

            fs = DVCFileSystem(str(self.root), rev=sha)
            self._dvcfs[sha] = fs
        return fs

    def _git_path(self, rel: str) -> str:
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

    def _read_text(self, rel: str, sha: str | None) -> str | None:
        """A small file (a ``.dvc`` file) from the working tree or git at ``sha``."""
        if sha is None:
            path = self.base / rel
            return path.read_text(encoding="utf-8") if path.is_file() else None
        gitfs = self.repo.scm.get_fs(sha)
        if not gitfs.isfile(self._git_path(rel)):
            return None
        return bytes(gitfs.cat_file(self._git_path(rel))).decode("utf-8")

    def _tracked(self, rel: str, sha: str | None, rev: str | None) -> _Tracked | None:
        """What DVC records for ``rel`` at ``sha`` (``None``: not DVC-tracked)."""
        dvcfile = rel + ".dvc"
        where = "the working tree" if sha is None else f"{rev} ({sha[:10]})"
        text = self._read_text(dvcfile, sha)
        if text is not None:
            return _parse_dvcfile(text, dvcfile, PurePosixPath(rel).name, where)
        if self._in_git(rel, sha):
            return None  # git keeps it, so DVC does not (its outputs are git-ignored)
        # Outputs of dvc.yaml stages and files inside tracked directories:
        # only DVC's index knows them.
        try:
            info = self._fs(sha).info(rel)
        except FileNotFoundError:
            return None
        except Exception as exc:  # a corrupt .dvc / dvc.yaml / dvc.lock elsewhere
            if not self._may_be_output(rel, sha):
                return None  # nothing could track it: the corrupt file concerns others
            raise missing(
                f"cannot tell whether {rel} is DVC-tracked at {where}: corrupt DVC metadata: "
                f"{_one_line(exc)}"
            ) from None
        dvc_info = info.get("dvc_info") or {}
        md5 = info.get("md5") or dvc_info.get("md5")
        if not md5:
            return None
        entry = dvc_info.get("entry")
        hash_info = getattr(entry, "hash_info", None)
        legacy = getattr(hash_info, "name", "md5") == "md5-dos2unix"
        size = dvc_info.get("size") or info.get("size")
        return _Tracked(md5=str(md5), size=int(size) if size is not None else None, legacy=legacy)

    def _in_git(self, rel: str, sha: str | None) -> bool:
        try:
            if sha is None:
                return bool(self.repo.scm.is_tracked(self._git_path(rel)))
            return bool(self.repo.scm.get_fs(sha).exists(self._git_path(rel)))
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
                if self._read_text(candidate, sha) is not None:
                    return True
            except Exception:  # unreadable: assume it might track rel
                return True
        return False

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
                    f"{_label(rel, rev)}: a revision needs a git + DVC repository, and "
                    f"{self.rootdir} is not inside one (run `dvc init`)"
                )
            return self._untracked(rel)
        if rev is None:
            return self._workspace(rel)
        sha = self._sha(rev)
        known = self._resolved.get((rel, sha))
        if known is not None:
            # Already fetched/materialized in this process: now served locally.
            source = "cache" if known.source == "remote" else known.source
            return replace(known, rev_requested=rev, source=source)
        tracked = self._tracked(rel, sha, rev)
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
            size=_tree_size(path) if isdir else st.st_size,
            source="workspace",
            versioned=False,
            isdir=isdir,
            identity=identity,
        )

    def _workspace(self, rel: str) -> Resolved:
        tracked = self._tracked(rel, None, None)
        path = self.base / rel
        head = self._head()
        if tracked is None:
            resolved = self._untracked(rel)
            md5 = self._git_unchanged(rel, path, head) if not resolved.isdir else None
            if md5 is None:
                return resolved
            return replace(resolved, md5=md5, versioned=True, rev_resolved=head)
        if not path.exists():
            # Tracked but not checked out: the recorded version, from the cache.
            return self._from_cache(rel, None, head, tracked)
        actual = self._workspace_hash(path, tracked)
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
        if head is None:
            return None
        try:
            gitfs = self.repo.scm.get_fs(head)
            if not gitfs.isfile(rel):
                return None
            committed = hashlib.md5(bytes(gitfs.cat_file(rel))).hexdigest()
        except Exception:  # not a git repository: simply unversioned
            return None
        return committed if committed == self._hash_file(path, "md5") else None

    def _hash_file(self, path: Path, name: str) -> str:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size, st.st_ino, name)
        digest = self._hashes.get(key)
        if digest is None:
            if name == "md5":
                digest = _file_md5(path)
            else:
                from dvc_data.hashfile.hash import file_md5

                digest = str(file_md5(str(path), name=name))
            self._hashes[key] = digest
        return digest

    def _workspace_hash(self, path: Path, tracked: _Tracked) -> str:
        """DVC's hash of the bytes in the working tree (``<md5>.dir`` for a directory)."""
        if not path.is_dir():
            return self._hash_file(path, tracked.hash_name)
        from dvc_data.hashfile.hash_info import HashInfo
        from dvc_data.hashfile.meta import Meta
        from dvc_data.hashfile.tree import Tree

        tree = Tree()  # type: ignore[no-untyped-call]
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            key = tuple(file.relative_to(path).parts)
            md5 = self._hash_file(file, tracked.hash_name)
            tree.add(key, Meta(size=file.stat().st_size), HashInfo(tracked.hash_name, md5))
        tree.digest()
        return str(tree.hash_info.value)

    # -- the cache and the remote -----------------------------------------

    def _odb(self, tracked: _Tracked) -> Any:
        cache = self.repo.cache
        return cache.legacy if tracked.legacy else cache.local

    def _entries(self, odb: Any, tracked: _Tracked) -> list[tuple[tuple[str, ...], str]] | None:
        """(relative parts, md5) of a directory's files; ``None`` when the
        ``.dir`` listing itself is not in the cache."""
        from dvc_data.hashfile.hash_info import HashInfo
        from dvc_data.hashfile.tree import Tree

        if not os.path.exists(odb.oid_to_path(tracked.md5)):
            return None
        tree = Tree.load(odb, HashInfo(tracked.hash_name, tracked.md5))
        return [(tuple(key), str(hi.value)) for key, _meta, hi in tree]

    def _in_cache(self, odb: Any, tracked: _Tracked) -> bool:
        if not tracked.isdir:
            return os.path.exists(odb.oid_to_path(tracked.md5))
        entries = self._entries(odb, tracked)
        return entries is not None and all(
            os.path.exists(odb.oid_to_path(md5)) for _key, md5 in entries
        )

    def _from_cache(
        self, rel: str, rev: str | None, sha: str | None, tracked: _Tracked
    ) -> Resolved:
        odb = self._odb(tracked)
        source = "cache"
        if not self._in_cache(odb, tracked):
            with fetch_lock(self.lock_path):
                # Another worker may have fetched while we waited for the lock.
                if not self._in_cache(odb, tracked):
                    self._fetch(rel, rev, tracked, odb)
                    source = "remote"
        return Resolved(
            target=rel,
            path=self._materialize(odb, tracked, PurePosixPath(rel).name),
            rev_requested=rev,
            rev_resolved=sha,
            md5=tracked.md5,
            size=tracked.size,
            source=source,
            versioned=True,
            isdir=tracked.isdir,
            identity=("md5", tracked.md5),
        )

    def _remote_name(self, rel: str, rev: str | None, tracked: _Tracked) -> str:
        config = self.repo.config
        remotes = dict(config.get("remote", {}))
        default = config.get("core", {}).get("remote")
        pull = f"dvc pull {rel}" if rev is None else f"git checkout {rev} && dvc pull {rel}"
        if not remotes:
            raise missing(
                f"{_label(rel, rev)} (md5 {tracked.md5}) is not in the DVC cache and no DVC "
                f"remote is configured; add one (`dvc remote add -d NAME URL`) and run `{pull}`"
            )
        if default:
            return str(default)
        if len(remotes) == 1:
            return str(next(iter(remotes)))
        raise missing(
            f"{_label(rel, rev)} (md5 {tracked.md5}) is not in the DVC cache and no default "
            f"DVC remote is set among {sorted(remotes)}; run `dvc remote default NAME` and `{pull}`"
        )

    def _fetch(self, rel: str, rev: str | None, tracked: _Tracked, odb: Any) -> None:
        """Copy the objects of ``tracked`` from the default remote into the cache.

        The *working tree's* remote configuration is used (what ``dvc pull``
        would use now), so data tagged before a remote was added can be fetched.
        """
        from dvc_data.hashfile.hash_info import HashInfo

        name = self._remote_name(rel, rev, tracked)
        pull = f"dvc pull {rel}" if rev is None else f"git checkout {rev} && dvc pull {rel}"
        try:
            self.repo.cloud.pull([HashInfo(tracked.hash_name, tracked.md5)], remote=name)
            nfiles = 1
            if tracked.isdir:
                entries = self._entries(odb, tracked) or []
                objs = {HashInfo(tracked.hash_name, md5) for _key, md5 in entries}
                self.repo.cloud.pull(objs, remote=name)
                nfiles = len(entries)
        except DataInvalid:
            raise
        except Exception as exc:  # unreachable remote, bad credentials, ...
            raise missing(
                f"{_label(rel, rev)} (md5 {tracked.md5}) is not in the DVC cache and fetching "
                f"it from remote {name!r} failed: {_one_line(exc, 200)}; try `{pull}`"
            ) from None
        if not self._in_cache(odb, tracked):
            raise missing(
                f"{_label(rel, rev)} (md5 {tracked.md5}) is neither in the DVC cache nor on "
                f"remote {name!r}; run `dvc push {rel}` where it was produced, then `{pull}`"
            )
        append_fetch_log(self.fetch_log_path, rel, rev, tracked.md5, nfiles)

    def _materialize(self, odb: Any, tracked: _Tracked, basename: str) -> Path:
        """A path whose file name is the target's (readers infer formats and
        compression from it), hard-linked to the cache objects, read-only."""
        final = self.grd_dir / "objects" / tracked.md5
        dest = final / basename
        if dest.exists():
            return dest
        tmp = self.grd_dir / "objects" / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            if tracked.isdir:
                for key, md5 in self._entries(odb, tracked) or []:
                    _link_or_copy(Path(odb.oid_to_path(md5)), tmp.joinpath(basename, *key))
                (tmp / basename).mkdir(parents=True, exist_ok=True)
            else:
                _link_or_copy(Path(odb.oid_to_path(tracked.md5)), tmp / basename)
            self._publish(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if not dest.exists():
            # Same object, another file name (two targets with equal bytes).
            return self._materialize_alias(final, dest, odb, tracked)
        return dest

    def _materialize_alias(self, final: Path, dest: Path, odb: Any, tracked: _Tracked) -> Path:
        tmp = final / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            if tracked.isdir:
                for key, md5 in self._entries(odb, tracked) or []:
                    _link_or_copy(Path(odb.oid_to_path(md5)), tmp.joinpath(*key))
                tmp.mkdir(parents=True, exist_ok=True)
            else:
                _link_or_copy(Path(odb.oid_to_path(tracked.md5)), tmp)
            with contextlib.suppress(OSError):  # another process won the race
                os.rename(tmp, dest)
        finally:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            elif tmp.exists():
                tmp.unlink()
        return dest

    @staticmethod
    def _publish(tmp: Path, final: Path) -> None:
        """Atomically move a fully built directory into place (the first
        process wins; the others' identical copies are discarded)."""
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.exists():
                raise

    def _from_git(self, rel: str, rev: str, sha: str) -> Resolved:
        """A file kept in git itself (not DVC) at a revision."""
        gitfs = self.repo.scm.get_fs(sha)
        where = f"{rev} ({sha[:10]})"
        rel_git = self._git_path(rel)
        if not gitfs.exists(rel_git):
            raise missing(f"{rel} does not exist at {where}: neither DVC- nor git-tracked there")
        if gitfs.isdir(rel_git):
            raise missing(
                f"{rel} at {where} is a git-tracked directory; track data directories with "
                "`dvc add` to read them at a revision"
            )
        data = bytes(gitfs.cat_file(rel_git))
        md5 = hashlib.md5(data).hexdigest()
        final = self.grd_dir / "objects" / md5
        dest = final / PurePosixPath(rel).name
        if not dest.exists():
            tmp = self.grd_dir / "objects" / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            try:
                tmp.mkdir(parents=True)
                (tmp / dest.name).write_bytes(data)
                self._publish(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            if not dest.exists():
                final.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
        return Resolved(
            target=rel,
            path=dest,
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


def _parse_dvcfile(text: str, dvcfile: str, basename: str, where: str) -> _Tracked:
    """The output of a ``.dvc`` file, or a one-line 'corrupt .dvc file' error."""
    from dvc.utils.serialize import parse_yaml

    def corrupt(why: str) -> DataInvalid:
        return missing(f"corrupt .dvc file {dvcfile} at {where}: {why}")

    try:
        data = parse_yaml(text, dvcfile)
    except Exception as exc:
        cause = exc.__cause__ or exc
        raise corrupt(_one_line(cause, 160)) from None
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
    return _Tracked(md5=md5, size=size, legacy=legacy)
