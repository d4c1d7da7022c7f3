"""Tracking's pure parts: URI resolution, tags, record round-trip, the run
buffer, and the checks ``grd_run`` makes at each call (MLflow's rules)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pytest_grd.case import Case
from pytest_grd.marker import HypothesisSpec
from pytest_grd.outcomes import TrackingCallError
from pytest_grd.record import CaseRecord, HypothesisResult
from pytest_grd.settings import resolve_experiment, resolve_tracking_uri
from pytest_grd.tracking.run import GrdRun, MetricPoint, run_for_case
from pytest_grd.tracking.settings import (
    TrackingUnavailable,
    check_reachable,
    lock_path,
    redact_uri,
    sqlite_path,
)
from pytest_grd.tracking.tags import (
    MAX_TAG_VALUE,
    case_params,
    check_key,
    env_tags,
    git_tags,
    name_problem,
    param_value,
    record_from_tags,
    record_tags,
    result_tags,
    stats_metrics_and_tags,
)


def test_uri_order_option_ini_env_default(tmp_path: Path) -> None:
    env = {"MLFLOW_TRACKING_URI": "http://env:5000"}
    assert resolve_tracking_uri("http://opt", "http://ini", env, tmp_path) == (
        "http://opt",
        "--grd-tracking-uri",
    )
    assert resolve_tracking_uri(None, "http://ini", env, tmp_path)[0] == "http://ini"
    assert resolve_tracking_uri(None, "", env, tmp_path) == (
        "http://env:5000",
        "MLFLOW_TRACKING_URI",
    )
    uri, source = resolve_tracking_uri(None, None, {}, tmp_path)
    assert (uri, source) == (f"sqlite:///{tmp_path.as_posix()}/mlflow.db", "default")
    assert sqlite_path(uri) == tmp_path / "mlflow.db"


def test_experiment_name_and_paths(tmp_path: Path) -> None:
    assert resolve_experiment("", tmp_path / "proj") == "proj"
    assert resolve_experiment(" mine ", tmp_path) == "mine"
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("http://x") is None
    assert lock_path(f"sqlite:///{tmp_path}/m.db") == tmp_path / "m.db.grd-lock"
    assert lock_path("http://a:1") == lock_path("http://a:1") != lock_path("http://a:2")
    assert redact_uri("https://bob:s3cret@host/x") == "https://bob:***@host/x"
    assert redact_uri("sqlite:////a/b.db") == "sqlite:////a/b.db"


def test_unreachable_server_is_one_line_naming_the_uri() -> None:
    with pytest.raises(TrackingUnavailable) as err:
        check_reachable("http://127.0.0.1:9", timeout=2)
    message = str(err.value)
    assert "http://127.0.0.1:9" in message and "\n" not in message
    check_reachable("sqlite:///x.db")  # databases are not probed


def test_keys_and_param_values() -> None:
    assert check_key("metric", "val/acc 1:2") == "val/acc 1:2"
    for bad in ("", "a!b", "x" * 251, "../up", "a//b"):
        with pytest.raises(ValueError, match="invalid metric name"):
            check_key("metric", bad)
    assert param_value(0.1) == "0.1"
    assert param_value(True) == "true"
    assert param_value([1, 2]) == "[1, 2]"
    assert param_value("x" * 7000) == "x" * 7000  # never cut: refused at the call instead
    record = CaseRecord(hypothesis="h", nodeid="n", name="h", params={"lr": 0.01}, seed=3)
    assert case_params(record) == {"lr": "0.01", "seed": "3"}
    # A parametrize value is logged by the plugin, not by a call: cut, marked.
    long = CaseRecord(hypothesis="h", nodeid="n", name="h", params={"cfg": "y" * 7000})
    assert len(case_params(long)["cfg"]) == 6000 and case_params(long)["cfg"].endswith("...")


def test_env_tags_only_allowlisted() -> None:
    env = {"SECRET_TOKEN": "abc", "RUN_LABEL": "night"}
    assert env_tags(["RUN_LABEL", "MISSING"], env) == {"grd.env.RUN_LABEL": "night"}
    assert env_tags([], env) == {}


def test_record_round_trip_whole_and_chunked() -> None:
    small = CaseRecord(hypothesis="h", nodeid="t.py::a", name="h[a=1]", metrics={"acc": 0.9})
    tags = record_tags(small)
    assert set(tags) == {"grd.record"}
    assert record_from_tags(tags) == json.loads(json.dumps(small.to_dict()))
    big = CaseRecord(
        hypothesis="h",
        nodeid="t.py::b",
        name="h",
        metrics={f"m{i}": float(i) for i in range(2000)},
    )
    tags = record_tags(big)
    assert int(tags["grd.record.chunks"]) > 1
    assert all(len(v) <= MAX_TAG_VALUE for v in tags.values())
    back = record_from_tags(tags)
    assert back is not None and CaseRecord.from_dict(back).metrics == big.metrics
    # A missing chunk is no record, not a wrong one.
    del tags["grd.record.1"]
    assert record_from_tags(tags) is None


def test_stats_split_into_metrics_and_tags() -> None:
    stats = {
        "p_value": 0.01,
        "p_adjusted": 0.03,
        "ci": [0.1, 0.4],
        "effect_size": {"name": "hedges_g", "value": 1.2},
        "n": [5, 4],
        "statistic": 2.5,
        "test": "welch",
        "decided": True,
    }
    metrics, tags = stats_metrics_and_tags(stats)
    assert metrics == {
        "grd.p_value": 0.01,
        "grd.p_adjusted": 0.03,
        "grd.ci_low": 0.1,
        "grd.ci_high": 0.4,
        "grd.effect_size": 1.2,
        "grd.n_new": 5.0,
        "grd.n_baseline": 4.0,
        "grd.test_statistic": 2.5,
    }
    assert tags["grd.stats.test"] == "welch"
    assert tags["grd.stats.decided"] == "true"
    assert tags["grd.stats.effect_size_measure"] == "hedges_g"
    assert json.loads(tags["grd.stats"])["p_value"] == 0.01
    cases = [CaseRecord(hypothesis="h", nodeid="a", name="a", verdict="VALIDATED")]
    result = HypothesisResult("h", "c", "VALIDATED", "all 1 case(s) validated", cases, stats)
    metrics, tags = result_tags(result)
    assert metrics["grd.n_validated"] == 1.0 and metrics["grd.p_value"] == 0.01
    assert tags["grd.verdict"] == "VALIDATED"


def test_parent_run_names_are_readable() -> None:
    """Every metric and tag a parent run gets is named for what it is: no
    positional ``grd.n_0`` and no spaces (the report's complaint)."""
    one_sample = {"n": [12], "than": 0.8, "threshold": 0.8, "mean_new": 0.9}
    metrics, _ = stats_metrics_and_tags(one_sample)
    assert metrics == {"grd.n": 12.0, "grd.threshold": 0.8, "grd.mean_new": 0.9}
    sequential = {
        "n": 6,
        "seeds_used": 6,
        "estimate": 0.03,
        "lower": 0.011,
        "upper": 0.049,
        "ci": [0.011, 0.049],
        "history": [[1, None, None], [2, 0.0, 0.1]],
        "than": "hyp_base",
    }
    metrics, tags = stats_metrics_and_tags(sequential)
    assert metrics == {
        "grd.n": 6.0,
        "grd.seeds_used": 6.0,
        "grd.estimate": 0.03,
        "grd.ci_low": 0.011,
        "grd.ci_high": 0.049,
    }
    assert tags["grd.stats.than"] == "hyp_base"
    assert json.loads(tags["grd.stats.history"]) == [[1, None, None], [2, 0.0, 0.1]]
    cases = [
        CaseRecord(hypothesis="h", nodeid="a", name="a", verdict="MEASURED"),
        CaseRecord(hypothesis="h", nodeid="b", name="b", verdict="MEASURED", not_needed=True),
    ]
    result = HypothesisResult("h", "c", "VALIDATED", "decided", cases, sequential)
    metrics, tags = result_tags(result)
    assert {k for k in metrics if k.startswith("grd.n_")} == {
        "grd.n_validated",
        "grd.n_rejected",
        "grd.n_inconclusive",
        "grd.n_measured",
        "grd.n_not_needed",
        "grd.n_cases",
    }
    assert metrics["grd.n_not_needed"] == 1.0 and metrics["grd.n_measured"] == 1.0
    names = [*metrics, *tags]
    assert all(name_problem(n) is None and " " not in n for n in names), names
    assert not any(re.search(r"_\d+$", n) for n in names), names


def test_git_tags_from_a_real_repository(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "exp"], cwd=tmp_path, check=True)
    (tmp_path / "a.py").write_text("x = 1\n")
    subprocess.run(["git", "add", "a.py"], cwd=tmp_path, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=tmp_path, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    tags = git_tags(tmp_path)
    assert tags["mlflow.source.git.commit"] == head
    assert tags["mlflow.source.git.branch"] == "exp"
    assert tags["mlflow.source.git.dirty"] == "false"
    assert git_tags(tmp_path / "nowhere") == {}


class _Writer:
    """A stand-in for the MLflow writer: records what a flush would send."""

    def __init__(self) -> None:
        self.run_id = "r1"
        self.metrics: list[MetricPoint] = []
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.sent: list[int] = []
        self.artifacts: list[tuple[str, str | None]] = []

    client = None
    mlflow = None

    def full(self) -> bool:
        return len(self.metrics) >= 1000

    def flush(self) -> None:
        self.sent.append(len(self.metrics))
        self.metrics, self.params, self.tags = [], {}, {}

    def log_artifact(self, local_path: str, artifact_path: str | None) -> None:
        self.artifacts.append((local_path, artifact_path))

    def log_artifacts(self, local_dir: str, artifact_path: str | None) -> None:
        self.artifacts.append((local_dir, artifact_path))


def _case() -> Case:
    return Case(HypothesisSpec("hyp_1"), CaseRecord(hypothesis="hyp_1", nodeid="t::a", name="a"))


def test_untracked_run_records_into_the_case(tmp_path: Path) -> None:
    case = _case()
    run = run_for_case(case)
    assert run_for_case(case) is run and not run.tracking and run.client is None
    run.log_metric("loss", 1.0)
    run.log_metrics({"loss": 0.5, "acc": 0.7}, step=10)
    run.log_params({"epochs": 3})
    run.log_param("epochs", 3)  # same value: fine
    with pytest.raises(ValueError, match="already logged"):
        run.log_param("epochs", 4)
    run.set_tags({"note": "x"})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "m.txt").write_text("1")
    (tmp_path / "f.png").write_text("1")
    run.log_artifact(tmp_path / "f.png", "plots")
    run.log_artifacts(tmp_path / "out")
    with pytest.raises(FileNotFoundError):
        run.log_artifact(tmp_path / "missing")
    assert case.record.metrics == {"loss": 0.5, "acc": 0.7}
    assert case.history["loss"] == [(0, 1.0), (10, 0.5)]
    assert case.record.params == {"epochs": 3}
    assert case.record.extra["tags"] == {"note": "x"}
    assert case.record.artifacts == ["plots/f.png", "m.txt"]


