"""Readers that turn a local file into a pandas DataFrame (pandas imported on use)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

__all__ = ["FORMATS", "infer_format", "read_frame", "copy_frame"]

#: Suffix -> format understood by :func:`read_frame`.
FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_COMPRESSION = {".gz", ".bz2", ".zip", ".xz", ".zst", ".tar"}


def infer_format(target: str) -> str | None:
    """The format of ``target`` from its suffix (compression suffixes skipped)."""
    suffixes = [s.lower() for s in Path(target).suffixes]
    while suffixes and suffixes[-1] in _COMPRESSION:
        suffixes.pop()
    return FORMATS.get(suffixes[-1]) if suffixes else None


def read_frame(path: Path, fmt: str, options: Mapping[str, Any]) -> pd.DataFrame:
    """Read ``path`` (a file, or a directory of Parquet files) as ``fmt``."""
    import pandas as pd  # type: ignore[import-untyped]

    opts = dict(options)
    # The options are known only at run time, so the stubs' read_csv/read_json
    # overloads (a frame, or a chunk reader for ``iterator``/``chunksize``) give
    # Any: a frame is what these readers are for.
    if fmt == "csv":
        return cast("pd.DataFrame", pd.read_csv(path, **opts))
    if fmt == "tsv":
        opts.setdefault("sep", "\t")
        return cast("pd.DataFrame", pd.read_csv(path, **opts))
    if fmt == "parquet":
        return pd.read_parquet(path, **opts)
    if fmt == "json":
        return cast("pd.DataFrame", pd.read_json(path, **opts))
    if fmt == "jsonl":
        opts.setdefault("lines", True)
        return cast("pd.DataFrame", pd.read_json(path, **opts))
    raise ValueError(f"unknown format {fmt!r}; expected one of {sorted(set(FORMATS.values()))}")


def copy_frame(frame: Any) -> Any:
    """A copy that shields the cached frame from the caller's mutations.

    pandas >= 3 always copies on write, so a shallow copy is enough and
    costs nothing up front; older pandas needs a deep copy.
    """
    import pandas as pd  # type: ignore[import-untyped]

    if int(pd.__version__.split(".")[0]) >= 3:
        return frame.copy(deep=False)
    return frame.copy(deep=True)
