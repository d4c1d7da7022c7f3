"""Baselines: what a project has recorded about its hypotheses, and the
changes a run makes to it (``--grd-save-baseline``, ``--grd-baseline``).

Modules, pure logic unless named ``plugin``:

* :mod:`.format`: the baseline file (build, merge, dump, load and validate);
* :mod:`.rules`: key metrics, their good direction and tolerance;
* :mod:`.decisions`: the numbers of a statistical decision a baseline keeps;
* :mod:`.collection`: what a session collected (gone versus left out);
* :mod:`.comparison`: :func:`compare`, a run against a baseline;
* :mod:`.plugin`: the pytest side, including the exit status.

The names below are importable from here; they load on first use so that
importing the plugin stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .collection import Collection
    from .comparison import Comparison, Discrepancy, compare
    from .format import (
        BASELINE_FORMAT,
        BASELINE_FORMAT_VERSION,
        BaselineError,
        build_baseline,
        dump_baseline,
        load_baseline,
        merge_baseline,
    )
    from .rules import (
        DEFAULT_ABSOLUTE_TOLERANCE,
        DEFAULT_RELATIVE_TOLERANCE,
        default_direction,
        default_tolerance,
        metric_rules,
    )

__all__ = [
    "BASELINE_FORMAT",
    "BASELINE_FORMAT_VERSION",
    "DEFAULT_ABSOLUTE_TOLERANCE",
    "DEFAULT_RELATIVE_TOLERANCE",
    "BaselineError",
    "Collection",
    "Comparison",
    "Discrepancy",
    "build_baseline",
    "compare",
    "default_direction",
    "default_tolerance",
    "dump_baseline",
    "load_baseline",
    "merge_baseline",
    "metric_rules",
]

#: Where each public name lives.
_MODULES = {
    "Collection": "collection",
    "Comparison": "comparison",
    "Discrepancy": "comparison",
    "compare": "comparison",
    "DEFAULT_ABSOLUTE_TOLERANCE": "rules",
    "DEFAULT_RELATIVE_TOLERANCE": "rules",
    "default_direction": "rules",
    "default_tolerance": "rules",
    "metric_rules": "rules",
}


def __getattr__(name: str) -> Any:
    if name in __all__:
        module = import_module(f".{_MODULES.get(name, 'format')}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'pytest_grd.baseline' has no attribute {name!r}")
