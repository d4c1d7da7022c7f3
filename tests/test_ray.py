"""``--grd-ray``: a sweep on a real two-node Ray cluster started on this machine.

The cluster (``ray start --head`` plus a second ``ray start --address``, each
with a custom resource so placement can be checked) is started once for the
module; the node-loss test kills the second node's raylet mid-sweep, so it
runs last.  Pure scheduling logic and usage errors are checked without Ray.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_grd.marker import MarkerError, parse_marker
from pytest_grd.ray.resources import ResourceError, parse_resources, shape_of, workers_that_fit
from pytest_grd.ray.scheduling import Backlog, Task, fits_on

RAY_ENV = {
    "RAY_DISABLE_IMPORT_WARNING": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
    # A dead node is declared dead after ~1.5 s instead of ~15 s.
    "RAY_health_check_initial_delay_ms": "0",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "500",
    "RAY_health_check_failure_threshold": "3",
}
RAY_BIN = Path(sys.executable).parent / "ray"
needs_ray = pytest.mark.skipif(not RAY_BIN.exists(), reason="pytest-grd[ray] not installed")

# -- pure logic ----------------------------------------------------------------


def test_resources_are_checked_and_workers_fit_the_cluster() -> None:
    assert parse_resources({"num_gpus": 1, "a100": 0.5}, "resources=") == {
        "num_gpus": 1.0,
        "a100": 0.5,
    }
    for bad in ({"num_gpus": -1}, {"num_gpus": "one"}, {"num_gpus": True}, [1]):
        with pytest.raises(ResourceError):
            parse_resources(bad, "resources=")
    one_gpu = shape_of({"num_gpus": 1})
    assert dict(one_gpu) == {"num_cpus": 1.0, "num_gpus": 1.0}
    assert workers_that_fit(one_gpu, {"CPU": 16, "GPU": 2}, cases=10) == 2  # one per GPU
    assert workers_that_fit(shape_of({"num_gpus": 0.5}), {"CPU": 16, "GPU": 2}, 10) == 4
    assert workers_that_fit(one_gpu, {"CPU": 16}, 10) == 0
    assert workers_that_fit(shape_of({}), {"CPU": 16}, cases=3) == 3
    assert fits_on(shape_of({"head_node": 1}), {"CPU": 1, "head_node": 1})
    assert not fits_on(shape_of({"head_node": 1}), {"CPU": 1, "second_node": 1})


def test_marker_resources_are_validated() -> None:
    spec = parse_marker(["hyp_1"], {"resources": {"num_gpus": 1}})
    assert spec.resources == {"num_gpus": 1.0}
    with pytest.raises(MarkerError, match="num_gpus must be a number >= 0"):
        parse_marker(["hyp_1"], {"resources": {"num_gpus": -2}})


def test_a_lost_case_runs_again_first_until_its_retries_are_spent() -> None:
    shape = shape_of({})
    backlog = Backlog([Task("a", shape), Task("b", shape)], retries=2)
    first = backlog.take(shape)
    assert first is not None and first.nodeid == "a"
    assert backlog.lose(first, "n1", "node lost")
    again = backlog.take(shape)
    assert again is first and again.attempt == 2
    assert backlog.lose(again, "n2", "worker died")
    assert not backlog.lose(backlog.take(shape) or first, "n3", "node lost")
    assert [loss["why"] for loss in first.lost] == ["node lost", "worker died", "node lost"]
    remaining = backlog.take(shape)
    assert remaining is not None and remaining.nodeid == "b" and len(backlog) == 0


# -- start-up cost and usage errors --------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_ray_is_imported_only_with_the_option(pytester: pytest.Pytester) -> None:
    probe = "import sys, pytest_grd.plugin; print(sorted(m for m in sys.modules if m == 'ray'))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr
    pytester.makeconftest(
        "import sys\n"
        "def pytest_sessionfinish(session):\n"
        "    open('modules.txt', 'w').write(str('ray' in sys.modules))\n"
    )
    pytester.makepyfile(
        test_x="import pytest\n"
        "@pytest.mark.hypothesis('hyp_1', claim='c')\n"
        "def test_a():\n    pass\n"
    )
    result = pytester.runpytest_subprocess("--grd-no-tracking", "-p", "no:cacheprovider")
    assert result.ret == 0
    assert (pytester.path / "modules.txt").read_text() == "False"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grd-ray", "-n", "2"], "--grd-ray and -n both choose where cases run"),
        (["--grd-ray=not an address"], "not a Ray address"),
        (["--grd-ray=127.0.0.1:{port}"], "cannot reach the Ray cluster"),
        (["--grd-ray", "--grd-ray-retries=-1"], "--grd-ray-retries must be 0 or more"),
    ],
)
def test_a_bad_ray_setting_is_one_usage_error(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile(
        test_x="import pytest\n"
        "@pytest.mark.hypothesis('hyp_1', claim='c')\n"
        "def test_a():\n    pass\n"
    )
    args = [a.format(port=_free_port()) for a in args]
    result = pytester.runpytest_subprocess("--grd-no-tracking", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert errors and message in errors[0] and errors[0].startswith("ERROR:"), errors
    assert "Traceback" not in result.stderr.str()
    assert "VALIDATED" not in result.stdout.str()


def test_ray_not_installed_is_one_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The one stand-in in this module: an importable 'ray' that is not there.
    fake = pytester.mkdir("no_ray")
    (fake / "ray").mkdir()
    (fake / "ray" / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake))
    pytester.makepyfile(test_x="def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess("--grd-no-tracking", "--grd-ray")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    first = result.errlines[0]
    assert first.startswith("ERROR: --grd-ray needs Ray") and "pytest-grd[ray]" in first
    assert "Traceback" not in result.stderr.str()


# -- a real two-node cluster -----------------------------------------------------


class LocalCluster:
    """Two Ray nodes on this machine; every process it started is killed at the end."""

    def __init__(self, temp_dir: Path, port: int) -> None:
        self.temp_dir = temp_dir
        self.address = f"127.0.0.1:{port}"
        self.env = {**os.environ, **RAY_ENV}

    def start(self) -> None:
        common = ["--num-cpus=1", "--disable-usage-stats"]
        head = [str(RAY_BIN), "start", "--head", f"--port={self.address.split(':')[1]}",
                f"--temp-dir={self.temp_dir}", "--include-dashboard=false",
                '--resources={"head_node": 1}', *common]  # fmt: skip
        second = [str(RAY_BIN), "start", f"--address={self.address}",
                  '--resources={"second_node": 1}', *common]  # fmt: skip
        for command in (head, second):
            subprocess.run(command, env=self.env, check=True, capture_output=True, timeout=120)

    def raylet(self, resource: str) -> int:
        """The pid of the raylet of the node that has ``resource``."""
        for pid, cmdline in _processes():
            if "raylet/raylet" in cmdline and str(self.temp_dir) in cmdline and resource in cmdline:
                return pid
        raise AssertionError(f"no raylet with {resource}")

    def lose_node(self, raylet: int) -> None:
        """The node is gone: its raylet and everything it started (its workers)."""
        parents = _parents()
        doomed = [raylet, *(pid for pid, parent in parents.items() if parent == raylet)]
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        ours = {pid for pid, cmdline in _processes() if str(self.temp_dir) in cmdline}
        parents = _parents()
        family = set(ours)
        for pid in parents:  # descendants (workers, agents) of what we started
            ancestor = parents.get(pid)
            while ancestor and ancestor not in family:
                ancestor = parents.get(ancestor)
            if ancestor:
                family.add(pid)
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _processes() -> Iterator[tuple[int, str]]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            yield int(entry.name), text


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    return parents


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[LocalCluster]:
    if not RAY_BIN.exists():
        pytest.skip("pytest-grd[ray] not installed")
    # Short: Ray's socket paths must fit in 107 characters.
    temp_dir = Path(tempfile.mkdtemp(prefix="grdray", dir="/tmp"))
    cluster = LocalCluster(temp_dir, _free_port())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def ray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in RAY_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)


SWEEP = """
import os, time, pytest

