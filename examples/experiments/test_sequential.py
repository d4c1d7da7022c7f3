"""A sequential decision: as few split seeds as the evidence needs.

Both arms run seed by seed on the same train/test split (``paired=True``): the
per-seed AUC gap is the evidence, and an anytime-valid confidence sequence
decides as soon as it excludes one side of the claimed gap, with a
false-VALIDATED rate of at most alpha however often it is looked at.  Seeds
after the decision are reported as not needed.  The assumption is stated on
the rule: the per-seed gap is sub-Gaussian with scale 0.05 AUC (the gaps seen
on this data spread by about 0.02).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from cancer import SCHEMA, held_out_auc, logistic
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

import pytest_grd as grd

if TYPE_CHECKING:
    import pandas as pd

    from pytest_grd.data.fixture import DataAccess
    from pytest_grd.tracking.run import GrdRun

MAX_SEEDS = 20


def _split(patients: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = train_test_split(
        patients, test_size=0.3, stratify=patients["benign"], random_state=100 + seed
    )
    return train, test


@pytest.mark.hypothesis(
    "tree_arm",
    claim="reference arm of hyp_007: a depth-3 tree on the same splits ranks better than chance",
    seeds="auto",
    max_seeds=MAX_SEEDS,
)
def test_tree_arm(grd_data: DataAccess, grd_run: GrdRun, grd_seed: int) -> None:
    train, test = _split(grd_data.load("cancer", schema=SCHEMA), grd_seed)
    auc = held_out_auc(DecisionTreeClassifier(max_depth=3, random_state=grd_seed), train, test)
    grd_run.log_metric("auc", auc)
    assert auc > 0.5


@pytest.mark.hypothesis(
    "hyp_007",
    claim="logistic regression ranks held-out patients better than a depth-3 tree by more "
    "than 0.01 AUC, on the same splits (decided with as few seeds as needed, at most 20)",
    seeds="auto",
    max_seeds=MAX_SEEDS,
    decide=grd.greater("auc", than="tree_arm", min_effect=0.01, sigma=0.05, paired=True),
)
def test_logistic_beats_tree(grd_data: DataAccess, grd_run: GrdRun, grd_seed: int) -> None:
    train, test = _split(grd_data.load("cancer", schema=SCHEMA), grd_seed)
    grd_run.log_metric("auc", held_out_auc(logistic(), train, test))
