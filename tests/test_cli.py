"""The ``grd`` command on a real scaffolded project: init, a real pytest run
with tracking and a report, then status, report and commit, and each refusal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_grd.cli import EXIT_REFUSED, EXIT_USAGE, build_parser, main
from pytest_grd.cli.commit import commit_message, scope_name
from pytest_grd.cli.project import find_project
from pytest_grd.record import CaseRecord, HypothesisResult

GRD = [sys.executable, "-m", "pytest_grd"]


def grd(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GRD, *args], cwd=cwd, capture_output=True, text=True, check=False)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def tree_state(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts[:1]
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``grd init`` in an empty directory, then ``pytest --grd-report`` in it."""
    root = tmp_path_factory.mktemp("lab") / "my-study"
    done = grd("init", str(root), cwd=root.parent)
    assert done.returncode == 0, done.stderr
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--grd-report", "-p", "no:cacheprovider"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "hyp_001  VALIDATED" in run.stdout
    return root


def test_init_lays_out_the_project(project: Path) -> None:
    for relative in (
        "pyproject.toml",
        ".gitignore",
        "README.md",
        "experiments/test_hyp_001.py",
        "data/raw",
        "notebooks",
        ".dvc/config",
        ".git",
    ):
        assert (project / relative).exists(), relative
    pyproject = (project / "pyproject.toml").read_text()
    assert "[tool.pytest.ini_options]" in pyproject
    assert 'formats = "ipynb,py:percent"' in pyproject
    assert 'grd_experiment = "my-study"' in pyproject
    ignored = (project / ".gitignore").read_text().split()
    for entry in ("mlflow.db*", "mlruns/", "mlartifacts/", "grd-report/", ".grd/"):
        assert entry in ignored
    # The scaffold is the first commit, so an experiment commit holds only itself.
    assert git("log", "--format=%s", cwd=project).strip() == (
        "Start a research project with grd init"
    )
    assert (project / "grd-report" / "report.html").is_file()
    assert (project / "mlflow.db").is_file()
    assert git("status", "--porcelain", cwd=project) == ""  # outputs are ignored


