"""pytest side of DVC-versioned data with lineage."""

from __future__ import annotations

import pytest


class DataPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
