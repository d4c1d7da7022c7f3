"""The example project's set-up: the dataset is in place before any case runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from setup_data import DataSetupError, ensure


def pytest_configure(config: pytest.Config) -> None:
    # On the xdist controller (or the only process), before workers start:
    # workers then only read the DVC cache, never write it.
    if hasattr(config, "workerinput"):
        return
    try:
        ensure()
    except DataSetupError as exc:
        raise pytest.UsageError(f"examples: {exc}") from None