def test_init_twice_changes_nothing(project: Path) -> None:
    before = tree_state(project)
    head = git("rev-parse", "HEAD", cwd=project)
    done = grd("init", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "nothing to do" in done.stdout
    assert "kept pyproject.toml: it exists" in done.stdout
    assert "created" not in done.stdout
    assert tree_state(project) == before
    assert git("rev-parse", "HEAD", cwd=project) == head


def test_init_never_overwrites_and_says_what_it_kept(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n')
    (tmp_path / ".gitignore").write_text("*.pyc\n")
    assert main(["-C", str(tmp_path), "init", "--no-commit"]) == 0
    assert (tmp_path / "pyproject.toml").read_text() == '[project]\nname = "mine"\n'
    assert (tmp_path / ".gitignore").read_text() == "*.pyc\n"
    assert (tmp_path / "experiments" / "test_hyp_001.py").is_file()
    assert git("log", "--oneline", "--all", cwd=tmp_path) == ""  # --no-commit


def test_init_kept_file_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n')
    (tmp_path / ".gitignore").write_text("*.pyc\n")
    main(["-C", str(tmp_path), "init", "--no-commit"])
    out = capsys.readouterr().out
    assert "kept pyproject.toml: it exists (it lacks [tool.pytest.ini_options]" in out
    assert "kept .gitignore: it exists (consider ignoring mlflow.db*" in out


def test_status_lists_latest_verdicts(project: Path) -> None:
    done = grd("status", cwd=project / "experiments")  # found from a subfolder too
    assert done.returncode == 0, done.stderr
    assert "my-study: 1 hypothesis (from sqlite:///" in done.stdout
    assert "hyp_001  VALIDATED (3 validated)  a 5-point moving average" in done.stdout
    as_json = json.loads(grd("status", "--json", cwd=project).stdout)
    assert [(r["id"], r["verdict"]) for r in as_json] == [("hyp_001", "VALIDATED")]
    assert as_json[0]["parent_run_id"]


def test_report_regenerates_from_store_and_from_json(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    done = grd("report", "--out", str(out), cwd=project)
    assert done.returncode == 0, done.stderr
    for name in ("report.html", "report.md", "report.json"):
        assert (out / name).is_file()
        assert f"wrote {out / name}" in done.stdout
    data = json.loads((out / "report.json").read_text())
    assert [(h["id"], h["verdict"]) for h in data["hypotheses"]] == [("hyp_001", "VALIDATED")]
    assert len(data["hypotheses"][0]["cases"]) == 3
    assert "hyp_001" in (out / "report.md").read_text()

    third = tmp_path / "from-json"
    done = grd("report", "--from", str(out / "report.json"), "--out", str(third), cwd=project)
    assert done.returncode == 0, done.stderr
    again = json.loads((third / "report.json").read_text())
    assert [h["verdict"] for h in again["hypotheses"]] == ["VALIDATED"]


def test_commit_refusals(project: Path) -> None:
    unknown = grd("commit", "hyp_999", cwd=project)
    assert unknown.returncode == EXIT_REFUSED
    assert unknown.stderr.count("\n") == 1
    assert "no recorded verdict for hyp_999" in unknown.stderr
    assert "(recorded: hyp_001)" in unknown.stderr

    stray = project / "notes.txt"
    stray.write_text("an unrelated change\n")
    head = git("rev-parse", "HEAD", cwd=project)
    try:
        dirty = grd("commit", "hyp_001", cwd=project)
        assert dirty.returncode == EXIT_REFUSED
        assert dirty.stderr.count("\n") == 1
        assert "unrelated to it (?? notes.txt)" in dirty.stderr
        assert "--allow-dirty" in dirty.stderr
        # --dry-run previews on any tree, and says what a commit would refuse.
        preview = grd("commit", "hyp_001", "--dry-run", cwd=project)
        assert preview.returncode == 0, preview.stderr
        lines = preview.stdout.splitlines()
        assert lines[0].startswith("experiment(hyp-001): a 5-point moving average")
        assert "would leave out 1 unrelated change(s): ?? notes.txt" in lines
        assert lines[-1] == (
            "a real commit refuses these until they are committed, or with --allow-dirty"
        )
        assert git("rev-parse", "HEAD", cwd=project) == head
    finally:
        stray.unlink()


def test_commit_writes_the_experiment_format(project: Path) -> None:
    test_file = project / "experiments" / "test_hyp_001.py"
    original = test_file.read_text()
    # A change to the hypothesis's own file belongs in its commit; another
    # change, allowed with --allow-dirty, stays out of it.
    test_file.write_text(original + "\n# window chosen before the run\n")
    other = project / "README.md"
    other.write_text(other.read_text() + "\nscratch\n")
    done = grd(
        "commit", "hyp_001", "--next", "try an exponential smoother", "--allow-dirty",
        cwd=project,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "experiment(hyp-001): a 5-point moving average" in done.stdout
    assert "committed experiments/test_hyp_001.py" in done.stdout
    message = git("log", "-1", "--format=%B", cwd=project)
    lines = message.strip().splitlines()
    assert lines[0].startswith("experiment(hyp-001): a 5-point moving average forecasts")
    assert lines[1] == ""
    assert lines[2].startswith("- Run ID: ") and len(lines[2]) > len("- Run ID: ") + 8
    assert lines[3].startswith("- Hypothesis: a 5-point moving average")
    # The result names what it rests on: here the mean of each metric.
    assert lines[4].startswith("- Result: VALIDATED (3 validated; mae_last_value = ")
    assert ", mae_moving_average = " in lines[4] and lines[4].endswith(" over 3 cases)")
    assert lines[5] == "- Next: try an exponential smoother"
    changed = git("show", "--name-only", "--format=", "HEAD", cwd=project).split()
    assert changed == ["experiments/test_hyp_001.py"]
    assert git("status", "--porcelain", cwd=project).strip() == "M README.md"


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    done = grd("commit", cwd=tmp_path)
    assert done.returncode == EXIT_USAGE
    assert done.stderr.count("\n") == 1
    assert "HYP_ID" in done.stderr
    nothing = grd(cwd=tmp_path)
    assert nothing.returncode == EXIT_USAGE


def test_outside_a_project_is_one_line(tmp_path: Path) -> None:
    for command in ("status", "report", "commit hyp_001"):
        done = grd(*command.split(), cwd=tmp_path)
        assert done.returncode == EXIT_REFUSED, command
        assert done.stderr.count("\n") == 1, done.stderr
        assert "not inside a pytest-grd project" in done.stderr


def test_no_store_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    done = grd("status", cwd=tmp_path)
    assert done.returncode == EXIT_REFUSED
    assert done.stderr.count("\n") == 1
    assert f"no tracking store at {tmp_path.resolve() / 'mlflow.db'}" in done.stderr
    bad = grd("report", "--from", str(tmp_path / "missing.json"), cwd=tmp_path)
    assert bad.returncode == EXIT_REFUSED
    assert bad.stderr.count("\n") == 1
    assert "does not exist" in bad.stderr


def test_every_command_has_help() -> None:
    parser = build_parser()
    text = parser.format_help()
    for command in ("init", "status", "report", "commit"):
        assert command in text
    assert "exit status: 0 success; 1 refused" in text
    for command in ("init", "status", "report", "commit"):
        with pytest.raises(SystemExit) as exc:
            parser.parse_args([command, "--help"])
        assert exc.value.code == 0


def test_commit_message_pure() -> None:
    case = CaseRecord(hypothesis="hyp_002", nodeid="t.py::t", name="hyp_002", claim="x  beats\ny")
    v1 = {"target": "data/raw/a.csv", "md5": "0" * 32, "rev_resolved": "a" * 40}
    v2 = {"target": "data/raw/a.csv", "md5": "1" * 32, "rev_resolved": "b" * 40}
    # Two versions of one file, and one of them read again for evaluation.
    case.lineage = [v1, v2, {**v1, "context": "evaluation"}]
    result = HypothesisResult(
        id="hyp_002",
        claim="x  beats\ny",
        verdict="VALIDATED",
        reason="",
        cases=[case],
        stats={"p_value": 0.0123, "p_adjusted": 0.004, "metric": "auc", "estimate": 0.02},
        parent_run_id="abc123",
    )
    message = commit_message(result, "ship it")
    assert message.splitlines() == [
        "experiment(hyp-002): x beats y",
        "",
        "- Run ID: abc123",
        "- Hypothesis: x beats y",
        "- Result: VALIDATED (p = 0.004; auc effect +0.02)",
        f"- Data: data/raw/a.csv (md5 {'0' * 32}, rev {'a' * 12})",
        f"- Data: data/raw/a.csv (md5 {'1' * 32}, rev {'b' * 12})",
        "- Next: ship it",
    ]
    assert scope_name("hyp_001") == "hyp-001"


def test_find_project_reads_ini(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\ngrd_experiment = "exp"\ngrd_tracking_uri = "sqlite:///s.db"\n'
    )
    (tmp_path / "sub").mkdir()
    project = find_project(tmp_path / "sub")
    assert project.root == tmp_path.resolve()
    assert project.experiment == "exp"
    assert project.tracking_uri() == f"sqlite:///{(tmp_path / 's.db').resolve()}"


DATA_HYPOTHESIS = """
import pytest


@pytest.mark.hypothesis("hyp_data", claim="the second batch adds patients")
def test_batches(grd_data, grd_run):
    first = grd_data.path("data/patients.csv", rev="v1").read_text().splitlines()
    now = grd_data.path("data/patients.csv").read_text().splitlines()
    grd_run.log_metric("added", len(now) - len(first))
    assert len(now) > len(first)
"""


def _dvc_md5(dvc_file: Path) -> str:
    return next(
        line.split(":", 1)[1].strip()
        for line in dvc_file.read_text().splitlines()
        if line.strip().startswith("- md5:")
    )


def test_commit_lists_every_data_version_read(tmp_path: Path) -> None:
    """A real git + DVC repository: the case reads data/patients.csv at v1
    and in the working tree (v2); the commit message names both versions."""
    from dvc.repo import Repo

    root = tmp_path / "study"
    (root / "data").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\ngrd_experiment = "s"\n')
    (root / ".gitignore").write_text("mlflow.db*\nmlartifacts/\n__pycache__/\n.grd/\n")
    (root / "test_data_batches.py").write_text(DATA_HYPOTHESIS)
    git("init", "-q", cwd=root)
    repo = Repo.init(str(root))
    data = root / "data" / "patients.csv"
    md5 = {}
    for tag, rows in (("v1", "id\n1\n2\n"), ("v2", "id\n1\n2\n3\n4\n")):
        data.write_text(rows)
        repo.add([str(data)])
        git("add", "-A", cwd=root)
        git("commit", "-qm", tag, cwd=root)
        git("tag", tag, cwd=root)
        md5[tag] = _dvc_md5(root / "data" / "patients.csv.dvc")
    repo.close()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    done = grd("commit", "hyp_data", "--dry-run", cwd=root)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "- Result: VALIDATED (1 validated; added = 2)" in lines
    sha = {tag: git("rev-parse", tag, cwd=root).strip() for tag in md5}
    data_lines = [line for line in lines if line.startswith("- Data: ")]
    assert data_lines == [
        f"- Data: data/patients.csv (md5 {md5['v1']}, rev {sha['v1'][:12]})",
        f"- Data: data/patients.csv (md5 {md5['v2']}, rev {sha['v2'][:12]})",
    ]
