"""The README's main command on the example project, with the documented verdicts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: What docs/examples.md says each hypothesis gets.  hyp_006 reads data v1 at a
#: git revision of a DVC project in a subdirectory (``dvc init --subdir``).
DOCUMENTED = {
    "hyp_001": "VALIDATED",
    "hyp_002": "REJECTED",
    "hyp_003": "VALIDATED",
    "hyp_004": "VALIDATED",
    "hyp_005": "VALIDATED",
    "hyp_006": "VALIDATED",
    "tree_baseline": "VALIDATED",
}


@pytest.mark.slow
def test_examples_main_command(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.fail("git is needed for the examples' data versions")
    out = tmp_path / "report"
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "examples/", f"--grd-report={out}",
            "--grd-baseline", "-p", "no:cacheprovider",
            f"--grd-tracking-uri=sqlite:///{tmp_path / 'mlflow.db'}",
        ],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "every failed case is as the baseline records" in done.stdout or (
        "no change against" in done.stdout
    )
    report = json.loads((out / "report.json").read_text())
    verdicts = {h["id"]: h["verdict"] for h in report["hypotheses"]}
    for hid, verdict in DOCUMENTED.items():
        assert verdicts.get(hid) == verdict, (hid, verdicts)
    baseline = json.loads((REPO / "examples" / "grd-baseline.json").read_text())
    recorded = baseline["scales"]["full"]["hypotheses"]
    assert verdicts["hyp_006"] == recorded["hyp_006"]["verdict"]
    forest = next(h for h in report["hypotheses"] if h["id"] == "hyp_003")
    assert forest["stats"]["p_value"] < 0.05
    html = (out / "report.html").read_text()
    assert "<img" in html  # the sweep's plot is inline
