"""Shared fixtures for pytest-grd's own tests."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

# In-process pytester sessions restore sys.modules afterwards, and extension
# modules such as numpy's cannot be initialized twice in one process: load
# them once here so that no inner session is the first to import them.
for _preload in (
    "numpy",
    "pandas",
    "pyarrow",
    "scipy.stats",
    "matplotlib",
    "mlflow",
    "mlflow.store.tracking.sqlalchemy_store",
):
    with contextlib.suppress(ImportError):  # every extra is installed for the suite
        __import__(_preload)

# Commits made by tests (git + DVC repositories, `grd commit`) need an identity.
os.environ.setdefault("GIT_AUTHOR_NAME", "grd-tests")
os.environ.setdefault("GIT_AUTHOR_EMAIL", "grd-tests@example.invalid")
os.environ.setdefault("GIT_COMMITTER_NAME", "grd-tests")
os.environ.setdefault("GIT_COMMITTER_EMAIL", "grd-tests@example.invalid")
# MLflow, DVC and friends must never phone home from a test.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
# Every test names its own store; a tracking URI exported in the developer's
# shell must not receive the suite's runs (nor change what a test reads back).
os.environ.pop("MLFLOW_TRACKING_URI", None)
# Hundreds of sessions here each have a store of their own: a writer kept warm
# for each would outlive its test by minutes.  tests/test_tracking_warm.py
# turns it on where it is the subject.
os.environ.setdefault("GRD_WRITER_IDLE", "0")


class RecordSink:
    """Collects records in a pytester session through the public hook."""

    CONFTEST = """
import json, os
def pytest_grd_case_record(record, config):
    path = os.environ.get("GRD_TEST_SINK")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(record.to_dict()) + "\\n")
"""

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]


@pytest.fixture
def sink(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> RecordSink:
    """A conftest in the pytester dir that writes every case record to a file."""
    path = pytester.path / "records.jsonl"
    monkeypatch.setenv("GRD_TEST_SINK", str(path))
    pytester.makeconftest(RecordSink.CONFTEST)
    return RecordSink(path)