def test_tracked_run_buffers_and_flushes_when_a_batch_is_full(tmp_path: Path) -> None:
    case = _case()
    writer = _Writer()
    run = run_for_case(case)
    run.attach(writer)
    for i in range(1500):
        run.log_metric("loss", 1.0 / (i + 1))
    assert writer.sent == [1000]  # one full batch went out, the rest waits
    assert len(writer.metrics) == 500
    assert writer.metrics[-1][0] == "loss" and writer.metrics[-1][3] == 1499
    run.log_param("lr", 0.1)
    assert writer.params == {"lr": "0.1"}
    (tmp_path / "a.txt").write_text("a")
    run.log_artifact(tmp_path / "a.txt")
    assert writer.artifacts == [(str(tmp_path / "a.txt"), None)]
    run.flush()
    assert writer.sent == [1000, 500]
    assert isinstance(run, GrdRun) and run.tracking


def test_case_tags_carry_device_and_gpu() -> None:
    from pytest_grd.record import CaseRecord
    from pytest_grd.tracking.tags import case_tags

    record = CaseRecord(hypothesis="h", nodeid="t.py::f", name="h[seed=0]", device="cuda:0")
    record.extra["gpu"] = {
        "index": 3,
        "name": "NVIDIA H200",
        "memory_mb": 143771,
        "cuda_visible_devices": "3",
        "worker": "gw1",
    }
    tags = case_tags(record)
    assert tags["grd.device"] == "cuda:0"
    assert tags["grd.gpu.name"] == "NVIDIA H200"
    assert tags["grd.gpu.memory_mb"] == "143771"
    assert tags["grd.gpu.index"] == "3"
    cpu = case_tags(CaseRecord(hypothesis="h", nodeid="t.py::f", name="h", device="cpu"))
    assert cpu["grd.device"] == "cpu"
    assert not any(k.startswith("grd.gpu.") for k in cpu)