@pytest.mark.hypothesis("hyp_any", claim="small i converges", seeds=2)
@pytest.mark.parametrize("i", range(3))
def test_any(i, grd_seed, grd_case):
    grd_case.log_metric("acc", 0.9 + i / 100 + grd_seed / 1000)
    time.sleep(0.1)
    assert i < 2

@pytest.mark.hypothesis("hyp_head", claim="runs on the head node", resources={"head_node": 1})
@pytest.mark.parametrize("j", range(2))
def test_head(j, grd_case):
    grd_case.log_metric("j", j)
    if j == 1:
        pytest.skip("not applicable")

@pytest.mark.hypothesis("hyp_second", claim="runs on the second node",
                        resources={"second_node": 1})
def test_second(grd_case):
    grd_case.log_metric("k", 1.0)

def test_plain():
    pass
"""


def _cases(report_dir: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((report_dir / "report.json").read_text())
    cases: dict[str, dict[str, Any]] = {}
    for hypothesis in data["hypotheses"]:
        for case in hypothesis["cases"]:
            assert case["nodeid"] not in cases, f"{case['nodeid']} has two records"
            cases[case["nodeid"]] = case
    return cases


def _comparable(case: dict[str, Any]) -> dict[str, Any]:
    from pytest_grd.record import CaseRecord

    data = CaseRecord.from_dict(case).comparable()
    data.pop("tracking_uri", None)
    return data


def _verdicts(report_dir: Path) -> dict[str, Any]:
    data = json.loads((report_dir / "report.json").read_text())
    return {h["id"]: (h["verdict"], h["reason"], h["counts"]) for h in data["hypotheses"]}


@pytest.mark.slow
@needs_ray
def test_a_ray_sweep_gives_the_serial_records_and_verdicts(
    pytester: pytest.Pytester, ray_cluster: LocalCluster, ray_env: None
) -> None:
    pytester.makepyfile(test_sweep=SWEEP)
    serial = pytester.runpytest_subprocess(
        "--grd-no-tracking", "--grd-report=serial", "-p", "no:cacheprovider",
        "--junitxml=serial.xml",
    )  # fmt: skip
    # Tracking on: every worker runs the normal tracking plugin on this machine.
    on_ray = pytester.runpytest_subprocess(
        f"--grd-ray={ray_cluster.address}", "--grd-report=ray", "-p", "no:cacheprovider",
        "--junitxml=junit.xml",
    )  # fmt: skip
    assert serial.ret == on_ray.ret == pytest.ExitCode.TESTS_FAILED
    on_ray.stdout.fnmatch_lines(
        [f"grd: ray cluster at {ray_cluster.address}: 2 node(s), 2 CPU, 0 GPU "
         "(head_node=1, second_node=1)",
         "grd: ray: 2 worker(s) of num_cpus=1 for 7 case(s)",
         "grd: ray: 1 worker(s) of head_node=1 num_cpus=1 for 2 case(s)",
         "grd: ray: 1 worker(s) of num_cpus=1 second_node=1 for 1 case(s)"]
    )  # fmt: skip
    serial_cases, ray_cases = _cases(pytester.path / "serial"), _cases(pytester.path / "ray")
    assert len(ray_cases) == 9
    assert {k: _comparable(v) for k, v in ray_cases.items()} == {
        k: _comparable(v) for k, v in serial_cases.items()
    }
    assert _verdicts(pytester.path / "ray") == _verdicts(pytester.path / "serial")
    placed = {k: v["extra"]["ray"] for k, v in ray_cases.items()}
    for nodeid, where in placed.items():
        if "test_head" in nodeid:
            assert where["node_resources"] == ["head_node"], nodeid
        if "test_second" in nodeid:
            assert where["node_resources"] == ["second_node"], nodeid
    assert all(p["attempt"] == 1 and p["retried"] == [] for p in placed.values())
    assert all(v["run_id"] for v in ray_cases.values())  # tracked on the workers
    junit = (pytester.path / "junit.xml").read_text()
    assert junit.count("<testcase ") == (pytester.path / "serial.xml").read_text().count(
        "<testcase "
    )
    assert junit.count("<testcase ") >= 8


NODE_LOSS = """
import os, time, pytest

