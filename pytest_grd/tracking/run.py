"""``grd_run``: the case's run, as the test sees it.

Without tracking (``--grd-no-tracking``) it still records metrics into the
case's record; with tracking, the tracking plugin attaches an MLflow-backed
buffer to ``case.run`` (see :mod:`pytest_grd.tracking.plugin`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..case import Case

__all__ = ["GrdRun", "run_for_case"]


class GrdRun:
    """The MLflow run of the current case; calls are buffered."""

    def __init__(self, case: Case) -> None:
        self._case = case

    @property
    def run_id(self) -> str | None:
        return self._case.record.run_id

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self._case.log_metric(key, value, step)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        for key, value in metrics.items():
            self.log_metric(key, value, step)

    def log_param(self, key: str, value: Any) -> None:
        self._case.record.params.setdefault(key, value)

    def log_params(self, params: Mapping[str, Any]) -> None:
        for key, value in params.items():
            self.log_param(key, value)


def run_for_case(case: Case) -> GrdRun:
    return GrdRun(case)
