"""``log_metric`` for notebook code, and reading its side channel back.

Inside a notebook run by pytest-grd, :func:`log_metric` appends one JSON line
per call to a file whose path pytest-grd hands to the kernel (environment
variable ``GRD_NOTEBOOK_METRICS``, and the injected parameter
``grd_metrics_path``); after the notebook ran, the case reads the file back
into its record.  Outside pytest-grd (a notebook opened in Jupyter) it prints
the value and warns once.  Importing this module costs only the standard
library.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["METRICS_ENV", "METRICS_PARAMETER", "MetricPoint", "log_metric", "read_metrics"]

#: Environment variable that carries the side channel's path into the kernel.
METRICS_ENV = "GRD_NOTEBOOK_METRICS"
#: Name of the injected notebook parameter that carries the same path.
METRICS_PARAMETER = "grd_metrics_path"

_warned = False


@dataclass(frozen=True)
class MetricPoint:
    """One logged value."""

    key: str
    value: float
    step: int | None


def _sink_path() -> str | None:
    path = os.environ.get(METRICS_ENV)
    if path:
        return path
    # The injected parameter, for a kernel whose environment was not ours.
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    user_ns = getattr(shell, "user_ns", None)
    if isinstance(user_ns, dict):
        value = user_ns.get(METRICS_PARAMETER)
        if isinstance(value, str) and value:
            return value
    return None


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log a metric of the running notebook case: the last value per ``key``
    lands in the case's record (and its MLflow run), every value in its history.

    Outside a pytest-grd run it prints ``key = value`` and warns once.
    """
    global _warned
    if not isinstance(key, str) or not key:
        raise TypeError(f"log_metric key must be a non-empty string, got {key!r}")
    number = float(value)
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        raise TypeError(f"log_metric step must be an int or None, got {step!r}")
    path = _sink_path()
    if path is None:
        if not _warned:
            warnings.warn(
                "pytest_grd.notebook.log_metric: not running under pytest-grd; "
                "metrics are printed, not recorded",
                stacklevel=2,
            )
            _warned = True
        print(f"{key} = {number:g}" + (f" (step {step})" if step is not None else ""))
        return
    line = json.dumps(
        {"key": key, "value": number if math.isfinite(number) else repr(number), "step": step}
    )
    # One write per line, appended: a crash loses at most the line being written.
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def read_metrics(path: Path) -> tuple[list[MetricPoint], int]:
    """The points logged to ``path`` in order, and how many lines were unreadable."""
    if not path.exists():
        return [], 0
    points: list[MetricPoint] = []
    bad = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            data: Any = json.loads(line)
            value = data["value"]
            number = float(value)  # "nan"/"inf" come back through float()
            step = data.get("step")
            points.append(
                MetricPoint(str(data["key"]), number, int(step) if step is not None else None)
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            bad += 1
    return points, bad
