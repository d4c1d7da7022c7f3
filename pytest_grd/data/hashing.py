"""Hashes of bytes in the working tree, as DVC computes them, remembered per process.

A file's hash is kept by (path, mtime, size, inode, hash name), so a file
edited during the session is hashed again.  ``dvc_data`` is imported only for
DVC 2's ``md5-dos2unix`` hash and for directory digests.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["FileHashes", "file_md5", "tree_size"]


def file_md5(path: Path) -> str:
    """The plain md5 of a file's bytes."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_size(path: Path) -> int:
    """The total size of the files below a directory."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class FileHashes:
    """Per-process memory of working-tree hashes."""

    def __init__(self) -> None:
        self._hashes: dict[tuple[str, int, int, int, str], str] = {}

    def file(self, path: Path, name: str) -> str:
        """The ``name`` hash (``md5`` or ``md5-dos2unix``) of a file."""
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size, st.st_ino, name)
        digest = self._hashes.get(key)
        if digest is None:
            if name == "md5":
                digest = file_md5(path)
            else:
                from dvc_data.hashfile.hash import file_md5 as dvc_file_md5

                digest = str(dvc_file_md5(str(path), name=name))
            self._hashes[key] = digest
        return digest

    def workspace(self, path: Path, name: str) -> str:
        """DVC's hash of the bytes in the working tree (``<md5>.dir`` for a directory)."""
        if not path.is_dir():
            return self.file(path, name)
        from dvc_data.hashfile.hash_info import HashInfo
        from dvc_data.hashfile.meta import Meta
        from dvc_data.hashfile.tree import Tree

        tree = Tree()  # type: ignore[no-untyped-call]
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            key = tuple(file.relative_to(path).parts)
            md5 = self.file(file, name)
            tree.add(key, Meta(size=file.stat().st_size), HashInfo(name, md5))
        tree.digest()
        return str(tree.hash_info.value)
