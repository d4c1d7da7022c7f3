"""Materialization: bytes into DVC's cache (pulled once) and onto a local path.

:class:`Materializer` owns pytest-grd's scratch space in a repository.  What
the DVC cache lacks is pulled from the default remote under an inter-process
lock that re-checks the cache first, so under xdist the first worker fetches
and the others find the data in the cache.  Cache objects are then hard-linked
(read-only) under ``objects/<md5>/<file name>`` so readers can infer formats
and compression from the name; bytes read from git are written there too.
DVC is imported on first use.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from ..outcomes import DataInvalid
from ..text import one_line
from .cache import append_fetch_log, fetch_lock
from .resolved import Tracked, label, missing

__all__ = ["Materializer", "cache_entries", "in_cache", "link_or_copy"]


def _odb(repo: Any, tracked: Tracked) -> Any:
    cache = repo.cache
    return cache.legacy if tracked.legacy else cache.local


def cache_entries(odb: Any, tracked: Tracked) -> list[tuple[tuple[str, ...], str]] | None:
    """(relative parts, md5) of a directory's files; ``None`` when the
    ``.dir`` listing itself is not in the cache."""
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.tree import Tree

    if not os.path.exists(odb.oid_to_path(tracked.md5)):
        return None
    tree = Tree.load(odb, HashInfo(tracked.hash_name, tracked.md5))
    return [(tuple(key), str(hi.value)) for key, _meta, hi in tree]


def in_cache(odb: Any, tracked: Tracked) -> bool:
    """Whether every object of ``tracked`` is in the cache ``odb``."""
    if not tracked.isdir:
        return os.path.exists(odb.oid_to_path(tracked.md5))
    entries = cache_entries(odb, tracked)
    return entries is not None and all(
        os.path.exists(odb.oid_to_path(md5)) for _key, md5 in entries
    )


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link a cache object (instant, and read-only like the cache); copy
    when the cache is on another filesystem."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
        os.chmod(dst, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _publish(tmp: Path, final: Path) -> None:
    """Atomically move a fully built directory into place (the first
    process wins; the others' identical copies are discarded)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(tmp, final)
    except OSError:
        if not final.exists():
            raise


def _pull_hint(rel: str, rev: str | None) -> str:
    return f"dvc pull {rel}" if rev is None else f"git checkout {rev} && dvc pull {rel}"


def _remote_name(repo: Any, rel: str, rev: str | None, tracked: Tracked) -> str:
    """The remote ``dvc pull`` would use now, or a one-line error saying how to set one."""
    config = repo.config
    remotes = dict(config.get("remote", {}))
    default = config.get("core", {}).get("remote")
    pull = _pull_hint(rel, rev)
    if not remotes:
        raise missing(
            f"{label(rel, rev)} (md5 {tracked.md5}) is not in the DVC cache and no DVC "
            f"remote is configured; add one (`dvc remote add -d NAME URL`) and run `{pull}`"
        )
    if default:
        return str(default)
    if len(remotes) == 1:
        return str(next(iter(remotes)))
    raise missing(
        f"{label(rel, rev)} (md5 {tracked.md5}) is not in the DVC cache and no default "
        f"DVC remote is set among {sorted(remotes)}; run `dvc remote default NAME` and `{pull}`"
    )


class Materializer:
    """Local, read-only paths to versioned bytes, under ``grd_dir``."""

    def __init__(self, grd_dir: Path) -> None:
        #: pytest-grd's scratch space inside the repository.
        self.grd_dir = grd_dir

    @property
    def objects_dir(self) -> Path:
        return self.grd_dir / "objects"

    @property
    def lock_path(self) -> Path:
        return self.grd_dir / "fetch.lock"

    @property
    def fetch_log_path(self) -> Path:
        """One line per fetch from a remote: time, pid, target, rev, md5, files."""
        return self.grd_dir / "fetches.log"

    def _tmp(self, parent: Path) -> Path:
        return parent / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def from_cache(
        self, repo: Any, rel: str, rev: str | None, tracked: Tracked
    ) -> tuple[Path, str]:
        """A path to ``tracked``'s bytes and where they came from (``"cache"``,
        or ``"remote"`` when this call pulled them into the cache)."""
        odb = _odb(repo, tracked)
        source = "cache"
        if not in_cache(odb, tracked):
            with fetch_lock(self.lock_path):
                # Another worker may have fetched while we waited for the lock.
                if not in_cache(odb, tracked):
                    self._fetch(repo, rel, rev, tracked, odb)
                    source = "remote"
        return self._materialize(odb, tracked, PurePosixPath(rel).name), source

    def _fetch(self, repo: Any, rel: str, rev: str | None, tracked: Tracked, odb: Any) -> None:
        """Copy the objects of ``tracked`` from the default remote into the cache.

        The *working tree's* remote configuration is used (what ``dvc pull``
        would use now), so data tagged before a remote was added can be fetched.
        """
        from dvc_data.hashfile.hash_info import HashInfo

        name = _remote_name(repo, rel, rev, tracked)
        pull = _pull_hint(rel, rev)
        try:
            repo.cloud.pull([HashInfo(tracked.hash_name, tracked.md5)], remote=name)
            nfiles = 1
            if tracked.isdir:
                entries = cache_entries(odb, tracked) or []
                objs = {HashInfo(tracked.hash_name, md5) for _key, md5 in entries}
                repo.cloud.pull(objs, remote=name)
                nfiles = len(entries)
        except DataInvalid:
            raise
        except Exception as exc:  # unreachable remote, bad credentials, ...
            raise missing(
                f"{label(rel, rev)} (md5 {tracked.md5}) is not in the DVC cache and fetching "
                f"it from remote {name!r} failed: {one_line(exc, 200)}; try `{pull}`"
            ) from None
        if not in_cache(odb, tracked):
            raise missing(
                f"{label(rel, rev)} (md5 {tracked.md5}) is neither in the DVC cache nor on "
                f"remote {name!r}; run `dvc push {rel}` where it was produced, then `{pull}`"
            )
        append_fetch_log(self.fetch_log_path, rel, rev, tracked.md5, nfiles)

    def _materialize(self, odb: Any, tracked: Tracked, basename: str) -> Path:
        """A path whose file name is the target's (readers infer formats and
        compression from it), hard-linked to the cache objects, read-only."""
        final = self.objects_dir / tracked.md5
        dest = final / basename
        if dest.exists():
            return dest
        tmp = self._tmp(self.objects_dir)
        try:
            if tracked.isdir:
                for key, md5 in cache_entries(odb, tracked) or []:
                    link_or_copy(Path(odb.oid_to_path(md5)), tmp.joinpath(basename, *key))
                (tmp / basename).mkdir(parents=True, exist_ok=True)
            else:
                link_or_copy(Path(odb.oid_to_path(tracked.md5)), tmp / basename)
            _publish(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if not dest.exists():
            # Same object, another file name (two targets with equal bytes).
            return self._materialize_alias(final, dest, odb, tracked)
        return dest

    def _materialize_alias(self, final: Path, dest: Path, odb: Any, tracked: Tracked) -> Path:
        tmp = self._tmp(final)
        try:
            if tracked.isdir:
                for key, md5 in cache_entries(odb, tracked) or []:
                    link_or_copy(Path(odb.oid_to_path(md5)), tmp.joinpath(*key))
                tmp.mkdir(parents=True, exist_ok=True)
            else:
                link_or_copy(Path(odb.oid_to_path(tracked.md5)), tmp)
            with contextlib.suppress(OSError):  # another process won the race
                os.rename(tmp, dest)
        finally:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            elif tmp.exists():
                tmp.unlink()
        return dest

    def from_bytes(self, data: bytes, basename: str) -> tuple[Path, str]:
        """A path named ``basename`` holding ``data`` (bytes read from git), and their md5."""
        md5 = hashlib.md5(data).hexdigest()
        final = self.objects_dir / md5
        dest = final / basename
        if not dest.exists():
            tmp = self._tmp(self.objects_dir)
            try:
                tmp.mkdir(parents=True)
                (tmp / dest.name).write_bytes(data)
                _publish(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            if not dest.exists():
                final.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
        return dest, md5
