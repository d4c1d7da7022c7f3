"""A parameter sweep: the report plots AUC against the regularization strength."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from cancer import SCHEMA, cv_auc, logistic

if TYPE_CHECKING:
    from pytest_grd.data.fixture import DataAccess
    from pytest_grd.tracking.run import GrdRun


@pytest.mark.hypothesis(
    "hyp_004",
    claim="logistic regression is robust to its regularization: the cross-validated AUC "
    "stays at or above 0.98 for every C from 0.001 to 100",
    baseline={"auc": {"direction": "higher", "tolerance": 0.005}},
)
@pytest.mark.parametrize("C", [0.001, 0.01, 0.1, 1.0, 10.0, 100.0])
def test_auc_is_stable_across_regularization(
    C: float, grd_data: DataAccess, grd_run: GrdRun
) -> None:
    auc = cv_auc(logistic(C), grd_data.load("cancer", schema=SCHEMA))
    grd_run.log_metric("auc", auc)
    assert auc >= 0.98, f"AUC {auc:.4f} < 0.98 at C={C:g}"
