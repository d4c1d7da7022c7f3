"""Which node declares which hypothesis: markers parsed once, ids claimed once.

:class:`HypothesisRegistry` is the claim API shared by test functions and
notebooks: a node's marker is parsed the first time it is asked for (and the
answer kept), and every hypothesis id is claimed by exactly one declaring node
(a second declaration is a :class:`~pytest_grd.marker.MarkerError` naming both
``file:line``).
"""

from __future__ import annotations

from typing import Any

from .marker import HypothesisSpec, MarkerError, is_experiment_marker, parse_marker

__all__ = ["HypothesisRegistry", "location"]


def location(node: Any) -> str:
    """``file:line`` of a node's definition, for messages."""
    fspath = getattr(node, "path", None)
    code = _code(node)
    if fspath is not None and code is not None:
        # Without pytest's ``node.location``: every case of a large sweep
        # asks, and that one inspects the source each time.
        return f"{fspath}:{code.co_firstlineno}"
    path, lineno, _ = node.location if hasattr(node, "location") else (None, None, None)
    if path is None:
        return str(getattr(node, "nodeid", node))
    shown = str(fspath) if fspath is not None else path
    if code is not None:
        return f"{shown}:{code.co_firstlineno}"
    return f"{shown}:{(lineno or 0) + 1}"


def _code(node: Any) -> Any:
    try:
        return getattr(getattr(node, "obj", None), "__code__", None)
    except Exception:  # an object whose attributes raise: fall back to pytest's location
        return None


class HypothesisRegistry:
    """The hypotheses of one collection (one instance per pytest process)."""

    def __init__(self) -> None:
        #: hypothesis id -> (declaring node id, "file:line").
        self._owners: dict[str, tuple[str, str]] = {}
        #: id(mark) -> (mark, parsed spec or error): a marker is parsed once
        #: however many items (parametrized cases) carry it.  The mark is kept
        #: so that its id cannot be reused.
        self._parsed: dict[int, tuple[Any, HypothesisSpec | MarkerError]] = {}

    def _parse(self, mark: Any) -> HypothesisSpec:
        cached = self._parsed.get(id(mark))
        if cached is None:
            try:
                result: HypothesisSpec | MarkerError = parse_marker(mark.args, mark.kwargs)
            except MarkerError as exc:
                result = exc
            cached = self._parsed[id(mark)] = (mark, result)
        if isinstance(cached[1], MarkerError):
            raise cached[1]
        return cached[1]

    def spec_of(self, node: Any) -> tuple[HypothesisSpec, Any] | None:
        """The hypothesis declared on ``node`` (closest marker wins) and the
        node that declared it; ``None`` for plain tests and bare
        Hypothesis-library markers.  Raises :class:`MarkerError` for a
        malformed marker."""
        for owner, mark in node.iter_markers_with_node("hypothesis"):
            if is_experiment_marker(mark.args, mark.kwargs):
                return self._parse(mark), owner
        return None

    def claim(self, hypothesis_id: str, nodeid: str, where: str) -> None:
        """Record that ``nodeid`` (at ``where``) declares ``hypothesis_id``;
        a second declaring node is a :class:`MarkerError` naming both."""
        seen = self._owners.get(hypothesis_id)
        if seen is None:
            self._owners[hypothesis_id] = (nodeid, where)
        elif seen[0] != nodeid:
            raise MarkerError(
                f"duplicate hypothesis id {hypothesis_id!r}: declared at {seen[1]} and at {where}"
            )

    @property
    def declared(self) -> dict[str, str]:
        """Hypothesis id -> ``file:line`` of every hypothesis claimed so far."""
        return {hid: where for hid, (_, where) in self._owners.items()}
