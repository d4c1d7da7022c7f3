"""Named datasets: declared once, used by many hypotheses.

Two ways to name a dataset, both resolved by ``grd_data``:

* in the ini file, one ``name = target[@rev]`` per line of ``grd_datasets``;
* in Python, a :class:`Dataset` object (``TRAIN = Dataset("data/train.csv",
  rev="v1", schema=TrainSchema)``) kept in a ``conftest.py`` or a module.

Pure logic: no pytest, DVC or pandas import.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Dataset", "DatasetError", "parse_datasets", "split_rev"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class DatasetError(ValueError):
    """A dataset declaration that cannot be understood (one line, says where)."""


@dataclass(frozen=True)
class Dataset:
    """A target (file or directory, relative to the repository root) at a git
    revision, with the schema its rows must satisfy and the reader's options.

    ``rev=None`` means the working tree as it is.  Pass a :class:`Dataset`
    wherever ``grd_data`` takes a target; explicit arguments override its
    fields (``grd_data.load(TRAIN, rev="v2")``).
    """

    target: str
    rev: str | None = None
    schema: Any = None
    read_options: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None

    def at(self, rev: str | None) -> Dataset:
        """The same dataset at another revision."""
        return replace(self, rev=rev)

    def __str__(self) -> str:
        spec = self.target if self.rev is None else f"{self.target}@{self.rev}"
        return f"{self.name} ({spec})" if self.name else spec


def split_rev(spec: str) -> tuple[str, str | None]:
    """``"data/train.csv@v1"`` -> ``("data/train.csv", "v1")``; no ``@``: rev ``None``."""
    target, sep, rev = spec.strip().rpartition("@")
    if not sep:
        return spec.strip(), None
    if not target.strip() or not rev.strip():
        raise DatasetError(f"{spec.strip()!r}: expected target@rev")
    return target.strip(), rev.strip()


def parse_datasets(lines: Iterable[str], where: str = "grd_datasets") -> dict[str, Dataset]:
    """Parse ``name = target[@rev]`` lines (blank lines and ``#`` comments are
    skipped).  Raises :class:`DatasetError` naming the bad line."""
    out: dict[str, Dataset] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, spec = line.partition("=")
        name = name.strip()
        if not sep or not spec.strip():
            raise DatasetError(f"{where} line {number}: {line!r}: expected 'name = target[@rev]'")
        if not _NAME.match(name):
            raise DatasetError(f"{where} line {number}: {name!r} is not a valid dataset name")
        if name in out:
            raise DatasetError(f"{where} line {number}: dataset {name!r} is declared twice")
        try:
            target, rev = split_rev(spec)
        except DatasetError as exc:
            raise DatasetError(f"{where} line {number}: {exc}") from None
        out[name] = Dataset(target=target, rev=rev, name=name)
    return out
