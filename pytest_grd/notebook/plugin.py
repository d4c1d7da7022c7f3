"""pytest side of notebooks as hypotheses."""

from __future__ import annotations

import pytest


class NotebookPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
