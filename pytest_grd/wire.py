"""Records on the wire from a worker to its controller, compact.

A case's record crosses the wire twice under xdist (and Ray): whole, as the
partial record on its setup report (``grd_case``), then again on its call
report (``grd_record``) with the verdict.  Most of its forty fields still
hold their defaults, and the second copy differs from the first in a handful;
execnet serializes every key and value one by one, which made the records
most of a worker's cost per case in a large sweep.  So a worker sends:

* the partial record without the fields that hold their default;
* the record with only the fields that differ from the partial record it
  sent for the same case (``"grd.base": "case"``), or, when none was sent,
  without its defaults.

The controller rebuilds both whole in ``pytest_report_from_serializable``,
before any other hook sees the report.  A record is rebuilt equal to the one
the worker built, value for value and type for type (``1`` is never taken for
``1.0``, nor ``True`` for ``1``).  Pure logic: no pytest import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any

from .record import CaseRecord

__all__ = ["RecordWire"]

CASE = "grd_case"
RECORD = "grd_record"
#: In a packed record: what its missing fields are taken from.
BASE = "grd.base"


def _defaults() -> tuple[dict[str, Any], dict[str, Callable[[], Any]]]:
    values: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for spec in fields(CaseRecord):
        if spec.default is not MISSING:
            value = spec.default
            values[spec.name] = getattr(value, "value", value)  # the verdict's string
        elif spec.default_factory is not MISSING:
            factories[spec.name] = spec.default_factory
    return values, factories


_VALUES, _FACTORIES = _defaults()
#: Each field's default, containers included (to compare with; never sent).
_DEFAULTS = {**_VALUES, **{key: factory() for key, factory in _FACTORIES.items()}}


def _same(a: Any, b: Any) -> bool:
    """Equal in value and in type, all the way down."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    if type(a) is list or type(a) is tuple:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def without_defaults(record: dict[str, Any]) -> dict[str, Any]:
    # Every default is a scalar or an empty container: one comparison each.
    get = _DEFAULTS.get
    return {
        k: v
        for k, v in record.items()
        if (d := get(k, MISSING)) is MISSING or type(v) is not type(d) or v != d
    }


def with_defaults(packed: dict[str, Any]) -> dict[str, Any]:
    """The whole record: each missing field gets its default (a new container
    for each record, never one shared)."""
    whole = dict(packed)
    for key, value in _VALUES.items():
        whole.setdefault(key, value)
    for key, factory in _FACTORIES.items():
        if key not in whole:
            whole[key] = factory()
    return whole


class RecordWire:
    """One per process: on a worker, :meth:`pack` the serialized reports it
    sends; on the controller, :meth:`unpack` those it receives.  Each side
    keeps the partial record of a case until its record goes by."""

    def __init__(self) -> None:
        self._cases: dict[str, dict[str, Any]] = {}

    def pack(self, data: dict[str, Any]) -> None:
        """Compact the records in a serialized report, in place."""
        nodeid = data.get("nodeid", "")
        case = data.get(CASE)
        if case is not None:
            self._cases[nodeid] = case
            data[CASE] = without_defaults(case)
        record = data.get(RECORD)
        if record is not None:
            base = self._cases.pop(nodeid, None)
            if base is None:
                data[RECORD] = without_defaults(record)
            else:
                changed = {
                    k: v for k, v in record.items() if k not in base or not _same(v, base[k])
                }
                changed[BASE] = CASE
                data[RECORD] = changed

    def unpack(self, data: dict[str, Any]) -> None:
        """Rebuild the records of a received serialized report, in place."""
        nodeid = data.get("nodeid", "")
        case = data.get(CASE)
        if case is not None:
            case = with_defaults(case)
            self._cases[nodeid] = case
            data[CASE] = case
        record = data.get(RECORD)
        if record is not None:
            base = self._cases.pop(nodeid, None)
            if record.pop(BASE, None) == CASE and base is not None:
                data[RECORD] = {**base, **record}
            else:
                data[RECORD] = with_defaults(record)
