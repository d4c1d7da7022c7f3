"""Notebooks as hypotheses: jupytext ``.py`` and ``.ipynb`` notebooks run with papermill.

For notebook code::

    from pytest_grd.notebook import log_metric
    log_metric("acc", 0.93)

Importing this package is cheap (standard library only); the collection and
execution machinery lives in :mod:`.plugin`, :mod:`.item` and :mod:`.execute`.
"""

from __future__ import annotations

from .metrics import log_metric

__all__ = ["log_metric"]