@pytest.mark.hypothesis("hyp_loss", claim="every case converges")
@pytest.mark.parametrize("i", range(6))
def test_case(i, grd_case):
    marks = os.environ.get("GRD_MARKS")
    if marks:
        with open(os.path.join(marks, f"start-{i}-{os.getpid()}"), "w") as fh:
            fh.write(str(os.getppid()))
    time.sleep(5.0 if os.environ.get("GRD_SLOW") else 0.8)
    grd_case.log_metric("acc", 0.9 + i / 100)
    assert i != 4
"""


@pytest.mark.slow
@needs_ray
def test_ctrl_c_ends_the_remote_work_and_records_running_cases_as_interrupted(
    pytester: pytest.Pytester, ray_cluster: LocalCluster, ray_env: None
) -> None:
    pytester.makepyfile(test_loss=NODE_LOSS)
    marks = pytester.mkdir("marks")
    command = [sys.executable, "-m", "pytest", f"--grd-ray={ray_cluster.address}",
               "--grd-no-tracking", "--grd-report=ray", "-p", "no:cacheprovider"]  # fmt: skip
    env = {**os.environ, "GRD_MARKS": str(marks), "GRD_SLOW": "1"}
    proc = subprocess.Popen(
        command, cwd=pytester.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        while not list(marks.glob("start-*")) and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.decode(errors="replace")
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, text
    cases = _cases(pytester.path / "ray")
    interrupted = [c for c in cases.values() if c["extra"].get("interrupted")]
    assert interrupted, text
    assert all(c["verdict"] == "INCONCLUSIVE" for c in interrupted)
    assert "VALIDATED" not in {h[0] for h in _verdicts(pytester.path / "ray").values()}
    # No worker kept running the sweep: no case starts after the signal.
    started = len(list(marks.glob("start-*")))
    time.sleep(2)
    assert len(list(marks.glob("start-*"))) == started


@pytest.mark.slow
@needs_ray
def test_a_case_whose_node_dies_runs_again_elsewhere(
    pytester: pytest.Pytester, ray_cluster: LocalCluster, ray_env: None
) -> None:
    pytester.makepyfile(test_loss=NODE_LOSS)
    serial = pytester.runpytest_subprocess(
        "--grd-no-tracking", "--grd-report=serial", "-p", "no:cacheprovider"
    )
    marks = pytester.mkdir("marks")
    raylet = ray_cluster.raylet("second_node")
    command = [sys.executable, "-m", "pytest", f"--grd-ray={ray_cluster.address}",
               "--grd-no-tracking", "--grd-report=ray", "-p", "no:cacheprovider"]  # fmt: skip
    env = {**os.environ, "GRD_MARKS": str(marks)}
    proc = subprocess.Popen(
        command, cwd=pytester.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        killed = None
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            for mark in marks.glob("start-*"):
                if mark.read_text() == str(raylet):
                    killed = int(mark.name.split("-")[1])
                    ray_cluster.lose_node(raylet)
                    break
            time.sleep(0.02)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.decode(errors="replace")
    assert killed is not None, text
    assert proc.returncode == serial.ret == pytest.ExitCode.TESTS_FAILED, text
    cases = _cases(pytester.path / "ray")
    assert sorted(cases) == sorted(_cases(pytester.path / "serial"))  # one record each
    retried = cases[f"test_loss.py::test_case[{killed}]"]["extra"]["ray"]
    assert retried["attempt"] == 2, retried
    assert len(retried["retried"]) == 1 and "node lost" in retried["retried"][0]["why"]
    assert retried["node_resources"] == ["head_node"]
    others = [c["extra"]["ray"] for k, c in cases.items() if not k.endswith(f"[{killed}]")]
    assert all(p["attempt"] == 1 for p in others)
    assert _verdicts(pytester.path / "ray") == _verdicts(pytester.path / "serial")
    assert {k: _comparable(v) for k, v in cases.items()} == {
        k: _comparable(v) for k, v in _cases(pytester.path / "serial").items()
    }