# -- what grd_run checks at each call (MLflow's rules) -------------------------


def _tracked() -> tuple[GrdRun, _Writer]:
    run = run_for_case(_case())
    writer = _Writer()
    run.attach(writer)
    return run, writer


def _message(call: Callable[[], object]) -> str:
    with pytest.raises(TrackingCallError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a!b", "grd_run.{m}('a!b'): invalid name: use only letters, digits, _ - . : / and spaces"),
        ("", "grd_run.{m}(''): invalid name: it is empty"),
        ("x" * 251, "invalid name: it is 251 characters; MLflow's limit is 250"),
        ("a//b", "grd_run.{m}('a//b'): invalid name: MLflow reads names as paths: write 'a/b'"),
        ("val/", "invalid name: MLflow reads names as paths: write 'val'"),
        ("./acc", "invalid name: MLflow reads names as paths: write 'acc'"),
        ("../up", "invalid name: MLflow reads names as paths: it must not start with '/' or '..'"),
        ("/abs", "invalid name: MLflow reads names as paths: it must not start with '/' or '..'"),
        (".", "it must not start with '/' or '..'"),
        (None, "grd_run.{m}(None): invalid name: it must be a string, not NoneType"),
    ],
)
@pytest.mark.parametrize("method", ["log_metric", "log_param", "set_tag"])
def test_names_follow_mlflow_rules(method: str, name: Any, expected: str) -> None:
    run, writer = _tracked()
    message = _message(lambda: getattr(run, method)(name, 1))
    assert expected.format(m=method) in message
    assert not (writer.metrics or writer.params or writer.tags)
    for good in ("val/acc 1:2", "a.b-c_d", "x" * 250, "épsilon"):
        getattr(run, method)(good, 1)


