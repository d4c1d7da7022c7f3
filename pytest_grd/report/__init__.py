"""Reports and JUnit properties.

``write_report(results, meta, out_dir)`` and ``load_report(path)`` (from
:mod:`pytest_grd.report.render`) are importable from here; they load on first
use so that importing the plugin stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_report", "write_report"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import render

        return getattr(render, name)
    raise AttributeError(f"module 'pytest_grd.report' has no attribute {name!r}")
