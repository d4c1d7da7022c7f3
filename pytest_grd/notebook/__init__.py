"""Notebooks as hypotheses: jupytext ``.py`` and ``.ipynb`` notebooks run with papermill.

For notebook code::

    from pytest_grd.notebook import log_metric
    log_metric("acc", 0.93)

Importing this package is cheap (standard library only); the collection and
execution machinery lives in :mod:`.plugin`, :mod:`.item` and :mod:`.execute`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .metrics import log_metric

__all__ = ["log_metric"]


def __getattr__(name: str) -> Any:
    # Lazy: pytest imports this package in every session (the notebook plugin).
    if name == "log_metric":
        from .metrics import log_metric

        return log_metric
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
