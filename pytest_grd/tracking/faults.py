"""What a failed MLflow call means: the request was refused, or the store is gone.

Pure logic over exceptions (MLflow's and SQLAlchemy's are recognized without
being imported unless already loaded): :func:`unreachable` says whether no
later request can succeed either, :func:`refused` and :func:`short` put one
failure in one line.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator

from ..text import one_line

__all__ = ["chain", "database_down", "refused", "short", "unreachable"]


def short(exc: BaseException) -> str:
    """``Type: message`` on one line (at most 160 characters of message)."""
    return f"{type(exc).__name__}: {one_line(exc, 160) or type(exc).__name__}"


def refused(exc: BaseException) -> str:
    """A refused request in one line, led by MLflow's error code when it says
    more than the message (a RestException's message starts with it)."""
    code = getattr(exc, "error_code", None)
    text = short(exc)
    if not isinstance(code, str) or code in ("", "INTERNAL_ERROR") or code in text:
        return text
    return f"{code}: {text}"


#: MLflow error codes that say the store, not the request, is the problem.
_UNAVAILABLE_CODES = frozenset(
    {"TEMPORARILY_UNAVAILABLE", "DEADLINE_EXCEEDED", "REQUEST_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED"}
)


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling (MLflow
    wraps a requests or SQLAlchemy error in an ``MlflowException``)."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def database_down(exc: BaseException) -> bool:
    """A database that cannot be used now (locked, gone, disconnected)."""
    if isinstance(exc, sqlite3.OperationalError):
        return True
    if "sqlalchemy" not in sys.modules:  # not imported: cannot be one of its errors
        return False
    from sqlalchemy import exc as sa

    return isinstance(exc, (sa.OperationalError, sa.DisconnectionError, sa.TimeoutError))


def unreachable(exc: BaseException, http: bool) -> str | None:
    """``"store unreachable"`` (or ``"store refused access"``) when ``exc``
    means no later request can succeed either; ``None`` when only this
    request was refused."""
    if any(isinstance(link, OSError) or database_down(link) for link in chain(exc)):
        return "store unreachable"  # requests' errors are OSErrors too
    from mlflow.exceptions import MlflowException  # loaded: the store imported mlflow

    if isinstance(exc, MlflowException):
        status = int(exc.get_http_status_code())  # type: ignore[no-untyped-call]
        if status in (401, 403):
            return "store refused access"
        if exc.error_code in _UNAVAILABLE_CODES:
            return "store unreachable"
        # A server that answers 5xx after its retries is down; a local
        # store's INTERNAL_ERROR is a request it could not handle.
        if http and status >= 500 and status != 501:
            return "store unreachable"
    return None
