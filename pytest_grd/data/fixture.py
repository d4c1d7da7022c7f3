"""The ``grd_data`` fixture's object: versioned, validated data with lineage."""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, cast

import pytest

from ..keys import CASE_KEY
from ..outcomes import DataInvalid
from ..text import one_line
from .datasets import Dataset

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

    from ..case import Case
    from .access import DataStore, Resolved

__all__ = ["DEFAULT_CONTEXT", "DataAccess", "data_access_for"]

Target = str | os.PathLike[str] | Dataset

#: How a case uses the data it reads, unless it says (MLflow's dataset
#: context: ``training``, ``evaluation``, ``testing``, ...).
DEFAULT_CONTEXT = "training"
#: MLflow keeps an input tag value up to this many characters.
_MAX_CONTEXT = 500


def _options_key(options: Mapping[str, Any]) -> Hashable:
    return tuple(sorted((k, repr(v)) for k, v in options.items()))


class DataAccess:
    """What a test gets from ``grd_data``.

    Every access (:meth:`path`, :meth:`open`, :meth:`load`) appends one entry
    to the running case's ``record.lineage``, with the ``context`` the access
    names (``"training"`` unless it says); outside a hypothesis the data is
    served the same way and nothing is recorded.  Targets are paths relative
    to the DVC repository root (the rootdir when there is none), names declared
    in ``grd_datasets``, or :class:`~pytest_grd.data.Dataset` objects.
    """

    def __init__(
        self, store: DataStore, datasets: Mapping[str, Dataset], case: Case | None = None
    ) -> None:
        self._store = store
        self._datasets = dict(datasets)
        self._case = case
        #: Entries recorded through this object, in order.
        self.lineage: list[dict[str, Any]] = []

    @property
    def root(self) -> Path:
        """The directory targets are relative to."""
        return self._store.base

    def dataset(self, name: str) -> Dataset:
        """The dataset declared as ``name`` in ``grd_datasets``."""
        try:
            return self._datasets[name]
        except KeyError:
            known = ", ".join(sorted(self._datasets)) or "none"
            raise KeyError(
                f"no dataset named {name!r} in grd_datasets (declared: {known})"
            ) from None

    # -- access ------------------------------------------------------------

    def path(
        self, target: Target, rev: str | None = None, *, context: str = DEFAULT_CONTEXT
    ) -> Path:
        """A local path to ``target`` (file or directory) as of ``rev``.

        Treat it as read-only: versioned bytes are hard links into DVC's cache.
        ``context`` says how the case uses the data (``"training"``,
        ``"evaluation"``, ...): it is recorded in the lineage entry and is the
        MLflow dataset input's context.
        """
        __tracebackhide__ = True  # errors point at the test, not at pytest-grd
        context = _check_context(context)
        dataset = self._dataset(target)
        resolved = self._resolve(dataset, rev)
        self._record(resolved, None, None, context)
        return resolved.path

    def open(
        self,
        target: Target,
        rev: str | None = None,
        mode: str = "r",
        *,
        context: str = DEFAULT_CONTEXT,
        **kwargs: Any,
    ) -> IO[Any]:
        """Open ``target`` as of ``rev`` for reading (``"r"`` or ``"rb"``);
        ``context`` as for :meth:`path`."""
        __tracebackhide__ = True  # errors point at the test, not at pytest-grd
        if any(flag in mode for flag in "wax+"):
            raise ValueError(f"grd_data opens data read-only; mode {mode!r} would write")
        context = _check_context(context)
        dataset = self._dataset(target)
        resolved = self._resolve(dataset, rev)
        if resolved.isdir:
            raise IsADirectoryError(f"{resolved.target} is a directory; use grd_data.path()")
        self._record(resolved, None, None, context)
        return open(resolved.path, mode, **kwargs)

    def load(
        self,
        target: Target,
        rev: str | None = None,
        schema: Any = None,
        *,
        format: str | None = None,
        context: str = DEFAULT_CONTEXT,
        **read_options: Any,
    ) -> pd.DataFrame:
        """``target`` as of ``rev`` as a pandas DataFrame (CSV, TSV, Parquet,
        JSON, JSON lines; compressed too), validated with ``schema`` (a pandera
        ``DataFrameSchema`` or ``DataFrameModel``) when one is given.

        ``read_options`` go to the pandas reader.  Repeated loads of the same
        bytes with the same options and schema are served from memory, as a
        copy: mutating the frame never affects another case.  A schema failure
        makes the case INCONCLUSIVE ("data invalid: ...") even if the test
        catches the :class:`~pytest_grd.outcomes.DataInvalid` it raises.
        ``context`` as for :meth:`path`.
        """
        __tracebackhide__ = True  # errors point at the test, not at pytest-grd
        from .readers import infer_format, read_frame
        from .schema import SchemaFailed, schema_name, validate

        context = _check_context(context)
        dataset = self._dataset(target)
        schema = schema if schema is not None else dataset.schema
        options = {**dataset.read_options, **read_options}
        resolved = self._resolve(dataset, rev)
        fmt = format or infer_format(resolved.target)
        if fmt is None:
            raise ValueError(
                f"cannot tell the format of {resolved.target}; pass format='csv', 'tsv', "
                "'parquet', 'json' or 'jsonl'"
            )
        name = schema_name(schema)
        store = self._store
        key = None
        if resolved.identity is not None:
            key = (resolved.identity, fmt, _options_key(options), _schema_key(store, schema))
            failure = store.failures.get(key)
            if failure is not None:
                self._fail(resolved, name, failure, context)
            cached = store.frames.get(key)
            if cached is not None:
                self._record(resolved, name, "passed" if schema is not None else None, context)
                return cast("pd.DataFrame", cached)
        try:
            frame = read_frame(resolved.path, fmt, options)
        except (OSError, ValueError, ImportError) as exc:
            self._record(resolved, name, "failed" if schema is not None else None, context)
            raise DataInvalid(
                f"data unreadable: {_label(resolved)} as {fmt}: {type(exc).__name__}: "
                + one_line(exc, 200)
            ) from None
        if schema is not None:
            try:
                frame = validate(frame, schema)
            except SchemaFailed as failed:
                reason = f"data invalid: {_label(resolved)} ({name}): {failed.summary}"
                if key is not None:
                    store.failures[key] = reason
                self._fail(resolved, name, reason, context)
        self._record(resolved, name, "passed" if schema is not None else None, context)
        if key is None:
            return frame
        return cast("pd.DataFrame", store.frames.put(key, frame))

    # -- internals ---------------------------------------------------------

    def _dataset(self, target: Target) -> Dataset:
        if isinstance(target, Dataset):
            return target
        if isinstance(target, str) and target in self._datasets:
            return self._datasets[target]
        return Dataset(os.fspath(target))

    def _resolve(self, dataset: Dataset, rev: str | None) -> Resolved:
        __tracebackhide__ = True
        rev = rev if rev is not None else dataset.rev
        try:
            return self._store.resolve(dataset.target, rev)
        except DataInvalid as exc:
            raise DataInvalid(exc.reason) from None  # drop pytest-grd's frames
        except Exception as exc:  # anything DVC raises: one line, not a traceback
            where = dataset.target if rev is None else f"{dataset.target}@{rev}"
            raise DataInvalid(
                f"data missing: cannot read {where}: {type(exc).__name__}: " + one_line(exc, 200)
            ) from None

    def _record(
        self, resolved: Resolved, schema: str | None, validation: str | None, context: str
    ) -> None:
        entry = {**resolved.lineage(schema, validation), "context": context}
        self.lineage.append(entry)
        if self._case is not None:
            self._case.record.lineage.append(dict(entry))

    def _fail(self, resolved: Resolved, schema: str | None, reason: str, context: str) -> NoReturn:
        __tracebackhide__ = True
        self._record(resolved, schema, "failed", context)
        if self._case is not None:
            # Even if the test swallows the exception, no decisive verdict.
            self._case.force_inconclusive(reason)
        raise DataInvalid(reason)


