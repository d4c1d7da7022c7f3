"""pandera validation and the one-line summary of what failed.

:func:`summarize_failures` is pure (it takes plain rows, as
``SchemaErrors.failure_cases.to_dict("records")`` gives them) so it is
unit-tested without pandera; :func:`validate` imports pandera only when a
schema is actually given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..text import one_line

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]

__all__ = ["SchemaFailed", "schema_name", "summarize_failures", "validate"]

#: Failing values shown per (column, check).
VALUES_SHOWN = 3
#: Longest summary kept (it becomes a verdict reason: one line).
SUMMARY_LIMIT = 400


class SchemaFailed(Exception):
    """Data failed its schema; ``summary`` is the one-line description."""

    def __init__(self, summary: str) -> None:
        super().__init__(summary)
        self.summary = summary


def schema_name(schema: Any) -> str | None:
    """The name lineage records: a ``DataFrameModel``'s class name, a
    ``DataFrameSchema``'s ``name`` (or its class name when unnamed)."""
    if schema is None:
        return None
    if isinstance(schema, type):
        return schema.__name__
    name = getattr(schema, "name", None)
    return str(name) if name else type(schema).__name__


def _value(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 30 else text[:29] + "…"


def summarize_failures(rows: Iterable[Mapping[str, Any]]) -> str:
    """One line naming every failed check: ``column: check (n failing: v1, v2, v3, …)``.

    Rows are pandera failure cases (keys ``schema_context``, ``column``,
    ``check``, ``failure_case``); checks keep their first-seen order.
    """
    groups: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        context = str(row.get("schema_context") or "")
        column = row.get("column")
        # DataFrame-level checks (a missing column, strictness) name the schema
        # in ``column``; the failing "value" is then the column concerned.
        label = "" if context == "DataFrameSchema" or column is None else str(column)
        groups.setdefault((label, str(row.get("check"))), []).append(row.get("failure_case"))
    parts = []
    for (column, check), values in groups.items():
        shown = ", ".join(_value(v) for v in values[:VALUES_SHOWN])
        more = ", …" if len(values) > VALUES_SHOWN else ""
        where = f"{column}: " if column else ""
        parts.append(f"{where}{check} ({len(values)} failing: {shown}{more})")
    return one_line("; ".join(parts) or "schema validation failed", SUMMARY_LIMIT)


def validate(frame: pd.DataFrame, schema: Any) -> pd.DataFrame:
    """Validate lazily (every failure collected) with a pandera
    ``DataFrameSchema`` or ``DataFrameModel``; return the validated frame
    (coercions applied) or raise :class:`SchemaFailed` with the summary."""
    from pandera.errors import SchemaError, SchemaErrors

    validate_fn = getattr(schema, "validate", None)
    if not callable(validate_fn):
        raise TypeError(
            f"schema must be a pandera DataFrameSchema or DataFrameModel, not {type(schema)!r}"
        )
    try:
        result: pd.DataFrame = validate_fn(frame, lazy=True)
    except SchemaErrors as exc:
        raise SchemaFailed(summarize_failures(exc.failure_cases.to_dict("records"))) from None
    except SchemaError as exc:  # raised eagerly by some schema-level checks
        raise SchemaFailed(one_line(exc, SUMMARY_LIMIT)) from None
    return result
