"""The tracking journal: cases write it without MLflow, the session's writer
sends it, ``grd sync`` sends what is left, idempotently.  Real sessions, a
real SQLite store, read back with MLflow's client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_grd.tracking.journal import Journal, journal_files, read_lines, run_key
from pytest_grd.tracking.registry import LockTimeout, RunRegistry, locked

SWEEP = """
import sys
import pytest

@pytest.mark.hypothesis("hyp_j", claim="the journal keeps every case")
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_j(n, grd_run, tmp_path):
    # The process running the case never imports MLflow for tracking.
    assert "mlflow" not in sys.modules
    grd_run.log_param("n2", n * 2)
    for step in range(3):
        grd_run.log_metric("loss", n + step, step=step)
    out = tmp_path / "note.txt"
    out.write_text(f"case {n}")
    grd_run.log_artifact(out, "notes")
    assert n != 3, "three is rejected"
"""


def _grd(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    grd = str(Path(sys.executable).with_name("grd"))
    return subprocess.run(
        [grd, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def _runs(uri: str, experiment: str) -> list[Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    return list(client.search_runs([exp.experiment_id], max_results=1000))


def _check_store(uri: str, experiment: str) -> None:
    """One run per case and one parent, each ended, with the case's data."""
    from mlflow.tracking import MlflowClient

    runs = _runs(uri, experiment)
    names = sorted(r.info.run_name for r in runs)
    assert names == ["hyp_j", "hyp_j[n=1]", "hyp_j[n=2]", "hyp_j[n=3]", "hyp_j[n=4]"]
    client = MlflowClient(tracking_uri=uri)
    for run in runs:
        assert run.info.status == "FINISHED", run.info.run_name
        if run.info.run_name == "hyp_j":
            assert run.data.tags["grd.verdict"] == "REJECTED"
            continue
        n = int(run.data.params["n"])
        assert run.data.params["n2"] == str(n * 2)
        history = client.get_metric_history(run.info.run_id, "loss")
        assert sorted((m.step, m.value) for m in history) == [(s, n + s) for s in range(3)]
        assert run.data.tags["grd.verdict"] == ("REJECTED" if n == 3 else "VALIDATED")
        assert [a.path for a in client.list_artifacts(run.info.run_id, "notes")] == [
            "notes/note.txt"
        ]
        record = json.loads(run.data.tags["grd.record"])
        assert record["run_id"] == run.info.run_id


@pytest.mark.slow
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_cases_journal_without_mlflow_and_the_writer_sends_it(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    pytester.makepyfile(test_j=SWEEP)
    uri = f"sqlite:///{pytester.path.as_posix()}/m.db"
    result = pytester.runpytest_subprocess(
        "--grd-tracking-uri", uri, "--grd-report", "rep", "-p", "no:randomly", *workers
    )
    result.assert_outcomes(passed=3, failed=2)
    assert "grd tracking" not in result.stdout.str()  # nothing pending, nothing refused
    _check_store(uri, pytester.path.name)
    # The report links each case to the run the writer made.
    report = json.loads((pytester.path / "rep" / "report.json").read_text())
    cases = [c for h in report["hypotheses"] for c in h["cases"]]
    stored = {r.info.run_name: r.info.run_id for r in _runs(uri, pytester.path.name)}
    assert {c["name"]: c["run_id"] for c in cases} == {
        name: run_id for name, run_id in stored.items() if name != "hyp_j"
    }
    # Everything sent: the journal is gone.
    assert not any((pytester.path / ".grd" / "journal").iterdir())


@pytest.mark.slow
def test_offline_then_sync_twice_makes_each_run_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_j=SWEEP)
    pytester.makeini("[pytest]\ngrd_offline = true\n")
    uri = f"sqlite:///{pytester.path.as_posix()}/m.db"
    result = pytester.runpytest_subprocess("--grd-tracking-uri", uri, "-p", "no:randomly")
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        ["grd tracking: offline; runs journaled in .grd/journal/*: send them with `grd sync`"]
    )
    assert not (pytester.path / "m.db").exists()  # nothing sent
    journal = pytester.path / ".grd" / "journal"
    (session,) = journal.iterdir()
    # Sync to another store first: the journal is kept for its own.
    other = f"sqlite:///{pytester.path.as_posix()}/other.db"
    done = _grd(pytester.path, "sync", "--tracking-uri", other)
    assert done.returncode == 0, done.stderr
    assert "journal kept" in done.stdout
    _check_store(other, pytester.path.name)
    done = _grd(pytester.path, "sync", "--tracking-uri", other)
    assert done.returncode == 0, done.stderr
    _check_store(other, pytester.path.name)  # still one run each
    # Then to its own store (the ini's URI is not where it went: --grd-tracking-uri
    # was given, and the session recorded it).
    done = _grd(pytester.path, "sync")
    assert done.returncode == 0, done.stderr
    assert f"{session.name}: sent " in done.stdout and "journal removed" in done.stdout
    _check_store(uri, pytester.path.name)
    assert not session.exists()
    done = _grd(pytester.path, "sync")
    assert done.returncode == 0 and "nothing to send" in done.stdout
    _check_store(uri, pytester.path.name)


