"""Ctrl-C in the middle of a sweep: no claim is VALIDATED on part of its cases,
every case that started has its record in report.json, and no case starts
after the signal.  Real processes, real signals (serial and ``-n 2``; the
signal to the controller alone, and to the whole process group as a
terminal's Ctrl-C sends it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

SWEEP = """
import os, time, pytest

@pytest.mark.hypothesis("hyp_sweep", claim="every case converges")
@pytest.mark.parametrize("i", range(8))
def test_case(i):
    marks = os.environ["GRD_MARKS"]
    with open(os.path.join(marks, f"start-{i}"), "w") as fh:
        fh.write(repr(time.time()))
    time.sleep(1.0)
    with open(os.path.join(marks, f"end-{i}"), "w") as fh:
        fh.write(repr(time.time()))
"""


def _marks(folder: Path, kind: str) -> dict[int, float]:
    return {
        int(p.name.split("-")[1]): float(p.read_text() or 0)
        for p in folder.glob(f"{kind}-*")
        if p.read_text()
    }


def _wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the sweep")


@pytest.mark.slow
@pytest.mark.parametrize("target", ["controller", "group"])
@pytest.mark.parametrize(
    "mode", [pytest.param([], id="serial"), pytest.param(["-n", "2"], id="xdist")]
)
def test_interrupted_sweep_is_never_validated_and_keeps_every_started_case(
    pytester: pytest.Pytester, mode: list[str], target: str
) -> None:
    pytester.makepyfile(test_sweep=SWEEP)
    marks = pytester.path / "marks"
    marks.mkdir()
    env = {**os.environ, "GRD_MARKS": str(marks), "PYTHONUNBUFFERED": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_XDIST_WORKER_COUNT", None)
    command = [sys.executable, "-m", "pytest", "--grd-no-tracking", "--grd-report", "-p",
               "no:cacheprovider", "-p", "no:randomly", *mode]  # fmt: skip
    proc = subprocess.Popen(
        command,
        cwd=pytester.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal's job
    )
    stop_files = Path(tempfile.gettempdir()).glob
    before = set(stop_files("pytest-grd-stop-*"))
    try:
        _wait_for(lambda: len(_marks(marks, "end")) >= 2, timeout=90)
        signalled = time.time()
        if target == "group":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        # An xdist controller tells its workers by a stop file, as soon as
        # its Ctrl-C handler runs: on a loaded machine that can be a moment
        # after the signal, so "after the signal" counts from the file.
        while proc.poll() is None and not set(stop_files("pytest-grd-stop-*")) - before:
            time.sleep(0.01)
        told = max(signalled, time.time()) if proc.poll() is None else signalled
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = out.decode(errors="replace")
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, text
    started = _marks(marks, "start")
    # No case starts after the workers were told (a little slack for one
    # already past its check when the file appeared).
    late = {i: t - told for i, t in started.items() if t > told + 0.5}
    assert late == {}, text
    assert len(started) < 8, text
    report = json.loads((pytester.path / "grd-report" / "report.json").read_text())
    (hypothesis,) = report["hypotheses"]
    assert hypothesis["verdict"] != "VALIDATED", text
    assert hypothesis["verdict"] == "INCONCLUSIVE"
    assert "interrupted" in hypothesis["reason"], hypothesis["reason"]
    recorded = {int(c["nodeid"].rsplit("[", 1)[1].rstrip("]")) for c in hypothesis["cases"]}
    assert set(started) <= recorded, (sorted(started), sorted(recorded), text)
    assert "hyp_sweep  VALIDATED" not in text
