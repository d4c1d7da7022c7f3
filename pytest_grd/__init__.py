"""pytest-grd: ML research hypotheses as pytest tests.

Public API (all cheap to import; statistics load scipy on first use)::

    import pytest_grd as grd

    grd.reject("reason")          # verdict REJECTED
    grd.inconclusive("reason")    # verdict INCONCLUSIVE
    grd.assert_greater(new, old)  # decide from samples (see pytest_grd.stats)
    grd.greater("auc", than=0.9)  # a cross-case decision rule for decide=
"""

from __future__ import annotations

from typing import Any

from .outcomes import DataInvalid, Inconclusive, Rejected, inconclusive, reject
from .verdict import Verdict

__version__ = "0.1.0"

_LAZY = {
    "assert_greater": "pytest_grd.stats.api",
    "assert_less": "pytest_grd.stats.api",
    "compare": "pytest_grd.stats.api",
    "greater": "pytest_grd.stats.rules",
    "less": "pytest_grd.stats.rules",
    "StatsResult": "pytest_grd.stats.api",
}

__all__ = [
    "DataInvalid",
    "Inconclusive",
    "Rejected",
    "Verdict",
    "inconclusive",
    "reject",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_grd' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
