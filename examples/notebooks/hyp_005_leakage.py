# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   grd:
#     hypothesis: hyp_005
#     claim: no single measurement gives the diagnosis away (every feature alone has an AUC below 0.99), so the models' scores are not a leak
#     timeout: 120
# ---

# %% [markdown]
# # hyp_005: a leakage check
#
# A near-perfect single feature would suggest the label leaked into the data
# (an ID ordered by diagnosis, a post-diagnosis measurement).  This notebook
# ranks each of the 30 measurements alone by ROC AUC (either direction) and
# rejects the claim when one reaches the threshold.

# %% tags=["parameters"]
threshold = 0.99
data_path = "../data/breast_cancer.csv"

# %%
import pandas as pd
from sklearn.metrics import roc_auc_score

from pytest_grd.notebook import log_metric

patients = pd.read_csv(data_path)
label = patients.pop("benign")
single = {
    name: max(roc_auc_score(label, values), 1 - roc_auc_score(label, values))
    for name, values in patients.items()
}
ranked = sorted(single.items(), key=lambda kv: -kv[1])
ranked[:5]

# %%
best_feature, best_auc = ranked[0]
log_metric("best_single_feature_auc", best_auc)
print(f"most telling single feature: {best_feature} (AUC {best_auc:.4f})")

# %%
assert best_auc < threshold, f"{best_feature} alone reaches AUC {best_auc:.4f}"
