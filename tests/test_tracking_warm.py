"""A session's writer stays warm for the next session of the same kind: real
sessions, a real SQLite store, real writer processes (their pids read from
the mailbox), and the faults a warm writer can meet: killed between sessions,
busy with another session, its idle time over."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_grd.tracking.warm import Mailbox, writer_key

SWEEP = """
import pytest

@pytest.mark.hypothesis("hyp_w", claim="every case reaches the store")
@pytest.mark.parametrize("n", [1, 2, 3])
def test_w(n, grd_run):
    grd_run.log_metric("n", n)
    assert n != 3
"""


class Project:
    def __init__(self, root: Path, idle: str | None) -> None:
        self.root = root
        root.mkdir()
        self.timeout = 10.0  # ini grd_tracking_timeout, part of a writer's kind
        self.uri = f"sqlite:///{root.as_posix()}/mlflow.db"
        # The mailboxes live in the temporary directory: this test's own.
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": tempfile.gettempdir()}
        self.env.pop("GRD_WRITER_IDLE", None)
        if idle is not None:
            self.env["GRD_WRITER_IDLE"] = idle
        for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_ADDOPTS"):
            self.env.pop(name, None)
        (root / "test_w.py").write_text(SWEEP)
        (root / "pytest.ini").write_text("[pytest]\n")

    def run(self, *args: str, pending: bool = False) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
             "--grd-tracking-uri", self.uri, *args],
            cwd=self.root, env=self.env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
        assert ("pending" in done.stdout) is pending, done.stdout[-2000:]
        return done

    def mailbox(self) -> Mailbox:
        return Mailbox(writer_key(self.uri, self.timeout, self.env, str(self.root)))

    def served(self) -> list[str]:
        """The sessions the mailbox's writer says it sent."""
        path = self.mailbox().path / "served"
        return path.read_text().split() if path.exists() else []

    def sessions(self) -> list[str]:
        return sorted({r.data.tags["grd.session_id"] for r in self.runs()})

    def runs(self) -> list[Any]:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.uri)
        exp = client.get_experiment_by_name(self.root.name)
        assert exp is not None
        return list(client.search_runs([exp.experiment_id], max_results=1000))

    def check(self, sessions: int) -> None:
        """Every session's runs, once each, ended, with their verdicts."""
        runs = self.runs()
        assert len(runs) == 4 * sessions
        by_session: dict[str, list[Any]] = {}
        for run in runs:
            assert run.info.status == "FINISHED", run.info.run_name
            by_session.setdefault(run.data.tags["grd.session_id"], []).append(run)
        assert len(by_session) == sessions
        for found in by_session.values():
            verdicts = sorted((r.info.run_name, r.data.tags["grd.verdict"]) for r in found)
            assert verdicts == [
                ("hyp_w", "REJECTED"),
                ("hyp_w[n=1]", "VALIDATED"),
                ("hyp_w[n=2]", "VALIDATED"),
                ("hyp_w[n=3]", "REJECTED"),
            ]


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(autouse=True)
def own_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mailboxes under this test's folder, for its sessions and for it."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    made = Project(tmp_path / "warm-study", idle="60")
    yield made
    pid = made.mailbox().pid()
    if _alive(pid):
        assert pid is not None
        os.kill(pid, signal.SIGTERM)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_later_sessions_are_sent_by_the_warm_writer(project: Project, workers: list[str]) -> None:
    project.run(*workers)  # makes the store: its writer stays up for the next
    first = project.mailbox().pid()
    assert _alive(first), "no writer stayed up after the first session"
    project.run(*workers)
    project.run(*workers)
    # pytest returned each time while the same writer went on living, and it
    # sent all three sessions.
    assert project.mailbox().pid() == first and _alive(first)
    project.check(sessions=3)
    assert sorted(project.served()) == project.sessions()
    assert not list((project.root / ".grd" / "journal").iterdir())  # all sent, all pruned


@pytest.mark.slow
def test_a_warm_writer_killed_between_sessions_is_replaced(project: Project) -> None:
    project.run()
    first = project.mailbox().pid()
    assert first is not None and _alive(first)
    os.kill(first, signal.SIGKILL)
    assert _gone_within(first, 10)
    project.run()
    second = project.mailbox().pid()
    assert second is not None and second != first and _alive(second)
    project.check(sessions=2)
    assert len(project.served()) == 2  # the first line is the killed writer's


