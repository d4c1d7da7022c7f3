"""Tracking under faults: a locked, hung or killed store, a killed controller,
a held preparation lock.

Real sessions (subprocesses), a real MLflow store (SQLite, or a real ``mlflow
server`` over one), ``grd sync`` run as the user runs it; everything is read
back from the store.  Each sweep is ``hyp_fault``: 8 cases of ~0.4 s, n=5
REJECTED, n=6 an error (INCONCLUSIVE, its run FAILED), the rest VALIDATED.
Case n=2 brings the fault on (``GRD_FAULT``) once the store holds a run of the
session, so the session's writer is in the middle of sending when it strikes.
``grd_tracking_timeout = 5`` (the default is 10 s) keeps the end-of-session
wait short; "the session ends within 15 s of its last case" is measured from
the last case's own end (written by the case) to the exit of the pytest process.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

EXPERIMENT = "faults"
TIMEOUT = 5  # ini grd_tracking_timeout of every project here
CASES = 8
HYP = "hyp_fault"

#: Written into each project: the faults, brought on by case n=2.
FAULTKIT = '''
import os, signal, sqlite3, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(HERE, name)


def note(name, value=""):
    tmp = path(name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(str(value))
    os.replace(tmp, path(name))


def wait_file(name, limit):
    deadline = time.time() + limit
    while not os.path.exists(path(name)):
        if time.time() > deadline:
            raise TimeoutError(f"no {name} after {limit} s")
        time.sleep(0.05)


def wait_runs(db, limit=90.0):
    """Until the SQLite store ``db`` holds a run: the writer is sending."""
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.5)
            try:
                if conn.execute("select count(*) from runs").fetchone()[0]:
                    return
            finally:
                conn.close()
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"no run in {db} after {limit} s")


def hold_lock(db, hold):
    """Hold SQLite's write lock of ``db`` for ``hold`` s (or until lock-release)."""
    wait_runs(db)
    conn = sqlite3.connect(db, isolation_level=None, timeout=60)
    conn.execute("BEGIN EXCLUSIVE")
    note("lock-held", time.time())
    deadline = time.time() + hold
    while time.time() < deadline and not os.path.exists(path("lock-release")):
        time.sleep(0.05)
    conn.execute("ROLLBACK")
    conn.close()
    note("lock-released", time.time())


