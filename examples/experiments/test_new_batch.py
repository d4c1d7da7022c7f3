"""Two versions of one DVC-tracked dataset: train on v1, test on what v2 added."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from cancer import SCHEMA, held_out_auc, logistic

import pytest_grd as grd

if TYPE_CHECKING:
    from pytest_grd.data.fixture import DataAccess
    from pytest_grd.tracking.run import GrdRun


@pytest.mark.hypothesis(
    "hyp_006",
    claim="a model fitted on the first collection batch (data v1) keeps an AUC of at "
    "least 0.98 on the patients the second batch added (in v2, not in v1)",
    baseline={"auc_new_patients": {"direction": "higher", "tolerance": 0.005}},
)
def test_first_batch_model_generalizes(grd_data: DataAccess, grd_run: GrdRun) -> None:
    first = grd_data.load("cancer_v1", schema=SCHEMA)
    current = grd_data.load("cancer", schema=SCHEMA)
    # v2 appended rows to v1: the new patients are the rows v1 does not have.
    if not current.iloc[: len(first)].equals(first):
        grd.inconclusive("data v2 does not extend v1: cannot tell the new patients apart")
    new = current.iloc[len(first) :]
    auc = held_out_auc(logistic(), first, new)
    grd_run.log_metrics(
        {"auc_new_patients": auc, "patients_v1": len(first), "patients_new": len(new)}
    )
    assert auc >= 0.98, f"AUC on the {len(new)} new patients {auc:.4f} < 0.98"
