"""A decision over seeds: is a random forest better than one tree?

Each seed is its own case (its own train/test split and model seed), possibly
on another xdist worker; ``decide=`` compares the per-seed AUCs of the two
hypotheses on the controller with Welch's t-test, corrected for the other
decisions of the session (Holm).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from cancer import SCHEMA, held_out_auc
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

import pytest_grd as grd

if TYPE_CHECKING:
    import pandas as pd

    from pytest_grd.data.fixture import DataAccess
    from pytest_grd.tracking.run import GrdRun

SEEDS = 5


def _split(patients: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = train_test_split(
        patients, test_size=0.3, stratify=patients["benign"], random_state=seed
    )
    return train, test


@pytest.mark.hypothesis(
    "tree_baseline",
    claim="reference for hyp_003: a depth-3 decision tree ranks held-out patients "
    "better than chance (AUC > 0.5)",
    seeds=SEEDS,
)
def test_depth3_tree(grd_data: DataAccess, grd_run: GrdRun, grd_seed: int) -> None:
    train, test = _split(grd_data.load("cancer", schema=SCHEMA), grd_seed)
    auc = held_out_auc(DecisionTreeClassifier(max_depth=3, random_state=grd_seed), train, test)
    grd_run.log_metric("auc", auc)
    assert auc > 0.5


@pytest.mark.hypothesis(
    "hyp_003",
    claim="a 50-tree random forest ranks held-out patients better than a depth-3 tree "
    "(mean AUC over 5 seeds, by more than 0.01)",
    seeds=SEEDS,
    decide=grd.greater("auc", than="tree_baseline", min_effect=0.01),
)
def test_forest_beats_tree(grd_data: DataAccess, grd_run: GrdRun, grd_seed: int) -> None:
    train, test = _split(grd_data.load("cancer", schema=SCHEMA), grd_seed)
    forest = RandomForestClassifier(n_estimators=50, random_state=grd_seed, n_jobs=1)
    grd_run.log_metric("auc", held_out_auc(forest, train, test))