def test_no_tracking_journals_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_j=SWEEP)
    result = pytester.runpytest_subprocess("--grd-no-tracking", "-p", "no:randomly")
    result.assert_outcomes(passed=3, failed=2)
    assert not (pytester.path / ".grd").exists()
    assert not (pytester.path / "mlflow.db").exists()


# -- units -----------------------------------------------------------------------


def test_journal_reader_takes_whole_lines_only(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "gw0")
    journal.append({"op": "open", "key": "a"})
    journal.append({"op": "close", "key": "a", "metrics": [["m", float("nan"), 1, 0]]}, sync=True)
    with open(journal.path, "ab") as handle:  # a process killed mid-write
        handle.write(b'{"op": "log", "key": "a", "met')
    journal.close()
    lines = list(read_lines(journal.path, 0))
    assert [entry["op"] for entry, _ in lines] == ["open", "close"]
    end = lines[-1][1]
    assert list(read_lines(journal.path, end)) == []
    with open(journal.path, "ab") as handle:  # the rest of the line arrives
        handle.write(b'rics": []}\n')
    assert [e["op"] for e, _ in read_lines(journal.path, end)] == ["log"]


def test_journal_files_put_the_controller_last(tmp_path: Path) -> None:
    for name in ("main", "gw1", "gw0"):
        journal = Journal(tmp_path, name)
        journal.append({"op": "x"})
        journal.close()
    (tmp_path / "runs.jsonl").write_text("")
    assert [p.name for p in journal_files(tmp_path)] == ["gw0.jsonl", "gw1.jsonl", "main.jsonl"]


def test_run_keys_are_stable_and_distinct() -> None:
    assert run_key("s1", "t.py::a") == run_key("s1", "t.py::a")
    assert len({run_key("s1", "t.py::a"), run_key("s2", "t.py::a"), run_key("s1", "t.py::b")}) == 3


def test_registry_creates_each_key_once(tmp_path: Path) -> None:
    made: list[str] = []

    def create() -> str:
        made.append("run")
        return f"r{len(made)}"

    first = RunRegistry(tmp_path, "sqlite:///a.db")
    second = RunRegistry(tmp_path, "sqlite:///a.db")  # another process, same store
    assert first.ensure("k", create) == ("r1", True)
    assert second.ensure("k", create) == ("r1", False)
    assert made == ["run"]
    # Another store has runs of its own.
    assert RunRegistry(tmp_path, "sqlite:///b.db").ensure("k", create) == ("r2", True)


def test_a_held_lock_times_out_naming_its_file(tmp_path: Path) -> None:
    import fcntl

    path = tmp_path / "m.db.grd-lock"
    with open(path, "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        message = f"lock {path} held by another process for 0.2 s"
        with pytest.raises(LockTimeout, match=message), locked(path, 0.2):
            pass
    with locked(path, 0.2):
        pass
