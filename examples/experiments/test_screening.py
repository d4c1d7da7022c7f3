"""Screening models on the current data (v2, all 569 patients).

Claims and thresholds were written down before the first run and are not
tuned to the results; ``docs/examples.md`` records what each one got.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from cancer import SCHEMA, cv_auc, logistic
from sklearn.tree import DecisionTreeClassifier

if TYPE_CHECKING:
    from pytest_grd.data.fixture import DataAccess
    from pytest_grd.tracking.run import GrdRun


@pytest.mark.hypothesis(
    "hyp_001",
    claim="standardized logistic regression separates malignant from benign tumours "
    "with a cross-validated ROC AUC of at least 0.98",
    baseline={"auc": {"direction": "higher", "tolerance": 0.005}},
)
def test_logistic_regression_screens_well(grd_data: DataAccess, grd_run: GrdRun) -> None:
    patients = grd_data.load("cancer", schema=SCHEMA)
    auc = cv_auc(logistic(), patients)
    grd_run.log_metrics({"auc": auc, "patients": len(patients)})
    assert auc >= 0.98, f"cross-validated AUC {auc:.4f} < 0.98"


@pytest.mark.hypothesis(
    "hyp_002",
    claim="a depth-2 decision tree (two questions a clinician can ask) screens as well "
    "as logistic regression: its AUC is within 0.02 of it",
    baseline={"auc_gap": {"direction": "lower", "tolerance": 0.01}},
)
def test_two_question_tree_is_as_good(grd_data: DataAccess, grd_run: GrdRun) -> None:
    patients = grd_data.load("cancer", schema=SCHEMA)
    tree = cv_auc(DecisionTreeClassifier(max_depth=2, random_state=0), patients)
    reference = cv_auc(logistic(), patients)
    gap = reference - tree
    grd_run.log_metrics({"auc": tree, "auc_logistic": reference, "auc_gap": gap})
    assert gap <= 0.02, f"the tree's AUC {tree:.4f} trails logistic regression's by {gap:.4f}"
