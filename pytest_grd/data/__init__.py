"""DVC-versioned data with lineage: the ``grd_data`` fixture and :class:`Dataset`.

Cheap to import: DVC, pandas and pandera load on first use.
"""

from __future__ import annotations

from .datasets import Dataset

__all__ = ["Dataset"]
