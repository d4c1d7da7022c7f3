"""Tracking end to end: real sessions (pytester) writing to a real MLflow store."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RecordSink

SWEEP = """
import pytest

@pytest.mark.hypothesis("hyp_lr", claim="a small learning rate converges", seeds=2)
@pytest.mark.parametrize("lr", [0.1, 0.01])
def test_lr(lr, grd_seed, grd_run, grd_case, tmp_path):
    grd_run.log_param("epochs", 3)
    for step in range(4):
        grd_run.log_metric("loss", 1.0 / (step + 1) + lr)
    grd_run.log_metrics({"acc": 0.9})
    grd_run.set_tag("note", "sweep")
    out = tmp_path / "curve.txt"
    out.write_text("1,2,3")
    grd_run.log_artifact(out, "plots")
    grd_case.record.lineage.append({
        "target": "data/train.csv", "path": "data/train.csv", "rev_requested": "v1",
        "rev_resolved": "abc123", "md5": "0" * 32, "size": 10, "source": "cache",
        "versioned": True, "schema": "Train", "validation": "passed",
    })
    assert lr < 0.05, "too large"

@pytest.mark.hypothesis("hyp_err", claim="errors are inconclusive")
def test_err():
    raise ValueError("boom")

@pytest.mark.hypothesis("hyp_quiet", claim="no grd_run requested")
def test_quiet():
    pass

def test_plain():
    pass
"""

STATS_CONFTEST = """
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_grd_session_results(results, config, session):
    for result in results:
        if result.id == "hyp_quiet":
            result.stats = {"p_value": 0.01, "p_adjusted": 0.02, "ci": [0.1, 0.3],
                            "effect_size": 0.8, "test": "welch"}
"""


@pytest.fixture(autouse=True, scope="module")
def _mlflow_loaded(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Load mlflow and its SQL store in this process before any in-process
    session: pytester drops modules first imported during an inline run,
    which leaves mlflow half-imported for the assertions that follow."""
    import mlflow.data.meta_dataset
    import mlflow.data.sources  # noqa: F401
    from mlflow.tracking import MlflowClient

    import pytest_grd.tracking.query
    import pytest_grd.tracking.store  # noqa: F401

    db = tmp_path_factory.mktemp("warm") / "warm.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _runs(uri: str, experiment: str) -> list[Any]:
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} in {uri}"
    return list(client.search_runs([exp.experiment_id], max_results=1000))


def _git_init(path: Path) -> str:
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-qm", "experiments"], cwd=path, check=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True
    ).stdout.strip()


def _terminal_verdicts(lines: list[str]) -> dict[str, str]:
    """``test_lr[...]`` -> verdict word, from ``-v`` output (serial:
    ``file::test VERDICT``; xdist: ``[gw0] [ 14%] VERDICT file::test``)."""
    found = {}
    for line in lines:
        m = re.match(r"\S+::(\S+) (VALIDATED|REJECTED|INCONCLUSIVE)\b", line)
        if m:
            found[m.group(1)] = m.group(2)
        m = re.match(r"\[gw\d+\] \[\s*\d+%\] (VALIDATED|REJECTED|INCONCLUSIVE) \S+::(\S+)", line)
        if m:
            found[m.group(2)] = m.group(1)
    return found