def test_over_long_param_is_refused_at_the_call_not_cut() -> None:
    run, writer = _tracked()
    run.log_param("fits", "x" * 6000)
    assert writer.params["fits"] == "x" * 6000
    assert (
        _message(lambda: run.log_param("notes", "x" * 10_000))
        == "grd_run.log_param('notes'): value is 10,000 characters; MLflow's limit is 6,000"
    )
    # Measured as MLflow stores it (JSON for containers).
    assert "value is 6,001 characters" in _message(
        lambda: run.log_params({"ok": 1, "grid": ["y" * 5997]})
    )
    assert "notes" not in run._case.record.params and "grid" not in writer.params
    assert "ok" not in writer.params  # log_params: all checked before any is logged


def test_over_long_tag_is_refused_at_the_call() -> None:
    run, writer = _tracked()
    run.set_tag("fits", "t" * 8000)
    assert (
        _message(lambda: run.set_tag("note", "t" * 9000))
        == "grd_run.set_tag('note'): value is 9,000 characters; MLflow's limit is 8,000"
    )
    assert "grd_run.set_tags('big'): value is 8,001" in _message(
        lambda: run.set_tags({"small": "s", "big": "t" * 8001})
    )
    assert set(writer.tags) == {"fits"}
    assert set(run._case.record.extra["tags"]) == {"fits"}


def test_changing_a_param_is_refused() -> None:
    run, writer = _tracked()
    run.log_param("epochs", 3)
    run.log_param("epochs", 3)  # the same value again: a no-op
    message = _message(lambda: run.log_param("epochs", 4))
    assert message == (
        "grd_run.log_param('epochs'): already logged as 3; a param cannot change to 4 "
        "(log it under another name)"
    )
    assert isinstance(TrackingCallError(message), ValueError)
    assert writer.params == {"epochs": "3"}


@pytest.mark.parametrize(
    ("value", "shown"),
    [("0.5", "str '0.5'"), (True, "bool True"), (None, "NoneType None"), ([1, 2], "list [1, 2]")],
)
def test_metric_value_must_be_a_number(value: Any, shown: str) -> None:
    run, writer = _tracked()
    assert (
        _message(lambda: run.log_metric("loss", value))
        == f"grd_run.log_metric('loss'): value must be a number, got {shown}"
    )
    assert "loss" not in run._case.record.metrics and writer.metrics == []


def test_metric_numbers_of_any_kind_are_accepted() -> None:
    import numpy as np

    run, writer = _tracked()
    for value in (1, 0.5, Decimal("0.25"), np.float32(0.125), np.int64(2), np.array(3.0)):
        run.log_metric("m", value)  # type: ignore[arg-type]
    assert [point[1] for point in writer.metrics] == [1.0, 0.5, 0.25, 0.125, 2.0, 3.0]
    assert all(type(point[1]) is float for point in writer.metrics)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"step": 1.5}, "step must be an integer (64-bit), got float 1.5"),
        ({"step": True}, "step must be an integer (64-bit), got bool True"),
        ({"step": 2**63}, "step must be an integer (64-bit), got int 9223372036854775808"),
        ({"step": "3"}, "step must be an integer (64-bit), got str '3'"),
        (
            {"timestamp": -1},
            "timestamp must be a non-negative integer (milliseconds since the epoch), got -1",
        ),
        (
            {"timestamp": 1.5},
            "timestamp must be a non-negative integer (milliseconds since the epoch), got 1.5",
        ),
    ],
)
def test_metric_step_and_timestamp(kwargs: dict[str, Any], expected: str) -> None:
    run, writer = _tracked()
    assert _message(lambda: run.log_metric("loss", 0.5, **kwargs)) == (
        f"grd_run.log_metric('loss'): {expected}"
    )
    assert writer.metrics == [] and run._case.history == {}