def hold_flock(lock):
    """Hold ``flock`` of ``lock`` until flock-release."""
    import fcntl

    with open(lock, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        note("flock-held", time.time())
        wait_file("flock-release", 600)


def fault():
    kind = os.environ.get("GRD_FAULT", "")
    db = os.environ.get("GRD_FAULT_DB", "")
    if kind == "lock":
        with open(path("lock.log"), "ab") as log:
            subprocess.Popen(
                [sys.executable, __file__, "lock", db, os.environ["GRD_FAULT_HOLD"]],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
        wait_file("lock-held", 90)
    elif kind in ("stop", "kill"):
        wait_runs(db)
        sig = signal.SIGSTOP if kind == "stop" else signal.SIGKILL
        os.killpg(int(os.environ["GRD_FAULT_PGID"]), sig)
        note("fault-done", time.time())


def hang():
    """The case the controller is killed in (kill -9 tests)."""
    note("running", time.time())
    time.sleep(300)


def mark_end(n):
    with open(path("ends.txt"), "a") as fh:
        fh.write(f"{n} {time.time()!r}\\n")


if __name__ == "__main__":
    if sys.argv[1] == "lock":
        hold_lock(sys.argv[2], float(sys.argv[3]))
    elif sys.argv[1] == "flock":
        hold_flock(sys.argv[2])
'''

SWEEP = f"""
import os, time
import pytest
import faultkit

N = int(os.environ.get("GRD_CASES", "{CASES}"))
FAULT_AT = int(os.environ.get("GRD_FAULT_AT", "2"))
PAUSE = float(os.environ.get("GRD_CASE_SLEEP", "0.4"))

@pytest.mark.hypothesis("{HYP}", claim="a faulty store never changes a verdict")
@pytest.mark.parametrize("n", range(N))
def test_case(n, grd_run):
    grd_run.log_metric("m", n)
    if n == FAULT_AT:
        faultkit.fault()
    if str(n) == os.environ.get("GRD_HANG_AT"):
        faultkit.hang()
    time.sleep(PAUSE)
    faultkit.mark_end(n)
    if n == 6:
        raise ValueError("boom")
    assert n != 5
"""


def _expected_status(nodeid: str) -> str:
    return "FAILED" if nodeid.endswith("[6]") else "FINISHED"


def _project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, uri: str) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("GRD_JOURNAL_DIR", raising=False)
    for name in ("GRD_HANG_AT", "GRD_CASES", "GRD_FAULT_AT", "GRD_CASE_SLEEP"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini(
        f"[pytest]\ngrd_experiment = {EXPERIMENT}\ngrd_tracking_timeout = {TIMEOUT}\n"
        f"grd_tracking_uri = {uri}\n"
    )
    pytester.makepyfile(faultkit=FAULTKIT, test_faults=SWEEP)


def _sqlite_uri(db: Path) -> str:
    return f"sqlite:///{db.as_posix()}"


# -- running sessions and grd sync -------------------------------------------------


def _session(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, float]:
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "-v", "--grd-report", "rep", *args, timeout=240
    )
    return result, time.time()


def _grd_sync(pytester: pytest.Pytester, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("grd")), "sync", *args],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _synced(pytester: pytest.Pytester) -> subprocess.CompletedProcess[str]:
    done = _grd_sync(pytester)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    assert re.search(r": sent \d+ journal line\(s\).*; journal removed$", done.stdout, re.M), (
        done.stdout
    )
    return done


def _ends(pytester: pytest.Pytester) -> dict[int, float]:
    lines = (pytester.path / "ends.txt").read_text().splitlines()
    return {int(n): float(t) for n, t in (line.split() for line in lines)}


def _report(pytester: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / "rep" / "report.json").read_text())
    return data


def _terminal_verdicts(lines: list[str]) -> dict[str, str]:
    """Node id -> verdict word from ``-v`` output (serial:
    ``file::test VERDICT``; xdist: ``[gw0] [ 14%] VERDICT file::test``)."""
    found = {}
    for line in lines:
        m = re.match(r"(\S+::\S+) (VALIDATED|REJECTED|INCONCLUSIVE)\b", line)
        if m:
            found[m.group(1)] = m.group(2)
        m = re.match(r"\[gw\d+\] \[\s*\d+%\] (VALIDATED|REJECTED|INCONCLUSIVE) (\S+::\S+)", line)
        if m:
            found[m.group(2)] = m.group(1)
    return found


def _journal_sessions(pytester: pytest.Pytester) -> list[Path]:
    root = pytester.path / ".grd" / "journal"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def _check_session(
    result: pytest.RunResult, exited: float, pytester: pytest.Pytester
) -> dict[str, Any]:
    """The session ended soon after its last case, every case ran in time,
    its verdicts are complete in the terminal and in report.json, and one
    line says runs are pending in the journal."""
    ends = _ends(pytester)
    assert sorted(ends) == list(range(CASES))
    waited = exited - max(ends.values())
    assert waited < 15, f"the session ended {waited:.1f} s after its last case"
    result.assert_outcomes(passed=6, failed=3)  # 6 VALIDATED + n=5, n=6 + hyp_fault
    report = _report(pytester)
    [hyp] = report["hypotheses"]
    assert hyp["id"] == HYP
    verdicts = {c["nodeid"]: c["verdict"] for c in hyp["cases"]}
    nodeids = [f"test_faults.py::test_case[{n}]" for n in range(CASES)]
    assert sorted(verdicts) == sorted(nodeids)
    assert verdicts == {
        n: {"[5]": "REJECTED", "[6]": "INCONCLUSIVE"}.get(n[-3:], "VALIDATED") for n in nodeids
    }
    # A case never waits on the store (n=2 waits for the fault it brings on).
    slow = {c["nodeid"]: c["duration"] for c in hyp["cases"] if c["duration"] > 3.0}
    assert set(slow) <= {"test_faults.py::test_case[2]"}, slow
    terminal = _terminal_verdicts(result.outlines)
    assert {k: v for k, v in terminal.items() if k in verdicts} == verdicts
    result.stdout.fnmatch_lines(["*= grd verdicts =*", f"{HYP}  {hyp['verdict']} *"])
    [line] = [x for x in result.outlines if x.startswith("grd tracking:")]
    assert re.match(
        r"grd tracking: \d+ run\(s\) pending, not yet in .*send them with `grd sync`", line
    ), line
    assert len(_journal_sessions(pytester)) == 1
    return report


# -- the store, read back ------------------------------------------------------------


def _runs(uri: str) -> list[Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    assert exp is not None, f"no experiment {EXPERIMENT!r} in {uri}"
    return list(client.search_runs([exp.experiment_id], max_results=1000))


def _snapshot(uri: str) -> list[tuple[str, str, str | None, str | None]]:
    return sorted(
        (
            r.info.run_id,
            r.info.status,
            r.data.tags.get("grd.verdict"),
            r.data.tags.get("grd.nodeid"),
        )
        for r in _runs(uri)
    )


def _check_store(uri: str, report: dict[str, Any], pytester: pytest.Pytester) -> None:
    """After grd sync: exactly one run per case with the report's verdict,
    none RUNNING, one parent FINISHED with the hypothesis's verdict, the
    journal gone."""
    [hyp] = report["hypotheses"]
    expected = {c["nodeid"]: c for c in hyp["cases"]}
    runs = _runs(uri)
    assert {r.data.tags.get("grd.session_id") for r in runs} == {report["meta"]["session_id"]}
    assert not [r.info.run_name for r in runs if r.info.status == "RUNNING"]
    cases = [r for r in runs if r.data.tags.get("grd.role") == "case"]
    parents = [r for r in runs if r.data.tags.get("grd.role") == "parent"]
    assert len(cases) + len(parents) == len(runs)
    assert Counter(r.data.tags["grd.nodeid"] for r in cases) == Counter(list(expected))
    [parent] = parents
    assert parent.info.run_name == HYP
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["grd.verdict"] == hyp["verdict"]
    assert parent.data.metrics["grd.n_cases"] == CASES
    for run in cases:
        nodeid = run.data.tags["grd.nodeid"]
        record = expected[nodeid]
        assert run.data.tags["grd.verdict"] == record["verdict"], nodeid
        assert run.info.status == _expected_status(nodeid), nodeid
        assert run.data.metrics == {"m": float(record["params"]["n"])}, nodeid
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id, nodeid
        # An id the report gave is the run the store has.
        assert record["run_id"] in (None, run.info.run_id), nodeid
    assert _journal_sessions(pytester) == []


# -- processes -------------------------------------------------------------------------


def _wait(predicate: Callable[[], object], limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:.0f} s waiting for {what}")
        time.sleep(0.05)


def _writers(directory: Path) -> list[int]:
    """Writer processes still sending the journal folder ``directory``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"pytest_grd.tracking.writer_process" in cmdline and str(directory).encode() in cmdline:
            found.append(int(proc.name))
    return found


def _journal_digest(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.suffix in (".jsonl", ".json") and not p.name.startswith("writer.")
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """A real ``mlflow server`` over a SQLite backend, in its own process group."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = folder / "backend.db"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, limit: float = 150) -> None:
        log = (self.folder / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("mlflow")),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--backend-store-uri",
                _sqlite_uri(self.db),
                "--artifacts-destination",
                str(self.folder / "artifacts"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its background job runners are not what is tested; fewer processes.
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"mlflow server at {self.url} not ready after {limit:.0f} s")

    @property
    def pgid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
        proc.wait(timeout=30)
        with suppress(ProcessLookupError):  # what the group left behind (a uvicorn child)
            os.killpg(proc.pid, signal.SIGKILL)
        self.proc = None


@contextmanager
def _server(folder: Path) -> Iterator[_Server]:
    server = _Server(folder)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# -- 1, 7: a SQLite write lock held 25 s mid-sweep ---------------------------------------


@pytest.mark.parametrize(
    "workers", [pytest.param([], id="serial"), pytest.param(["-n", "2"], id="xdist")]
)
def test_sqlite_locked_25s_mid_sweep(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: list[str]
) -> None:
    db = pytester.path / "store.db"
    uri = _sqlite_uri(db)
    _project(pytester, monkeypatch, uri)
    monkeypatch.setenv("GRD_FAULT", "lock")
    monkeypatch.setenv("GRD_FAULT_DB", str(db))
    monkeypatch.setenv("GRD_FAULT_HOLD", "25")
    try:
        result, exited = _session(pytester, *workers)
        held = float((pytester.path / "lock-held").read_text())
        # The lock outlived the session: what it kept out is pending.
        assert not (pytester.path / "lock-released").exists()
        report = _check_session(result, exited, pytester)
        assert held < max(_ends(pytester).values())  # taken mid-sweep
        _wait(lambda: (pytester.path / "lock-released").exists(), 60, "the lock's release")
    finally:
        (pytester.path / "lock-release").touch()
    _synced(pytester)
    _check_store(uri, report, pytester)


# -- 2: the lock still held when the session ends, and when grd sync runs --------------------


def test_sqlite_locked_past_the_session_and_grd_sync(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = pytester.path / "store.db"
    uri = _sqlite_uri(db)
    _project(pytester, monkeypatch, uri)
    monkeypatch.setenv("GRD_FAULT", "lock")
    monkeypatch.setenv("GRD_FAULT_DB", str(db))
    monkeypatch.setenv("GRD_FAULT_HOLD", "600")  # until lock-release
    try:
        result, exited = _session(pytester)
        report = _check_session(result, exited, pytester)
        [journal] = _journal_sessions(pytester)
        before = _journal_digest(journal)
        assert "main.jsonl" in before and "session.json" in before
        started = time.monotonic()
        refused = _grd_sync(pytester, "--timeout", "5")
        took = time.monotonic() - started
        assert not (pytester.path / "lock-released").exists()  # held throughout
        assert refused.returncode == 1, refused
        assert refused.stdout == ""
        [line] = refused.stderr.splitlines()
        assert line.startswith(f"grd sync: error: session {report['meta']['session_id']}: ")
        assert "database is locked" in line and "nothing lost, run grd sync again" in line
        assert took < 60, f"grd sync waited {took:.0f} s on a locked store"
        # Nothing lost: the journal is as the session left it.
        assert _journal_digest(journal) == before
    finally:
        (pytester.path / "lock-release").touch()
    _wait(lambda: (pytester.path / "lock-released").exists(), 30, "the lock's release")
    _synced(pytester)
    _check_store(uri, report, pytester)


# -- 3: a hung server (SIGSTOP) -----------------------------------------------------------------


def test_hung_server_mid_sweep(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with _server(tmp_path) as server:
        _project(pytester, monkeypatch, server.url)
        monkeypatch.setenv("GRD_FAULT", "stop")
        monkeypatch.setenv("GRD_FAULT_DB", str(server.db))
        monkeypatch.setenv("GRD_FAULT_PGID", str(server.pgid))
        try:
            result, exited = _session(pytester)
            assert (pytester.path / "fault-done").exists()
            report = _check_session(result, exited, pytester)
        finally:
            os.killpg(server.pgid, signal.SIGCONT)
        _synced(pytester)
        _check_store(server.url, report, pytester)


# -- 4: a killed server, restarted on the same port and backend -----------------------------------


def test_killed_server_mid_sweep_then_restarted(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with _server(tmp_path) as server:
        _project(pytester, monkeypatch, server.url)
        monkeypatch.setenv("GRD_FAULT", "kill")
        monkeypatch.setenv("GRD_FAULT_DB", str(server.db))
        monkeypatch.setenv("GRD_FAULT_PGID", str(server.pgid))
        result, exited = _session(pytester)
        assert (pytester.path / "fault-done").exists()
        assert server.proc is not None and server.proc.wait(timeout=30) == -signal.SIGKILL
        report = _check_session(result, exited, pytester)
        server.stop()
        server.start()  # same port, same backend db and artifacts
        _synced(pytester)
        _check_store(server.url, report, pytester)
        # Read the other way round: one run per case of the session, by its node id.
        cases = [r for r in _runs(server.url) if r.data.tags.get("grd.role") == "case"]
        per_session = Counter(
            (r.data.tags["grd.session_id"], r.data.tags["grd.nodeid"]) for r in cases
        )
        assert set(per_session.values()) == {1} and len(per_session) == CASES


# -- 5: kill -9 of the controller mid-sweep --------------------------------------------------------


def _killed_session(pytester: pytest.Pytester, hang_at: int) -> tuple[list[str], Path]:
    """A serial session whose controller gets SIGKILL in case ``hang_at``;
    its output, and its journal once its writer is gone."""
    out = pytester.path / "session.out"
    with out.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:randomly", "-v", "--grd-report", "rep"],
            cwd=pytester.path,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "GRD_HANG_AT": str(hang_at), "PYTHONUNBUFFERED": "1"},
        )
        try:
            _wait(
                lambda: (pytester.path / "running").exists() or proc.poll() is not None,
                120,
                f"case {hang_at}",
            )
        finally:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, out.read_text()
    [journal] = _journal_sessions(pytester)
    # The writer notices its controller is gone and stops; grd sync comes after.
    _wait(lambda: not _writers(journal), 60, "the session's writer to stop")
    return out.read_text().splitlines(), journal


def _check_killed(uri: str, lines: list[str], hang_at: int) -> dict[str, Any]:
    """Each case that finished: one run with its verdict; the case that ran and
    the parent: KILLED, INCONCLUSIVE; nothing RUNNING."""
    terminal = _terminal_verdicts(lines)
    finished = {f"test_faults.py::test_case[{n}]" for n in range(hang_at)}
    assert set(terminal) == finished, lines
    runs = _runs(uri)
    assert not [(r.info.run_name, r.info.status) for r in runs if r.info.status == "RUNNING"]
    cases = {}
    for run in runs:
        if run.data.tags.get("grd.role") == "case":
            assert run.data.tags["grd.nodeid"] not in cases, "two runs of one case"
            cases[run.data.tags["grd.nodeid"]] = run
    killed = f"test_faults.py::test_case[{hang_at}]"
    assert set(cases) == finished | {killed}
    for nodeid in finished:
        assert cases[nodeid].data.tags["grd.verdict"] == terminal[nodeid], nodeid
        assert cases[nodeid].info.status == _expected_status(nodeid), nodeid
    tags = cases[killed].data.tags
    assert cases[killed].info.status == "KILLED"
    assert tags["grd.verdict"] == "INCONCLUSIVE" and "killed" in tags["grd.reason"]
    # (What the killed case logged is not asserted: a case's metrics stay in
    # its process's memory until its end or 1000 entries, so SIGKILL loses them.)
    [parent] = [r for r in runs if r.data.tags.get("grd.role") == "parent"]
    assert parent.info.status == "KILLED", "the killed session's parent run"
    assert parent.data.tags.get("grd.verdict") == "INCONCLUSIVE"
    return {"cases": cases, "parent": parent}


def test_controller_killed_mid_sweep_then_grd_sync_twice(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = pytester.path / "store.db"
    uri = _sqlite_uri(db)
    _project(pytester, monkeypatch, uri)
    lines, journal = _killed_session(pytester, hang_at=2)
    kept = pytester.path / "journal-copy"
    shutil.copytree(journal, kept)

    first = _synced(pytester)
    assert "ended 2 run(s) left RUNNING as KILLED" in first.stdout  # the case and its parent
    _check_killed(uri, lines, hang_at=2)
    after_first = _snapshot(uri)

    # Again: nothing left to send, nothing made.
    second = _grd_sync(pytester)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("nothing to send: no journal in ")
    assert _snapshot(uri) == after_first

    # The same journal sent again, its run registry and progress lost: the
    # store's own run keys keep it from making a second run.
    shutil.copytree(kept, journal)
    for name in ("runs.jsonl", *(p.name for p in kept.glob("state.*.json"))):
        (journal / name).unlink()
    third = _synced(pytester)
    assert third.stdout.count("journal removed") == 1
    assert _snapshot(uri) == after_first


def test_controller_killed_while_the_store_is_locked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock comes while the writer sends its first round (30 quick cases,
    20 of them journaled before it starts), the controller dies while it
    holds: after the release, grd sync must end the parent too."""
    db = pytester.path / "store.db"
    uri = _sqlite_uri(db)
    _project(pytester, monkeypatch, uri)
    monkeypatch.setenv("GRD_CASES", "30")
    monkeypatch.setenv("GRD_CASE_SLEEP", "0.05")
    monkeypatch.setenv("GRD_FAULT_AT", "20")
    monkeypatch.setenv("GRD_FAULT", "lock")
    monkeypatch.setenv("GRD_FAULT_DB", str(db))
    monkeypatch.setenv("GRD_FAULT_HOLD", "600")  # until lock-release
    try:
        lines, _ = _killed_session(pytester, hang_at=24)
    finally:
        (pytester.path / "lock-release").touch()
    _wait(lambda: (pytester.path / "lock-released").exists(), 30, "the lock's release")
    _synced(pytester)
    _check_killed(uri, lines, hang_at=24)


# -- 6: a held preparation lock on a fresh store -------------------------------------------------


def test_held_preparation_lock_on_a_fresh_store(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_grd.tracking.settings import lock_path

    db = pytester.path / "store.db"
    uri = _sqlite_uri(db)
    _project(pytester, monkeypatch, uri)
    lock = lock_path(uri)
    assert lock == pytester.path / "store.db.grd-lock"
    holder = subprocess.Popen(
        [sys.executable, str(pytester.path / "faultkit.py"), "flock", str(lock)],
        cwd=pytester.path,
    )
    try:
        _wait(lambda: (pytester.path / "flock-held").exists(), 60, "the lock holder")
        result, exited = _session(pytester)
        ends = _ends(pytester)
        waited = exited - max(ends.values())
        assert waited < TIMEOUT + 5, f"the session ended {waited:.1f} s after its last case"
        report = _check_session(result, exited, pytester)
        assert not db.exists() or db.stat().st_size == 0  # nothing was written meanwhile
    finally:
        (pytester.path / "flock-release").touch()
        holder.wait(timeout=30)
    assert holder.returncode == 0
    _synced(pytester)
    _check_store(uri, report, pytester)


def test_held_preparation_lock_is_named_in_the_summary(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short session on a fresh store whose preparation lock another
    process holds: the one summary line says which lock to look at."""
    from pytest_grd.tracking.settings import lock_path

    db = pytester.path / "store.db"
    uri = _sqlite_uri(db)
    _project(pytester, monkeypatch, uri)
    monkeypatch.setenv("GRD_CASE_SLEEP", "0.05")
    lock = lock_path(uri)
    holder = subprocess.Popen(
        [sys.executable, str(pytester.path / "faultkit.py"), "flock", str(lock)],
        cwd=pytester.path,
    )
    try:
        _wait(lambda: (pytester.path / "flock-held").exists(), 60, "the lock holder")
        result, exited = _session(pytester)
        waited = exited - max(_ends(pytester).values())
        assert waited < TIMEOUT + 5, f"the session ended {waited:.1f} s after its last case"
        [line] = [x for x in result.outlines if x.startswith("grd tracking:")]
        assert line.startswith("grd tracking: 9 run(s) pending"), line
        assert str(lock) in line, line
    finally:
        (pytester.path / "flock-release").touch()
        holder.wait(timeout=30)
