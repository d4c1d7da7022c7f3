"""``grd status`` / ``history`` / ``diff`` / ``report`` across sessions, on a
real store written by three real pytest-grd sessions at two commits; both
ways of reading it (SQLite directly, MLflow's client); and the pure parts
(declarations, evidence text)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_grd.cli import main
from pytest_grd.cli.declared import Declarations
from pytest_grd.cli.effects import evidence_text
from pytest_grd.cli.project import find_project
from pytest_grd.cli.verdicts import recorded
from pytest_grd.record import CaseRecord, HypothesisResult
from pytest_grd.tracking import query
from pytest_grd.tracking.query import MetricSummary

HYPOTHESES = """
import os

import pytest
import pytest_grd as grd

LEVEL = os.environ.get("GRD_LEVEL", "1")


@pytest.mark.hypothesis("hyp_keep", claim="the score stays above 0.5", seeds=2)
def test_keep(grd_seed, grd_run):
    score = 0.8 if LEVEL == "1" else 0.3
    grd_run.log_metric("score", score + 0.01 * grd_seed)
    assert score > 0.5, f"score {score} <= 0.5"


@pytest.mark.hypothesis(
    "hyp_rule", claim="accuracy beats 0.5", seeds=3, decide=grd.greater("acc", than=0.5)
)
def test_rule(grd_seed, grd_run):
    grd_run.log_metric("acc", 0.7 + 0.01 * grd_seed)
"""

GONE = """

@pytest.mark.hypothesis("hyp_gone", claim="deleted after the first session")
def test_gone(grd_run):
    grd_run.log_metric("x", 1.0)
