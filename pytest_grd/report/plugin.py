"""pytest side of reports, JUnit properties and baselines."""

from __future__ import annotations

import pytest


class ReportPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
