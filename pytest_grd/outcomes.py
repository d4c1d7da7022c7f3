"""Exceptions and helpers a test uses to state its verdict explicitly.

``reject()`` raises :class:`Rejected` (an :class:`AssertionError`, so plain
pytest shows an ordinary failure); ``inconclusive()`` raises
:class:`Inconclusive`.  Importing this module is cheap.
"""

from __future__ import annotations

from typing import Any, NoReturn

__all__ = [
    "Rejected",
    "Inconclusive",
    "DataInvalid",
    "TrackingCallError",
    "reject",
    "inconclusive",
]


class Rejected(AssertionError):
    """The evidence contradicts the claim: the case's verdict is REJECTED."""

    def __init__(self, reason: str, stats: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stats = stats


class Inconclusive(Exception):
    """The evidence cannot decide the claim: the case's verdict is INCONCLUSIVE.

    Raised inside a running hypothesis case, it also marks the case itself:
    a test that catches it (``except Exception``) still cannot end VALIDATED.
    """

    def __init__(self, reason: str, stats: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stats = stats
        from .case import current_case  # cheap; avoids an import cycle at load

        case = current_case()
        if case is not None:
            case.force_inconclusive(reason)


class DataInvalid(Inconclusive):
    """The data an experiment loaded failed its schema or could not be read."""


class TrackingCallError(ValueError):
    """A ``grd_run`` call that MLflow would refuse (a bad name, an over-long
    value, an artifact path outside the run): raised at the call, with or
    without tracking.  Uncaught, it ends the case INCONCLUSIVE like any other
    error; a test may catch it and go on."""


def reject(reason: str = "rejected") -> NoReturn:
    """Stop the case with the verdict REJECTED and ``reason``."""
    __tracebackhide__ = True
    raise Rejected(reason)


def inconclusive(reason: str) -> NoReturn:
    """Stop the case with the verdict INCONCLUSIVE and ``reason``."""
    __tracebackhide__ = True
    raise Inconclusive(reason)
