"""Safe defaults: grd init commits only what it wrote, the scaffold's notebook
example runs as written, tracking's folders are never collected, and a
tracking URI with credentials reaches a live server without leaking them."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_grd.tracking.settings import health_request

GRD = [sys.executable, "-m", "pytest_grd"]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, check=False)


def test_health_request_sends_uri_credentials_as_basic_auth() -> None:
    request = health_request("http://alice:s%40cret@127.0.0.1:5000/")
    assert request.full_url == "http://127.0.0.1:5000/health"
    token = base64.b64encode(b"alice:s@cret").decode()
    assert request.get_header("Authorization") == f"Basic {token}"
    plain = health_request("https://mlflow.example/prefix")
    assert plain.full_url == "https://mlflow.example/prefix/health"
    assert plain.get_header("Authorization") is None


def test_credentials_are_redacted_in_any_text() -> None:
    from pytest_grd.text import redact

    line = "pytest --grd-tracking-uri=http://alice:s3cr3t@127.0.0.1:5000 -k x"
    assert redact(line) == "pytest --grd-tracking-uri=http://alice:***@127.0.0.1:5000 -k x"
    assert (
        redact("postgresql://u:pw@db/x, https://host/p")
        == "postgresql://u:***@db/x, https://host/p"
    )


def test_init_in_a_non_empty_folder_commits_only_what_it_wrote(tmp_path: Path) -> None:
    root = tmp_path / "study"
    root.mkdir()
    (root / ".env").write_text("API_TOKEN=do-not-commit\n")
    (root / "notes.txt").write_text("my own notes\n")
    done = _run(*GRD, "init", str(root), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    committed = set(_run("git", "ls-files", cwd=root).stdout.split())
    assert ".env" not in committed and "notes.txt" not in committed
    assert {"pyproject.toml", ".gitignore", "experiments/test_hyp_001.py"} <= committed
    assert {".dvc/config", "notebooks/README.md"} <= committed
    untracked = _run("git", "status", "--porcelain", cwd=root).stdout
    assert "?? .env" in untracked and "?? notes.txt" in untracked
    assert "do-not-commit" not in _run("git", "log", "-p", cwd=root).stdout


@pytest.mark.slow
def test_the_scaffold_notebook_example_runs_as_written(tmp_path: Path) -> None:
    root = tmp_path / "nb-study"
    assert _run(*GRD, "init", str(root), cwd=tmp_path).returncode == 0
    readme = (root / "notebooks" / "README.md").read_text()
    block = re.search(r"\n\n((?:    .*\n|\n)+)\nis a hypothesis", readme)
    assert block is not None, readme
    source = "\n".join(line[4:] for line in block.group(1).splitlines()) + "\n"
    (root / "notebooks" / "hyp_002.py").write_text(source)
    run = _run(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", cwd=root)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"hyp_002 +VALIDATED", run.stdout), run.stdout[-2000:]
    # A second tracked run: MLflow now keeps the executed notebook among its
    # artifacts (mlartifacts/), which is never collected, even without
    # norecursedirs in the project's settings.
    pyproject = root / "pyproject.toml"
    pyproject.write_text(re.sub(r"norecursedirs = .*\n", "", pyproject.read_text()))
    stored = list((root / "mlartifacts").rglob("*.ipynb"))
    assert stored, "the first run stored no executed notebook:\n" + run.stdout[-3000:]
    again = _run(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", cwd=root)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "duplicate hypothesis id" not in again.stdout


def test_tracking_folders_are_never_collected(pytester: pytest.Pytester) -> None:
    for folder in ("mlartifacts/1/abc/artifacts", "mlruns/0", ".grd/notebooks"):
        (pytester.path / folder).mkdir(parents=True)
        (pytester.path / folder / "test_copy.py").write_text(
            "import pytest\n@pytest.mark.hypothesis('hyp_x')\ndef test_x():\n    pass\n"
        )
    pytester.makepyfile(
        test_real="import pytest\n@pytest.mark.hypothesis('hyp_x')\ndef test_x():\n    pass\n"
    )
    result = pytester.runpytest("--grd-no-tracking")
    result.assert_outcomes(passed=1)


@pytest.mark.slow
def test_a_uri_with_credentials_reaches_a_live_server_and_never_shows_the_secret(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    from tests.test_tracking import _free_port, _wait_healthy

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path.as_posix()}/backend.db",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_healthy(url, server, limit=150)
        pytester.makepyfile(
            test_exp="import pytest\n"
            "@pytest.mark.hypothesis('hyp_auth', claim='logged through a URI with a user')\n"
            "def test_auth(grd_run):\n    grd_run.log_metric('m', 1.0)\n"
        )
        secret_uri = f"http://alice:s3cr3t-pw@127.0.0.1:{port}"
        result = pytester.runpytest_subprocess(
            f"--grd-tracking-uri={secret_uri}", "--grd-report", "-p", "no:cacheprovider"
        )
        assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
        assert "unreachable" not in result.stdout.str() + result.stderr.str()
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=url)
        experiment = client.get_experiment_by_name(pytester.path.name)
        assert experiment is not None
        runs = client.search_runs([experiment.experiment_id])
        case = [r for r in runs if r.data.tags.get("grd.role") == "case"]
        assert len(case) == 1 and case[0].data.metrics["m"] == 1.0
        for path in (pytester.path / "grd-report").iterdir():
            assert "s3cr3t-pw" not in path.read_text(errors="replace"), path.name
        assert "s3cr3t-pw" not in result.stdout.str()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, 15)
        server.wait(timeout=30)
        log.close()