def _check_context(context: Any) -> str:
    """``context`` if it is a usable dataset context, else ValueError."""
    __tracebackhide__ = True
    if not isinstance(context, str) or not context.strip() or len(context) > _MAX_CONTEXT:
        raise ValueError(
            "grd_data: context must be a non-empty string such as 'training' or "
            f"'evaluation' (at most {_MAX_CONTEXT} characters), got {context!r}"
        )
    return context.strip()


def _label(resolved: Resolved) -> str:
    rev = resolved.rev_requested
    return resolved.target if rev is None else f"{resolved.target}@{rev}"


def _schema_key(store: DataStore, schema: Any) -> Hashable:
    if schema is None:
        return None
    # Keep the schema alive so its id is never reused by another object.
    store.schemas[id(schema)] = schema
    return id(schema)


def data_access_for(request: pytest.FixtureRequest) -> DataAccess:
    """Build the ``grd_data`` object for the requesting test."""
    from .plugin import DataPlugin

    plugin = request.config.pluginmanager.get_plugin("grd-data")
    if not isinstance(plugin, DataPlugin):
        raise pytest.UsageError("grd_data needs pytest-grd's data plugin (grd-data)")
    case = request.node.stash.get(CASE_KEY, None)
    return DataAccess(plugin.store, plugin.datasets, case)
