"""DVC-versioned data with lineage: the ``grd_data`` fixture and :class:`Dataset`.

Cheap to import: DVC, pandas and pandera load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .datasets import Dataset

__all__ = ["Dataset"]


def __getattr__(name: str) -> Any:
    # Lazy: pytest imports this package in every session (the data plugin).
    if name == "Dataset":
        from .datasets import Dataset

        return Dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