def test_step_accepts_numpy_integers_and_log_metrics_is_all_or_nothing() -> None:
    import numpy as np

    run, writer = _tracked()
    run.log_metric("loss", 0.5, step=np.int64(7))  # type: ignore[arg-type]
    assert writer.metrics[-1][3] == 7 and type(writer.metrics[-1][3]) is int
    message = _message(lambda: run.log_metrics({"acc": 0.9, "f1": "high"}))  # type: ignore[dict-item]
    assert message == "grd_run.log_metrics('f1'): value must be a number, got str 'high'"
    assert "acc" not in run._case.record.metrics and len(writer.metrics) == 1


@pytest.mark.parametrize(
    ("artifact_path", "problem"),
    [
        ("../x", "must not contain '..' (it must stay inside the run)"),
        ("plots/../../x", "must not contain '..' (it must stay inside the run)"),
        ("/tmp/x", "must be relative (a folder inside the run), not absolute"),
        ("C:\\x", "must use '/' between folders, not '\\'"),
        ("plots/", "must be written 'plots'"),
        ("./plots", "must be written 'plots'"),
        ("a//b", "must be written 'a/b'"),
        ("a#b", "must not contain '#'"),
        (".", "names no folder; leave it out to log at the top of the run"),
    ],
)
def test_artifact_path_must_stay_inside_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, artifact_path: str, problem: str
) -> None:
    monkeypatch.chdir(tmp_path)
    run, writer = _tracked()
    Path("f.txt").write_text("1")
    Path("d").mkdir()
    Path("d", "g.txt").write_text("1")
    message = _message(lambda: run.log_artifact("f.txt", artifact_path))
    assert message == (
        f"grd_run.log_artifact('f.txt', {artifact_path!r}): artifact_path {artifact_path!r} "
        f"{problem}"
    )
    message = _message(lambda: run.log_artifacts("d", artifact_path))
    assert message == (
        f"grd_run.log_artifacts('d', {artifact_path!r}): artifact_path {artifact_path!r} {problem}"
    )
    assert writer.artifacts == [] and run._case.record.artifacts == []


def test_artifact_must_exist(tmp_path: Path) -> None:
    run, writer = _tracked()
    with pytest.raises(FileNotFoundError, match=r"^grd_run\.log_artifact\('.*missing\.txt'\): "):
        run.log_artifact(tmp_path / "missing.txt")
    with pytest.raises(IsADirectoryError, match=r"is a directory; use grd_run\.log_artifacts"):
        run.log_artifact(tmp_path, "plots")
    with pytest.raises(NotADirectoryError, match="no such directory"):
        run.log_artifacts(tmp_path / "nowhere")
    (tmp_path / "ok.txt").write_text("1")
    run.log_artifact(tmp_path / "ok.txt", "plots/run 1")
    run.log_artifact(tmp_path / "ok.txt", "")
    assert writer.artifacts == [
        (str(tmp_path / "ok.txt"), "plots/run 1"),
        (str(tmp_path / "ok.txt"), None),
    ]
    assert run._case.record.artifacts == ["plots/run 1/ok.txt", "ok.txt"]


def test_checks_are_the_same_without_tracking(tmp_path: Path) -> None:
    """A study must not behave differently offline (``--grd-no-tracking``)."""
    (tmp_path / "f.txt").write_text("1")
    bad_calls: list[Callable[[GrdRun], object]] = [
        lambda r: r.log_param("notes", "x" * 10_000),
        lambda r: r.set_tag("note", "x" * 9000),
        lambda r: r.log_metric("a!b", 1.0),
        lambda r: r.log_metric("loss", "0.5"),  # type: ignore[arg-type]
        lambda r: r.log_metric("loss", 1.0, step=0.5),  # type: ignore[arg-type]
        lambda r: r.log_artifact(tmp_path / "f.txt", "../x"),
    ]
    tracked, writer = _tracked()
    untracked = run_for_case(_case())
    assert not untracked.tracking
    for bad in bad_calls:
        offline = _message(lambda bad=bad: bad(untracked))  # type: ignore[misc]
        assert offline == _message(lambda bad=bad: bad(tracked))  # type: ignore[misc]
    for run in (tracked, untracked):
        record = run._case.record
        assert record.params == {} and record.metrics == {} and record.artifacts == []
    assert not (writer.metrics or writer.params or writer.tags or writer.artifacts)
