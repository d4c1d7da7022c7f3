"""MLflow's own API inside a case lands in the case's run: ``mlflow.log_metric``,
``mlflow.log_param``, ``mlflow.sklearn.autolog()`` with a real scikit-learn fit,
serially and under xdist, read back from a real store."""

from __future__ import annotations

import os
from typing import Any

import pytest

FLUENT = """
import mlflow
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

@pytest.mark.hypothesis("hyp_auto", claim="autologged fits land in the case's run")
@pytest.mark.parametrize("c", [0.5, 1.0])
def test_auto(c, grd_run):
    mlflow.sklearn.autolog(log_models=True, silent=True)
    X, y = make_classification(n_samples=60, random_state=0)
    model = LogisticRegression(C=c, max_iter=200).fit(X, y)
    grd_run.log_metric("grd_acc", model.score(X, y))

@pytest.mark.hypothesis("hyp_fluent", claim="mlflow.log_metric lands in the case's run")
@pytest.mark.parametrize("k", [1, 2])
def test_fluent(k):
    mlflow.log_param("k_param", k)
    for step in range(3):
        mlflow.log_metric("own", k * 10 + step, step=step)
    assert mlflow.active_run().data.tags["grd.hypothesis"] == "hyp_fluent"
"""


def _case_runs(uri: str, experiment: str) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=100)
    cases = [r for r in runs if r.data.tags.get("grd.role") == "case"]
    # Exactly one run per case, and none outside pytest-grd's.
    assert len(runs) == len(cases) + 2, [r.info.run_name for r in runs]
    named = {r.info.run_name: r for r in cases}
    assert len(named) == len(cases)
    return named


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_mlflow_fluent_api_and_autolog_land_in_the_case_run(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    from mlflow.tracking import MlflowClient

    pytester.makepyfile(test_fluent=FLUENT)
    pytester.makeini("[pytest]\nfilterwarnings = ignore::FutureWarning\n")
    uri = f"sqlite:///{pytester.path.as_posix()}/m.db"
    result = pytester.runpytest_subprocess("--grd-tracking-uri", uri, *workers)
    result.assert_outcomes(passed=6)  # 4 cases + 2 hypotheses' own results
    runs = _case_runs(uri, pytester.path.name)
    assert sorted(runs) == [
        "hyp_auto[c=0.5]",
        "hyp_auto[c=1]",
        "hyp_fluent[k=1]",
        "hyp_fluent[k=2]",
    ]
    client = MlflowClient(tracking_uri=uri)
    for c in ("0.5", "1"):
        run = runs[f"hyp_auto[c={c}]"]
        assert run.info.status == "FINISHED" and run.data.tags["grd.verdict"] == "VALIDATED"
        # Autolog's params and metrics, grd's metric, grd's params: one run.
        assert float(run.data.params["C"]) == float(c)  # autolog's
        assert float(run.data.params["c"]) == float(c)  # grd's parametrize value
        assert "training_accuracy_score" in run.data.metrics
        assert "grd_acc" in run.data.metrics
        # The fitted model is the run's output (MLflow 3 logged models).
        models = [o.model_id for o in run.outputs.model_outputs]
        assert len(models) == 1
        assert client.get_logged_model(models[0]).source_run_id == run.info.run_id
    for k in (1, 2):
        run = runs[f"hyp_fluent[k={k}]"]
        assert run.data.params["k_param"] == str(k)
        history = client.get_metric_history(run.info.run_id, "own")
        assert [(m.step, m.value) for m in history] == [(s, k * 10 + s) for s in range(3)]
        assert run.data.tags["grd.verdict"] == "VALIDATED"
        assert run.info.status == "FINISHED"
        parent = run.data.tags["mlflow.parentRunId"]
        assert client.get_run(parent).data.tags["grd.hypothesis"] == "hyp_fluent"


LIVE = """
import mlflow
import pytest

@pytest.mark.hypothesis("hyp_live", claim="a live run is MLflow's active run")
def test_live(grd_run):
    assert mlflow.active_run().info.run_id == grd_run.run_id
"""


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_live_run_leaves_the_tracking_uri_as_it_found_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``mlflow.set_tracking_uri`` exports its URI to the environment: a live
    case must not leave it there once it ends, or every process started
    afterwards (a nested pytest, the next session of an xdist worker) would
    track to this session's store."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    pytester.makepyfile(test_live=LIVE)
    pytester.makeini("[pytest]\nfilterwarnings = ignore::FutureWarning\n")
    uri = f"sqlite:///{pytester.path.as_posix()}/m.db"
    result = pytester.runpytest("--grd-tracking-uri", uri, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:///elsewhere.db"
    assert mlflow.get_tracking_uri() == "sqlite:///elsewhere.db"
    assert mlflow.active_run() is None
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(None)