def test_serial_session_runs_tags_params_metrics_statuses(
    pytester: pytest.Pytester, sink: RecordSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("GRD_SECRET_TOKEN", "hunter2")
    monkeypatch.setenv("RUN_LABEL", "nightly")
    pytester.makeini("[pytest]\ngrd_experiment = lab\ngrd_env_allowlist = RUN_LABEL\n")
    pytester.makepyfile(test_exp=SWEEP)
    pytester.makeconftest(RecordSink.CONFTEST + STATS_CONFTEST)
    commit = _git_init(pytester.path)
    result = pytester.runpytest("-v", "-p", "no:randomly")
    result.assert_outcomes(passed=4, failed=4)  # 3 cases + hyp_lr's own result
    uri = f"sqlite:///{pytester.path.as_posix()}/mlflow.db"  # the default store
    runs = _runs(uri, "lab")
    parents = {
        r.data.tags["grd.hypothesis"]: r for r in runs if r.data.tags["grd.role"] == "parent"
    }
    cases = {r.data.tags["grd.nodeid"]: r for r in runs if r.data.tags["grd.role"] == "case"}
    assert set(parents) == {"hyp_lr", "hyp_err", "hyp_quiet"}
    assert len(cases) == 6  # 4 sweep points + err + quiet; the plain test has none

    # Names, nesting, params.
    lr_case = cases["test_exp.py::test_lr[0.01-seed1]"]
    assert lr_case.info.run_name == "hyp_lr[lr=0.01,seed=1]"
    assert lr_case.data.tags["mlflow.parentRunId"] == parents["hyp_lr"].info.run_id
    assert parents["hyp_lr"].info.run_name == "hyp_lr"
    assert lr_case.data.params == {"lr": "0.01", "seed": "1", "epochs": "3"}
    # Metrics: last value and the full history with steps.
    assert lr_case.data.metrics["acc"] == 0.9
    history = _client(uri).get_metric_history(lr_case.info.run_id, "loss")
    assert sorted((m.step, round(m.value, 4)) for m in history) == [
        (0, 1.01),
        (1, 0.51),
        (2, 0.3433),
        (3, 0.26),
    ]
    # Tags every run carries.
    tags = lr_case.data.tags
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["mlflow.source.git.dirty"] == "false"
    assert tags["grd.claim"] == "a small learning rate converges"
    assert tags["grd.worker"] == "main" and tags["grd.python"] and tags["grd.platform"]
    assert tags["grd.session_id"] == parents["hyp_lr"].data.tags["grd.session_id"]
    assert tags["grd.scale"] == "full" and tags["note"] == "sweep"
    assert tags["grd.env.RUN_LABEL"] == "nightly"
    everything = json.dumps([(r.data.tags, r.data.params) for r in runs])
    assert "hunter2" not in everything and "GRD_SECRET_TOKEN" not in everything

    # Verdict tags match the terminal; statuses follow the verdict.
    terminal = _terminal_verdicts(result.outlines)
    assert len(terminal) == 7  # 6 cases + hyp_lr, decided across its cases
    for nodeid, run in cases.items():
        assert run.data.tags["grd.verdict"] == terminal[nodeid.split("::")[1]], nodeid
    assert cases["test_exp.py::test_err"].info.status == "FAILED"
    assert cases["test_exp.py::test_err"].data.tags["grd.reason"] == "error: ValueError: boom"
    assert lr_case.info.status == "FINISHED" and tags["grd.verdict"] == "VALIDATED"
    rejected = cases["test_exp.py::test_lr[0.1-seed0]"]
    assert rejected.info.status == "FINISHED" and rejected.data.tags["grd.verdict"] == "REJECTED"

    # Parents: rolled-up verdict, counts, statistics.
    assert all(p.info.status == "FINISHED" for p in parents.values())
    lr_parent = parents["hyp_lr"].data
    assert lr_parent.tags["grd.verdict"] == "REJECTED"
    assert lr_parent.metrics["grd.n_rejected"] == 2 and lr_parent.metrics["grd.n_cases"] == 4
    quiet = parents["hyp_quiet"].data
    assert quiet.metrics["grd.p_value"] == 0.01 and quiet.metrics["grd.ci_high"] == 0.3
    assert quiet.tags["grd.stats.test"] == "welch"

    # Lineage and artifacts.
    inputs = _client(uri).get_run(lr_case.info.run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [("data/train.csv", "0" * 32)]
    input_tags = {t.key: t.value for t in inputs[0].tags}
    assert input_tags["mlflow.data.context"] == "training"
    assert input_tags["grd.rev_resolved"] == "abc123"
    artifacts = _client(uri).list_artifacts(lr_case.info.run_id, "plots")
    assert [a.path for a in artifacts] == ["plots/curve.txt"]

    # Records on the controller carry the run ids; the store gives them back.
    sunk = {r["nodeid"]: r for r in sink.records()}
    assert sunk["test_exp.py::test_err"]["run_id"] == cases["test_exp.py::test_err"].info.run_id
    assert sunk["test_exp.py::test_lr[0.01-seed1]"]["artifacts"] == ["plots/curve.txt"]
    from pytest_grd.record import CaseRecord
    from pytest_grd.tracking.query import records_from_store, results_from_store

    back = records_from_store(uri, "lab")
    assert [r.nodeid for r in back] == sorted(sunk)
    for record in back:
        expected = CaseRecord.from_dict(sunk[record.nodeid])
        assert record.comparable() | {"extra": {}} == expected.comparable() | {"extra": {}}
        assert record.run_id == expected.run_id
    results = {r.id: r for r in results_from_store(uri, "lab")}
    assert results["hyp_quiet"].stats is not None and results["hyp_quiet"].stats["p_value"] == 0.01
    assert results["hyp_lr"].verdict == "REJECTED"
    # The store is MLflow's default for `mlflow ui` in the project root, not ./mlruns.
    assert not (pytester.path / "mlruns").exists()


def test_second_session_gets_its_own_parents(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    uri = f"sqlite:///{pytester.path.as_posix()}/other.db"
    for _ in range(2):
        pytester.runpytest("--grd-tracking-uri", uri, "-k", "quiet")
    from pytest_grd.tracking.query import records_from_store, sessions_in_store

    runs = _runs(uri, pytester.path.name)
    assert sorted(r.data.tags["grd.role"] for r in runs) == ["case", "case", "parent", "parent"]
    sessions = sessions_in_store(uri, pytester.path.name)
    assert len(sessions) == 2
    latest = records_from_store(uri, pytester.path.name)
    assert [r.session_id for r in latest] == [sessions[0]]
    assert len(records_from_store(uri, pytester.path.name, all_sessions=True)) == 2
    assert len(records_from_store(uri, pytester.path.name, session_id=sessions[1])) == 1


def test_no_tracking_still_records(pytester: pytest.Pytester, sink: RecordSink) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    result = pytester.runpytest("--grd-no-tracking", "-k", "test_lr")
    result.assert_outcomes(passed=2, failed=3)  # 2 cases + hyp_lr's own result
    assert not (pytester.path / "mlflow.db").exists()
    records = sink.records()
    assert len(records) == 4
    assert all(r["run_id"] is None and r["metrics"]["acc"] == 0.9 for r in records)
    assert all(r["artifacts"] == ["plots/curve.txt"] for r in records)


def test_session_without_hypotheses_imports_no_mlflow(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import sys
def pytest_sessionfinish(session):
    with open("modules.txt", "w") as fh:
        fh.write(" ".join(m for m in ("mlflow", "sqlalchemy") if m in sys.modules))
"""
    )
    pytester.makepyfile(test_plain="def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=1)
    assert (pytester.path / "modules.txt").read_text() == ""
    assert not (pytester.path / "mlflow.db").exists()


def test_interrupted_session_kills_open_runs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_exp="""
import pytest

@pytest.mark.hypothesis("hyp_int", claim="interrupted")
@pytest.mark.parametrize("n", [1, 2])
def test_stop(n, grd_run):
    grd_run.log_metric("progress", 0.5)
    if n == 2:
        raise KeyboardInterrupt
"""
    )
    uri = f"sqlite:///{pytester.path.as_posix()}/m.db"
    result = pytester.runpytest(
        "--grd-tracking-uri", uri, "-p", "no:randomly", no_reraise_ctrlc=True
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    runs = {r.info.run_name: r for r in _runs(uri, pytester.path.name)}
    assert runs["hyp_int[n=1]"].info.status == "FINISHED"
    killed = runs["hyp_int[n=2]"]
    assert killed.info.status == "KILLED"
    assert killed.data.tags["grd.verdict"] == "INCONCLUSIVE"
    assert killed.data.metrics["progress"] == 0.5  # what it logged was kept
    assert runs["hyp_int"].info.status == "KILLED"


def test_unreachable_server_stops_with_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    result = pytester.runpytest("--grd-tracking-uri", "http://127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if "127.0.0.1:9" in line]
    assert len(errors) == 1 and "unreachable" in errors[0]
    assert "passed" not in result.stdout.str() and "failed" not in result.stdout.str()


@pytest.mark.slow
def test_unreachable_server_under_xdist_stops_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_exp=SWEEP)
    result = pytester.runpytest_subprocess("-n", "2", "--grd-tracking-uri", "http://127.0.0.1:9")
    output = result.stdout.lines + result.stderr.lines
    mentions = [line for line in output if "127.0.0.1:9" in line]
    assert len(mentions) == 1 and "unreachable" in mentions[0]
    assert result.ret != 0
    assert not any(re.search(r"\d+ (passed|failed)", line) for line in output)


@pytest.mark.slow
def test_parallel_workers_on_a_fresh_store_record_every_case(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_many="""
import pytest

@pytest.mark.hypothesis("hyp_a", claim="a", seeds=3)
@pytest.mark.parametrize("x", range(4))
def test_a(x, grd_seed, grd_run):
    grd_run.log_metric("x", x)

@pytest.mark.hypothesis("hyp_b", claim="b")
@pytest.mark.parametrize("y", range(4))
def test_b(y):
    assert y < 3
"""
    )
    for attempt in range(2):
        uri = f"sqlite:///{pytester.path.as_posix()}/fresh{attempt}.db"
        result = pytester.runpytest_subprocess("-n", "4", "--grd-tracking-uri", uri)
        result.assert_outcomes(passed=16, failed=2)  # 16 cases + hyp_a and hyp_b
        runs = _runs(uri, pytester.path.name)
        cases = [r for r in runs if r.data.tags["grd.role"] == "case"]
        parents = [r for r in runs if r.data.tags["grd.role"] == "parent"]
        assert len(cases) == 16, f"attempt {attempt}: {len(cases)} case runs"
        assert sorted(p.info.run_name for p in parents) == ["hyp_a", "hyp_b"]
        parent_ids = {p.info.run_id for p in parents}
        assert all(c.data.tags["mlflow.parentRunId"] in parent_ids for c in cases)
        assert all(c.info.status == "FINISHED" for c in cases)
        assert len({c.data.tags["grd.worker"] for c in cases}) > 1
        b_parent = next(p for p in parents if p.info.run_name == "hyp_b")
        assert b_parent.data.tags["grd.verdict"] == "REJECTED"


@pytest.mark.slow
def test_crashed_worker_fails_its_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_crash="""
import os
import pytest

@pytest.mark.hypothesis("hyp_crash", claim="a worker dies")
@pytest.mark.parametrize("n", [1, 2, 3])
def test_die(n):
    if n == 2:
        os._exit(3)
"""
    )
    uri = f"sqlite:///{pytester.path.as_posix()}/m.db"
    pytester.runpytest_subprocess("-n", "2", "--grd-tracking-uri", uri)
    runs = {r.info.run_name: r for r in _runs(uri, pytester.path.name)}
    crashed = runs["hyp_crash[n=2]"]
    assert crashed.info.status == "FAILED"
    assert crashed.data.tags["grd.verdict"] == "INCONCLUSIVE"
    assert crashed.data.tags["grd.reason"].startswith("worker crashed")
    assert runs["hyp_crash[n=1]"].info.status == "FINISHED"
    assert runs["hyp_crash"].data.tags["grd.verdict"] == "INCONCLUSIVE"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow server at {url} not ready after {limit:.0f} s")


def _start_server(port: int, tmp_path: Path, log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path.as_posix()}/backend.db",
            "--artifacts-destination",
            str(tmp_path / "artifacts"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.mark.slow
def test_real_server_sweep_then_outage(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("wb")
    server = _start_server(port, tmp_path, log)
    try:
        _wait_healthy(url, server, limit=150)
        pytester.makepyfile(test_exp=SWEEP)
        result = pytester.runpytest_subprocess("-n", "2", "--grd-tracking-uri", url, "-v")
        result.assert_outcomes(passed=4, failed=4)  # 3 cases + hyp_lr's own result
        runs = _runs(url, pytester.path.name)
        cases = {r.data.tags["grd.nodeid"]: r for r in runs if r.data.tags["grd.role"] == "case"}
        parents = [r for r in runs if r.data.tags["grd.role"] == "parent"]
        assert len(cases) == 6 and len(parents) == 3
        terminal = _terminal_verdicts(result.outlines)
        for nodeid, run in cases.items():
            assert run.data.tags["grd.verdict"] == terminal[nodeid.split("::")[1]]
        assert {r.data.tags["grd.worker"] for r in cases.values()} <= {"gw0", "gw1"}
        lr_case = cases["test_exp.py::test_lr[0.01-seed0]"]
        assert _client(url).list_artifacts(lr_case.info.run_id, "plots")[0].path == (
            "plots/curve.txt"
        )

        # The server goes away in the middle of a session: verdicts survive,
        # one line names the runs that were not logged.
        monkeypatch.setenv("GRD_TEST_SERVER_PID", str(server.pid))
        pytester.makepyfile(
            test_outage="""
import os, signal, time, urllib.request
import pytest

@pytest.mark.hypothesis("hyp_out", claim="server dies")
@pytest.mark.parametrize("n", [1, 2, 3])
def test_out(n, grd_run):
    grd_run.log_metric("m", n)
    if n == 2:
        os.killpg(int(os.environ["GRD_TEST_SERVER_PID"]), signal.SIGTERM)
        time.sleep(3)
"""
        )
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        result = pytester.runpytest_subprocess(
            "--grd-tracking-uri", url, "-p", "no:randomly", "test_outage.py",
            "-o", "grd_tracking_timeout=3",
        )  # fmt: skip
        result.assert_outcomes(passed=4)  # 3 cases + hyp_out's own result
        result.stdout.fnmatch_lines(
            [
                "*= grd verdicts =*",
                "hyp_out*VALIDATED*(3 validated)*",
                "grd tracking: * run(s) pending, not yet in http://127.0.0.1:* (*); they are "
                "kept in .grd/journal/*: send them with `grd sync`*",
            ]
        )
        server.wait(timeout=20)
        # The server is back: grd sync sends what the session kept.
        server = _start_server(port, tmp_path, log)
        _wait_healthy(url, server, limit=150)
        grd = str(Path(sys.executable).with_name("grd"))
        done = subprocess.run(
            [grd, "sync"], cwd=pytester.path, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert "journal removed" in done.stdout
        outage = [
            r for r in _runs(url, pytester.path.name) if r.data.tags["grd.hypothesis"] == "hyp_out"
        ]
        names = sorted(r.info.run_name for r in outage)
        assert names == ["hyp_out", "hyp_out[n=1]", "hyp_out[n=2]", "hyp_out[n=3]"]
        assert {r.info.status for r in outage} == {"FINISHED"}
        assert {r.data.tags["grd.verdict"] for r in outage} == {"VALIDATED"}
        assert not (pytester.path / ".grd" / "journal").exists() or not any(
            (pytester.path / ".grd" / "journal").iterdir()
        )
    finally:
        if server.poll() is None:
            os.killpg(server.pid, 15)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(timeout=10)
        log.close()


BAD_CALLS = """
import pytest
from pytest_grd.outcomes import TrackingCallError

@pytest.mark.hypothesis("hyp_calls", claim="a bad tracking call fails that call, not the session")
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_calls(n, grd_run, tmp_path):
    grd_run.log_metric("before", n)
    out = tmp_path / "curve.txt"
    out.write_text("1,2")
    if n == 2:
        grd_run.log_artifact(out, "../x")
    if n == 3:
        grd_run.log_param("notes", "x" * 10_000)
    if n == 4:
        with pytest.raises(TrackingCallError, match="MLflow's limit is 6,000"):
            grd_run.log_param("notes", "x" * 10_000)
    if n == 5:
        # Refused by the store itself: the param changed behind grd_run's back.
        grd_run.client.log_param(grd_run.run_id, "lr", "1")
        grd_run.log_param("lr", "2")
    grd_run.log_metric("after", n)
    grd_run.log_artifact(out, "plots")
"""


def test_bad_tracking_call_fails_that_call_not_the_session(
    pytester: pytest.Pytester, sink: RecordSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # whole reasons in the short summary
    pytester.makepyfile(test_calls=BAD_CALLS)
    uri = f"sqlite:///{pytester.path.as_posix()}/m.db"
    result = pytester.runpytest(
        "--grd-tracking-uri", uri, "-p", "no:randomly", "-v", "--grd-report", "rep"
    )
    result.assert_outcomes(passed=4, failed=3)  # 2 cases + their hypothesis
    artifact_error = (
        "TrackingCallError: grd_run.log_artifact('*curve.txt', '../x'): "
        "artifact_path '../x' must not contain '..' (it must stay inside the run)"
    )
    param_error = (
        "TrackingCallError: grd_run.log_param('notes'): "
        "value is 10,000 characters; MLflow's limit is 6,000"
    )
    result.stdout.fnmatch_lines(
        [
            "*= grd verdicts =*",
            "hyp_calls  INCONCLUSIVE (4 validated, 2 inconclusive)*",
            f"*reason: 2 of 6 case(s) inconclusive; first: hyp_calls[[]n=2[]]: error: "
            f"{artifact_error}",
            # The store refused one batch of case 5: only that run is named.
            "grd tracking: 1 run(s) partly logged to sqlite:///*m.db: log batch refused: "
            "INVALID_PARAMETER_VALUE: *: hyp_calls[[]n=5[]]",
            f"INCONCLUSIVE test_calls.py::test_calls[[]2[]] - *{artifact_error}",
            f"INCONCLUSIVE test_calls.py::test_calls[[]3[]] - *{param_error}",
        ]
    )
    assert "store unreachable" not in result.stdout.str()

    # Every case has its run, read back from the store; the cases after the
    # bad calls logged as usual.
    runs = {
        r.info.run_name: r
        for r in _runs(uri, pytester.path.name)
        if r.data.tags.get("grd.role") == "case"
    }
    assert sorted(runs) == [f"hyp_calls[n={n}]" for n in range(1, 7)]
    verdicts = {name: run.data.tags["grd.verdict"] for name, run in runs.items()}
    assert verdicts == {
        "hyp_calls[n=1]": "VALIDATED",
        "hyp_calls[n=2]": "INCONCLUSIVE",
        "hyp_calls[n=3]": "INCONCLUSIVE",
        "hyp_calls[n=4]": "VALIDATED",  # caught the error and went on
        "hyp_calls[n=5]": "VALIDATED",  # a refused request never changes a verdict
        "hyp_calls[n=6]": "VALIDATED",
    }
    for n in (1, 4, 5, 6):
        run = runs[f"hyp_calls[n={n}]"]
        assert run.data.metrics == {"before": n, "after": n}, n
        assert run.info.status == "FINISHED"
        listed = _client(uri).list_artifacts(run.info.run_id, "plots")
        assert [a.path for a in listed] == ["plots/curve.txt"], n
    for n, reason in ((2, artifact_error), (3, param_error)):
        run = runs[f"hyp_calls[n={n}]"]
        assert run.data.metrics == {"before": n} and run.info.status == "FAILED"
        assert fnmatch.fnmatch(run.data.tags["grd.reason"], f"error: {reason}")
        assert _client(uri).list_artifacts(run.info.run_id) == []
    # Nothing was cut to 6,000 characters and stored.
    assert all("notes" not in run.data.params for run in runs.values())
    assert runs["hyp_calls[n=5]"].data.params["lr"] == "1"
    # Nothing escaped the runs' artifact directories.
    assert not list(pytester.path.rglob("x"))

    # The store's refusal reached the record the report was written from.
    report = json.loads((pytester.path / "rep" / "report.json").read_text())
    records = {c["name"]: c for h in report["hypotheses"] for c in h["cases"]}
    assert records["hyp_calls[n=5]"]["extra"]["tracking_error"].startswith(
        f"partly logged to {uri}: log batch refused: INVALID_PARAMETER_VALUE: "
    )
    assert not any(
        records[f"hyp_calls[n={n}]"]["extra"].get("tracking_error") for n in (1, 2, 3, 4, 6)
    )


def test_bad_tracking_call_is_the_same_without_tracking(
    pytester: pytest.Pytester, sink: RecordSink
) -> None:
    pytester.makepyfile(
        test_calls=BAD_CALLS.replace('grd_run.client.log_param(grd_run.run_id, "lr", "1")', "pass")
    )
    result = pytester.runpytest("--grd-no-tracking", "-p", "no:randomly")
    result.assert_outcomes(passed=4, failed=3)
    records = {r["name"]: r for r in sink.records()}
    assert [records[f"hyp_calls[n={n}]"]["verdict"] for n in range(1, 7)] == [
        "VALIDATED",
        "INCONCLUSIVE",
        "INCONCLUSIVE",
        "VALIDATED",
        "VALIDATED",
        "VALIDATED",
    ]
    assert records["hyp_calls[n=3]"]["reason"] == (
        "error: TrackingCallError: grd_run.log_param('notes'): "
        "value is 10,000 characters; MLflow's limit is 6,000"
    )
    assert not (pytester.path / "mlflow.db").exists()


def test_names_agree_with_mlflows_own_validation() -> None:
    """GrdRun checks without importing mlflow; its rules must be MLflow's."""
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.artifact_repo import verify_artifact_path
    from mlflow.utils.validation import _validate_param_name

    from pytest_grd.tracking.run import _artifact_path_problem
    from pytest_grd.tracking.tags import name_problem

    names = ["acc", "val/acc 1:2", "a.b-c_d", "épsilon", "x" * 250, "x" * 251, "", ".",
             "a!b", "a//b", "val/", "./acc", "../up", "/abs", "a/../b", "a/./b", "..a"]  # fmt: skip
    for name in names:
        try:
            _validate_param_name(name)  # type: ignore[no-untyped-call]
            if len(name) > 250:
                raise MlflowException("too long")  # MLflow checks the length separately
            mlflow_ok = True
        except MlflowException:
            mlflow_ok = False
        assert (name_problem(name) is None) == mlflow_ok, name
    for path in ["plots", "a/b", "plots/", "./plots", "a//b", "../x", "/abs", "a/..", "."]:
        try:
            verify_artifact_path(path)  # type: ignore[no-untyped-call]
            mlflow_ok = True
        except MlflowException:
            mlflow_ok = False
        assert (_artifact_path_problem(path) is None) == mlflow_ok, path


def _store(uri: str, tmp_path: Path) -> Any:
    from pytest_grd.tracking.settings import TrackingSettings
    from pytest_grd.tracking.store import TrackingStore

    settings = TrackingSettings(uri=uri, source="test", experiment="exp")
    return TrackingStore(settings, timeout=10)


def test_store_refused_request_is_only_that_request(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path.as_posix()}/m.db"
    store = _store(uri, tmp_path)
    store.prepare(10)
    first = store.create_run({"grd.name": "a"}, "a", None)
    store.client.log_param(first, "lr", "1")
    now = int(time.time() * 1000)
    problem = store.write(first, [("m", 1.0, now, 0)], {"lr": "2"}, {"t": "v"})
    assert problem.startswith("log batch refused: INVALID_PARAMETER_VALUE: MlflowException: ")
    assert store.error is None
    run = _client(uri).get_run(first)
    # The refused param cost the batch nothing else.
    assert run.data.metrics == {"m": 1.0} and run.data.tags["t"] == "v"
    assert run.data.params["lr"] == "1"
    # A bad artifact path is a refused request too, whatever code MLflow gives it.
    (tmp_path / "f.txt").write_text("1")
    problem = store.log_artifact(first, str(tmp_path / "f.txt"), "../x")
    assert problem.startswith("log artifact refused: ")
    assert store.error is None
    assert store.terminate(first, "FINISHED", None) is None
    # The next run logs as usual.
    second = store.create_run({}, "b", None)
    assert store.write(second, [("m", 2.0, now, 0)], {}, {}) is None
    assert _client(uri).get_run(second).data.metrics == {"m": 2.0}


def test_store_that_cannot_be_reached_waits_for_a_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in (
        ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0"),
        ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0"),
        ("MLFLOW_HTTP_REQUEST_TIMEOUT", "5"),
        ("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true"),
    ):
        monkeypatch.setenv(name, value)
    uri = f"http://127.0.0.1:{_free_port()}"  # nothing listens: connection refused
    store = _store(uri, tmp_path)
    now = int(time.time() * 1000)
    problem = store.write("0" * 32, [("m", 1.0, now, 0)], {}, {})
    assert problem == store.error
    assert problem.startswith("store unreachable: log batch: MlflowException: ")
    # Nothing more is sent until the writer retries: the next call answers
    # at once with the same words.
    started = time.monotonic()
    assert store.write("0" * 32, [("m", 2.0, now, 1)], {}, {}) == problem
    assert time.monotonic() - started < 0.5
    store.retry()
    assert store.error is None


@pytest.mark.slow
def test_locked_sqlite_store_is_an_outage_then_recovers(tmp_path: Path) -> None:
    """'database is locked' is the store, not the request (MLflow waits 20 s
    first); once the lock is gone, a retry sends the same batch."""
    import sqlite3

    uri = f"sqlite:///{tmp_path.as_posix()}/m.db"
    store = _store(uri, tmp_path)
    store.prepare(10)
    run_id = store.create_run({}, "a", None)
    point = [("m", 1.0, int(time.time() * 1000), 0)]
    holder = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        problem = store.write(run_id, point, {}, {})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert problem == store.error
    assert problem.startswith("store unreachable: log batch: MlflowException: ")
    assert "database is locked" in problem
    store.retry()
    assert store.write(run_id, point, {}, {}) is None
    assert _client(uri).get_run(run_id).data.metrics == {"m": 1.0}
