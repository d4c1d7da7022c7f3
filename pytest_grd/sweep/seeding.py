"""Seeding every random number generator a case may use.

Pure logic: no pytest import.  Two entry points:

* :func:`seed_loaded` (every hypothesis case, before setup): Python's
  ``random``, NumPy's global generator and torch (CPU and every CUDA device),
  but only those already imported, so a case's numbers do not depend on
  which cases ran before it in the same worker, without paying for an import
  the case may never make.
* :func:`seed_everything` (the ``grd_seed`` fixture): the same generators,
  importing NumPy and torch if installed: a seed sweep whose body imports
  torch later must still get different numbers per seed.  Libraries the case
  already seeded with the same seed are not seeded again (``already``).
"""

from __future__ import annotations

import importlib.util
import random
import sys
from collections.abc import Collection
from typing import Any

__all__ = ["seed_everything", "seed_loaded", "SEEDED_LIBRARIES"]

#: What :func:`seed_everything` knows how to seed, in order.
SEEDED_LIBRARIES = ("random", "numpy", "torch")


def _seed_numpy(np: Any, seed: int) -> None:
    # The legacy global RandomState only takes 32-bit seeds.
    np.random.seed(seed % (2**32))


def _seed_torch(torch: Any, seed: int) -> None:
    # torch.manual_seed takes values in [-2**63, 2**64); wrap to stay inside.
    value = seed % (2**64)
    torch.manual_seed(value)
    cuda = getattr(torch, "cuda", None)
    # is_available() does not create a CUDA context; manual_seed_all is lazy
    # until one exists, so this is cheap in a CPU-only case.
    if cuda is not None and cuda.is_available():
        cuda.manual_seed_all(value)


def seed_everything(seed: int, already: Collection[str] = ()) -> list[str]:
    """Seed ``random``, NumPy and torch (each when installed) with ``seed``,
    except the libraries in ``already``; returns the names seeded here."""
    seeded = []
    if "random" not in already:
        random.seed(seed)
        seeded.append("random")
    if "numpy" in already:
        pass
    elif "numpy" in sys.modules or importlib.util.find_spec("numpy") is not None:
        import numpy as np

        _seed_numpy(np, seed)
        seeded.append("numpy")
    if "torch" in already:
        pass
    elif "torch" in sys.modules or importlib.util.find_spec("torch") is not None:
        import torch

        _seed_torch(torch, seed)
        seeded.append("torch")
    return seeded


def seed_loaded(seed: int) -> list[str]:
    """Seed ``random`` and, only if already imported, NumPy and torch."""
    seeded = ["random"]
    random.seed(seed)
    np = sys.modules.get("numpy")
    if np is not None and hasattr(np, "random"):
        _seed_numpy(np, seed)
        seeded.append("numpy")
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "manual_seed"):
        _seed_torch(torch, seed)
        seeded.append("torch")
    return seeded