@pytest.mark.slow
def test_a_session_nobody_takes_gets_a_writer_of_its_own(project: Project) -> None:
    """A writer holds the mailbox but never takes the session (busy with
    another, or hung): the controller takes it back and starts its own."""
    project.run()
    warm = project.mailbox().pid()
    assert warm is not None
    os.kill(warm, signal.SIGSTOP)  # alive, holding the mailbox, taking nothing
    try:
        started = time.monotonic()
        project.run()
        elapsed = time.monotonic() - started
        project.check(sessions=2)
        assert not list(project.mailbox().path.glob("request-*.json"))
        assert elapsed < 60, elapsed
        # Handed over (the stopped writer held the mailbox), taken back, and
        # sent by a writer of its own: not by the stopped one.
        assert len(project.served()) == 1 and project.served()[0] in project.sessions()
    finally:
        os.kill(warm, signal.SIGCONT)


@pytest.mark.slow
def test_a_warm_writer_stuck_on_a_locked_store_is_stopped_and_nothing_is_lost(
    project: Project,
) -> None:
    """The store is locked (another process holds SQLite's write lock) during
    a later session: the warm writer takes the session and cannot send it;
    the session still ends within its timeout, stops that writer, keeps the
    journal, and grd sync sends it once the lock is gone."""
    (project.root / "pytest.ini").write_text("[pytest]\ngrd_tracking_timeout = 3\n")
    project.timeout = 3.0
    project.run()
    warm = project.mailbox().pid()
    assert warm is not None and _alive(warm)
    lock = sqlite3.connect(project.root / "mlflow.db", isolation_level=None, timeout=60)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        done = project.run(pending=True)
        elapsed = time.monotonic() - started
        assert _gone_within(warm, 10), "the stuck writer was left running"
        assert elapsed < 30, elapsed
        assert "send them with `grd sync`" in done.stdout
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    sync = subprocess.run(
        [str(Path(sys.executable).with_name("grd")), "sync"],
        cwd=project.root, env=project.env, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert sync.returncode == 0, sync.stdout + sync.stderr
    project.check(sessions=2)
    project.run()  # and the next session gets a writer again
    project.check(sessions=3)


@pytest.mark.slow
def test_the_writer_leaves_once_idle(tmp_path: Path) -> None:
    project = Project(tmp_path / "brief", idle="1")
    project.run()
    pid = project.mailbox().pid()
    # It may already be gone; it must be within a few seconds.
    if pid is not None:
        assert _gone_within(pid, 15), "the writer outlived its idle time"
    assert project.mailbox().pid() is None
    project.run()  # a writer of its own again
    project.check(sessions=2)


@pytest.mark.slow
def test_no_writer_stays_when_idle_is_zero(tmp_path: Path) -> None:
    project = Project(tmp_path / "cold", idle="0")
    project.run()
    assert not project.mailbox().path.exists()
    project.check(sessions=1)


@pytest.mark.slow
def test_a_session_started_from_a_test_keeps_no_writer_by_default(tmp_path: Path) -> None:
    """Nothing set: a pytest started inside another pytest's test (this one:
    PYTEST_CURRENT_TEST is inherited) is a tool's test with a throwaway store."""
    project = Project(tmp_path / "nested", idle=None)
    assert "PYTEST_CURRENT_TEST" in project.env
    project.run()
    assert not project.mailbox().path.exists()
    project.check(sessions=1)


def test_a_writer_serves_only_sessions_of_its_kind(tmp_path: Path) -> None:
    """Same store, environment, folder and code: one writer; change any of
    them (or make the store again) and it is another writer's."""
    db = tmp_path / "m.db"
    uri = f"sqlite:///{db}"
    env = {"PATH": "/usr/bin", "MLFLOW_TRACKING_TOKEN": "a", "TERM": "xterm"}
    key = writer_key(uri, 10.0, env, str(tmp_path))
    assert writer_key(uri, 10.0, {**env, "TERM": "dumb", "COLUMNS": "80"}, str(tmp_path)) == key
    assert writer_key(uri, 10.0, {**env, "MLFLOW_TRACKING_TOKEN": "b"}, str(tmp_path)) != key
    assert writer_key(uri, 10.0, {**env, "AWS_PROFILE": "x"}, str(tmp_path)) != key
    assert writer_key(uri, 10.0, {**env, "https_proxy": "http://p:3128"}, str(tmp_path)) != key
    assert writer_key(uri, 10.0, env, str(tmp_path / "sub")) != key
    assert writer_key(f"sqlite:///{tmp_path}/other.db", 10.0, env, str(tmp_path)) != key
    db.write_bytes(b"")
    made = writer_key(uri, 10.0, env, str(tmp_path))
    assert made != key  # "new" before, this file now
    db.write_bytes(b"more")
    assert writer_key(uri, 10.0, env, str(tmp_path)) == made  # written to: the same store
    db.unlink()
    (tmp_path / "keep").write_bytes(b"")  # the inode is not handed straight back
    db.write_bytes(b"")
    assert writer_key(uri, 10.0, env, str(tmp_path)) != made  # deleted and made again
