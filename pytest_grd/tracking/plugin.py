"""Tracking plugin: opens and closes the MLflow run of every case."""

from __future__ import annotations

import pytest


class TrackingPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