"""


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@dataclass
class Lab:
    """A project and its store after each session."""

    root: Path
    #: mlflow.db after session 1, 2, 3.
    stores: list[Path]
    reports: list[Path]
    commits: list[str]

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"


def _session(root: Path, level: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--grd-report"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GRD_LEVEL": level},
    )
    assert "grd verdicts" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    """Session 1 at commit A runs three hypotheses; hyp_gone is then deleted
    (commit B); sessions 2 and 3 at B flip hyp_keep to REJECTED."""
    root = tmp_path_factory.mktemp("history") / "study"
    (root / "experiments").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\ngrd_experiment = "study"\ntestpaths = ["experiments"]\n'
    )
    (root / ".gitignore").write_text("mlflow.db*\nmlartifacts/\ngrd-report/\n__pycache__/\n")
    test_file = root / "experiments" / "test_claims.py"
    test_file.write_text(HYPOTHESES + GONE)
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "A")
    stores, reports, commits = [], [], [_git(root, "rev-parse", "HEAD")]
    for n, level in enumerate(("1", "2", "2"), 1):
        if n == 2:
            test_file.write_text(HYPOTHESES)
            _git(root, "commit", "-qam", "B: hyp_gone deleted")
            commits.append(_git(root, "rev-parse", "HEAD"))
        _session(root, level)
        stores.append(root.parent / f"after-{n}.db")
        shutil.copy(root / "mlflow.db", stores[-1])
        reports.append(root.parent / f"report-{n}")
        shutil.copytree(root / "grd-report", reports[-1])
    return Lab(root=root, stores=stores, reports=reports, commits=commits)


def grd(lab: Lab, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(["-C", str(lab.root), *args])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_status_shows_history_and_removed(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = grd(lab, "status", capsys=capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("study: 3 hypotheses (from sqlite:///")
    assert lines[1].startswith("  hyp_gone  VALIDATED (1 validated)  ")
    assert lines[1].endswith("  [removed from the code] deleted after the first session")
    assert lines[2].split()[:4] == ["hyp_keep", "REJECTED", "(2", "rejected)"]
    assert lines[2].split()[4] == "VRR"
    assert lines[3].split()[:5] == ["hyp_rule", "VALIDATED", "(p", "<", "0.001)"]
    assert lines[3].split()[5] == "VVV"
    assert "one letter per session" in out and "[removed from the code]: no test" in out

    status, out, _ = grd(lab, "status", "--json", capsys=capsys)
    data = {h["id"]: h for h in json.loads(out)}
    assert data["hyp_gone"]["in_code"] is False and data["hyp_keep"]["in_code"] is True
    assert [h["verdict"] for h in data["hyp_keep"]["history"]] == [
        "VALIDATED",
        "REJECTED",
        "REJECTED",
    ]
    assert [h["commit"] for h in data["hyp_keep"]["history"]] == [
        lab.commits[0],
        lab.commits[1],
        lab.commits[1],
    ]


def test_history_of_a_claim(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = grd(lab, "history", "hyp_keep", capsys=capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "hyp_keep: the score stays above 0.5"
    assert lines[1].split() == ["date", "session", "commit", "verdict", "cases", "evidence"]
    rows = [line.split() for line in lines[2:5]]
    assert [r[4] for r in rows] == ["VALIDATED", "REJECTED", "REJECTED"]
    assert [r[3] for r in rows] == [lab.commits[0][:12], lab.commits[1][:12], lab.commits[1][:12]]
    assert rows[0][6:9] == ["score", "0.805", "±"]
    assert rows[1][6:8] == ["score", "0.305"] and lines[3].endswith("<- flipped")
    assert not lines[4].endswith("<- flipped")
    assert lines[5].startswith("3 sessions at 2 commits; the verdict changed once, last ")
    assert "VALIDATED -> REJECTED" in lines[5]

    status, out, _ = grd(lab, "history", "hyp_rule", "--limit", "1", capsys=capsys)
    row = out.splitlines()[2]
    assert "VALIDATED" in row and "p < 0.001; acc effect +0.21, 90% CI [" in row
    assert row.endswith("acc 0.71 ± 0.01")

    status, out, _ = grd(lab, "history", "hyp_gone", "--json", capsys=capsys)
    data = json.loads(out)
    assert data["in_code"] is False and len(data["sessions"]) == 1
    assert data["sessions"][0]["metrics"]["x"]["mean"] == 1.0

    status, _, err = grd(lab, "history", "hyp_nope", capsys=capsys)
    assert status == 1 and err.count("\n") == 1
    assert "no recorded session of hyp_nope" in err and "hyp_keep" in err


def test_diff_default_is_each_claims_last_change(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = grd(lab, "diff", "--tolerance", "0.1", capsys=capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("old: previous: session ")
    assert lines[1].startswith("new: latest: session ")
    # hyp_gone ran once: nothing to compare it with.
    assert [line.split()[0] for line in lines[2:-1] if not line.startswith("    ")] == [
        "hyp_keep",
        "hyp_rule",
    ]
    assert lines[-1].startswith("2 compared: 0 verdicts flipped, 0 with a metric moved")

    # Session 1 against session 2, by id prefix: the flip and its drift.
    ids = [s["session_id"] for s in _history(lab, "hyp_keep", capsys)]
    status, out, _ = grd(lab, "diff", ids[0][:6], ids[1], capsys=capsys)
    assert status == 0
    assert "  hyp_keep  VALIDATED -> REJECTED  FLIPPED" in out
    assert "      score 0.805 ± 0.0071 -> 0.305 ± 0.0071 (-62.1%)  DRIFT" in out
    assert "  hyp_gone  VALIDATED -> (none)  not in the new side" in out
    assert out.splitlines()[-1] == (
        "2 compared: 1 verdict flipped, 1 with a metric moved by more than 5%; "
        "0 only in new, 1 only in old"
    )
    assert grd(lab, "diff", ids[0], ids[1], "--fail-on-flip", capsys=capsys)[0] == 1


def _history(lab: Lab, hypothesis: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    _, out, _ = grd(lab, "history", hypothesis, "--json", capsys=capsys)
    return list(json.loads(out)["sessions"])


def test_diff_by_commit_and_by_report(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = grd(lab, "diff", "commit:HEAD~1", "commit:HEAD", "--json", capsys=capsys)
    assert status == 0
    data = json.loads(out)
    assert data["old"].startswith("commit HEAD~1: session ")
    changes = {c["hypothesis"]: c for c in data["changes"]}
    assert changes["hyp_keep"]["change"] == "flipped"
    assert changes["hyp_gone"]["change"] == "gone"
    assert changes["hyp_rule"]["change"] == "same"
    (score,) = changes["hyp_keep"]["metrics"]
    assert score["drifted"] and score["old"] == pytest.approx(0.805)

    status, out, _ = grd(lab, "diff", lab.commits[0][:8], "latest", capsys=capsys)
    assert "  hyp_keep  VALIDATED -> REJECTED  FLIPPED" in out
    assert "hyp_gone  VALIDATED -> VALIDATED" in out  # its latest verdict is session 1's

    one = str(lab.reports[0] / "report.json")
    status, out, _ = grd(lab, "diff", one, f"report:{lab.reports[1]}", capsys=capsys)
    assert status == 0
    assert out.splitlines()[0] == f"old: report {one}"
    assert "  hyp_keep  VALIDATED -> REJECTED  FLIPPED" in out

    status, _, err = grd(lab, "diff", "zzzz", capsys=capsys)
    assert status == 1 and "'zzzz' is no session, commit or report.json" in err


def test_report_from_store_keeps_the_sessions_provenance(lab: Lab, tmp_path: Path) -> None:
    out = tmp_path / "rebuilt"
    assert main(["-C", str(lab.root), "report", "--out", str(out)]) == 0
    meta = json.loads((out / "report.json").read_text())["meta"]
    assert meta["git"]["commit"] == lab.commits[1] and meta["git"]["dirty"] is False
    assert meta["machine"]["python"] == f"{sys.version_info.major}.{sys.version_info.minor}." + (
        str(sys.version_info.micro)
    )
    assert meta["machine"]["platform"]
    assert meta["regenerated_from"].startswith("sqlite:///")
    # The session wrote its own header on its parent runs (grd.session_meta):
    # the command, the host and the package versions come from it.
    assert "provenance" not in (meta.get("extra") or {})
    assert meta["command"].startswith("pytest")
    assert meta["packages"].get("pytest-grd") or meta["packages"].get("mlflow")
    notes = " ".join(meta["notes"])
    assert "hyp_gone: latest verdict from an earlier session" in notes
    assert f"commit {lab.commits[0][:12]}" in notes
    assert "hyp_gone: removed from the code" in notes
    assert "not a git repository" not in (out / "report.md").read_text()


def test_report_reads_a_stored_session_header(lab: Lab, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    db = tmp_path / "tagged.db"
    shutil.copy(lab.stores[-1], db)
    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("study")
    header = {
        "command": "pytest --grd-report",
        "machine": {"host": "gpu-box-7", "platform": "Linux", "python": "3.11.7", "cpus": 64},
        "packages": {"pytest-grd": "0.2.0", "torch": "2.5.0"},
    }
    for run in client.search_runs([experiment.experiment_id], "tags.`grd.role` = 'parent'"):
        client.set_tag(run.info.run_id, "grd.session_meta", json.dumps(header))
    out = tmp_path / "rebuilt"
    assert main(["-C", str(lab.root), "report", "--tracking-uri", uri, "--out", str(out)]) == 0
    meta = json.loads((out / "report.json").read_text())["meta"]
    assert meta["machine"]["host"] == "gpu-box-7" and meta["machine"]["cpus"] == 64
    assert meta["packages"] == {"pytest-grd": "0.2.0", "torch": "2.5.0"}
    assert meta["command"] == "pytest --grd-report"
    assert meta["git"]["commit"] == lab.commits[1]  # from the run tags still
    assert "provenance" not in meta["extra"]


def test_status_reads_only_the_latest_sessions(lab: Lab) -> None:
    project = find_project(lab.root)
    reads = []
    for db in lab.stores[1:]:  # 2 and 3 sessions: the same latest sessions' shape
        found = recorded(project, tracking_uri=f"sqlite:///{db}")
        reads.append(found.runs_read)
        assert sum(len(t) for t in found.trail.values()) == 3 + 2 * (lab.stores.index(db))
    # 3 parents (hyp_gone's from session 1) and their 1 + 2 + 3 cases, whatever
    # the number of sessions behind them.
    assert reads == [9, 9]
    one = recorded(project, tracking_uri=f"sqlite:///{lab.stores[0]}", hypothesis="hyp_rule")
    assert one.runs_read == 4  # grd commit reads one parent and its cases


def test_both_readers_give_the_same_answer(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = find_project(lab.root)
    fast = recorded(project)
    texts = [grd(lab, command, "--json", capsys=capsys)[1] for command in ("status",)]
    monkeypatch.setattr(query, "FAST_SQLITE", False)
    slow = recorded(project)
    assert [r.to_dict() for r in slow.results] == [r.to_dict() for r in fast.results]
    for mine, theirs in zip(fast.results, slow.results, strict=True):
        assert [c.to_dict() for c in mine.cases] == [c.to_dict() for c in theirs.cases]
    assert slow.meta == fast.meta and slow.removed == fast.removed == {"hyp_gone"}
    assert {k: len(v) for k, v in slow.trail.items()} == {k: len(v) for k, v in fast.trail.items()}
    # MLflow's client loads every parent run to find the latest ones; cases
    # only of those.
    assert slow.runs_read == 7 + 6
    assert [grd(lab, "status", "--json", capsys=capsys)[1]] == texts
    for command in (("history", "hyp_keep", "--json"), ("diff", "--json")):
        monkeypatch.setattr(query, "FAST_SQLITE", True)
        expected = grd(lab, *command, capsys=capsys)[1]
        monkeypatch.setattr(query, "FAST_SQLITE", False)
        assert grd(lab, *command, capsys=capsys)[1] == expected


def test_an_unknown_sqlite_file_is_left_to_mlflow(tmp_path: Path) -> None:
    import sqlite3

    from pytest_grd.tracking.fastread import SqliteReader, StoreLayoutError

    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE runs (run_uuid TEXT)")
    with pytest.raises(StoreLayoutError, match="table experiments lacks"):
        SqliteReader(db, "study")
    before = db.read_bytes()
    with pytest.raises(StoreLayoutError):
        SqliteReader(tmp_path / "missing.db", "study")
    assert db.read_bytes() == before and not (tmp_path / "missing.db").exists()


# -- pure parts ------------------------------------------------------------------


def test_declarations(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_a.py").write_text(
        'import pytest\nHYP = "hyp_var"\n'
        '@pytest.mark.hypothesis("hyp_lit", claim="x")\ndef test_a(): ...\n'
        "@pytest.mark.hypothesis(\n    id='hyp_kw')\ndef test_b(): ...\n"
        "@pytest.mark.hypothesis(HYP)\ndef test_c(): ...\n"
        '@pytest.mark.hypothesis("other", decide=grd.greater("auc", than="hyp_ref"))\n'
        "def test_d(): ...\n"
    )
    (tests / "test_loop.py").write_text(
        "for i in range(3):\n    pytest.mark.hypothesis(f'model_{i:02d}')\n"
    )
    (tests / "test_computed.py").write_text("pytest.mark.hypothesis(make_id())\n")
    (tests / "nb.py").write_text("# ---\n# jupyter:\n#   grd:\n#     hypothesis: hyp_nb\n# ---\n")
    (tests / "nb2.ipynb").write_text('{"metadata": {"grd": {"hypothesis": "hyp_ipynb"}}}')
    skipped = tmp_path / ".venv"
    skipped.mkdir()
    (skipped / "test_x.py").write_text('pytest.mark.hypothesis("hyp_hidden")\n')
    found = Declarations(tmp_path, ["tests"])
    for hid in ("hyp_lit", "hyp_kw", "hyp_var", "model_07", "hyp_nb", "hyp_ipynb"):
        assert found.declared(hid, ["tests/test_a.py::test_a"]) is True, hid
    # Only referenced, in a hidden folder, or a prefix of a declared id.
    for hid in ("hyp_ref", "hyp_hidden", "hyp_li"):
        assert found.declared(hid, ["tests/test_a.py::test_a"]) is False, hid
    # Its file computes ids the text does not give: cannot tell.
    assert found.declared("hyp_ref", ["tests/test_computed.py::t"]) is None
    assert found.removed({"hyp_lit": [], "hyp_ref": [], "gone": ["tests/gone.py::t"]}) == {
        "hyp_ref",
        "gone",
    }


def test_evidence_text() -> None:
    cases = [
        CaseRecord(hypothesis="h", nodeid=f"t::{i}", name="h", metrics={"mae": m, "rmse": 2 * m})
        for i, m in enumerate((0.2, 0.4))
    ]
    rolled = HypothesisResult(id="h", claim="", verdict="VALIDATED", reason="", cases=cases)
    assert evidence_text(rolled) == "mae = 0.3 ± 0.14, rmse = 0.6 ± 0.28 over 2 cases"
    decided = HypothesisResult(
        id="h",
        claim="",
        verdict="VALIDATED",
        reason="",
        cases=cases,
        stats={"p_adjusted": 0.004, "metric": "auc", "estimate": 0.012, "ci": [0.004, 0.02],
               "confidence": 0.9},
    )  # fmt: skip
    assert evidence_text(decided) == "p = 0.004; auc effect +0.012, 90% CI [0.004, 0.02]"
    assert MetricSummary.of([0.4, 0.2]) == MetricSummary.of([0.2, 0.4])


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_a_tracking_server_gives_the_same_answer(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``grd`` against a real ``mlflow server`` (read through MLflow's
    client) serving a copy of the lab's store: the same answers."""
    import time
    import urllib.request

    backend = tmp_path / "backend.db"
    shutil.copy(lab.root / "mlflow.db", backend)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--backend-store-uri", f"sqlite:///{backend}",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 150
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(url + "/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "mlflow server not ready"
                time.sleep(0.5)
        for command in (("status", "--json"), ("history", "hyp_keep", "--json"), ("diff",)):
            local = grd(lab, *command, capsys=capsys)
            remote = grd(lab, *command, "--tracking-uri", url, capsys=capsys)
            assert remote[0] == local[0] == 0, remote[2]
            assert remote[1].replace(url, "URI") == local[1].replace(lab.uri, "URI")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_commit_dry_run_outside_git_shows_the_message(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\ngrd_experiment = "study"\n'
    )
    args = ["-C", str(tmp_path), "commit", "hyp_rule", "--tracking-uri", lab.uri]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("experiment(hyp-rule): accuracy beats 0.5\n")
    assert "- Result: VALIDATED (p < 0.001; acc effect +0.21, 90% CI [" in out
    where = tmp_path.resolve()
    assert out.splitlines()[-1] == f"nothing to commit: {where} is not in a git repository"
    assert main(args) == 1
    assert "is not in a git repository" in capsys.readouterr().err
