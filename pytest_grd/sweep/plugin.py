"""pytest side of seeds, GPUs and xdist workers."""

from __future__ import annotations

import pytest


class SweepPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
