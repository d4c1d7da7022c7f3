"""What a run carries: tags, params and metrics built from a case record.

Pure logic (no pytest, no mlflow).  The names here are the contract between
the writer (:mod:`pytest_grd.tracking.store`) and the reader
(:mod:`pytest_grd.tracking.query`).
"""

from __future__ import annotations

import json
import math
import platform
import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..gitinfo import git_state
from ..record import CaseRecord, HypothesisResult
from .settings import redact_uri

__all__ = [
    "MAX_PARAM_VALUE",
    "MAX_TAG_VALUE",
    "MAX_KEY",
    "MAX_RECORD_CHUNKS",
    "ROLE_CASE",
    "ROLE_PARENT",
    "git_tags",
    "process_tags",
    "env_tags",
    "case_tags",
    "shared_tags",
    "parent_tags",
    "verdict_tags",
    "record_tags",
    "record_dict_tags",
    "record_from_tags",
    "param_value",
    "case_params",
    "stats_metrics_and_tags",
    "result_tags",
    "check_key",
    "name_problem",
]

#: MLflow's limits (``mlflow.utils.validation``).  What a test logs through
#: ``grd_run`` is refused at the call when longer (:mod:`.run`); the plugin's
#: own tags and the parametrize values it logs are cut here instead.
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_KEY = 250
#: A record longer than this many tags is not stored whole; query.py rebuilds
#: it from params, metrics and tags instead.
MAX_RECORD_CHUNKS = 40

ROLE_CASE = "case"
ROLE_PARENT = "parent"

# MLflow's key characters (alphanumerics, underscores, dashes, periods,
# spaces, colons, slashes), for the names the plugin builds itself.
_KEY = re.compile(r"^[/\w.\- :]{1,250}$")
_KEY_CHARS = re.compile(r"^[/\w.\- :]*$")


def name_problem(key: object) -> str | None:
    """Why MLflow would refuse ``key`` as a param, metric or tag name, or
    ``None``: the rules of ``mlflow.utils.validation`` (characters, length,
    and a name must be its own normalized path: no ``a//b``, ``./a``, ``..``)."""
    if not isinstance(key, str):
        return f"it must be a string, not {type(key).__name__}"
    if not key:
        return "it is empty"
    if len(key) > MAX_KEY:
        return f"it is {len(key):,} characters; MLflow's limit is {MAX_KEY}"
    if not _KEY_CHARS.match(key):
        return "use only letters, digits, _ - . : / and spaces"
    norm = posixpath.normpath(key)
    if norm.startswith("/") or norm == "." or norm.startswith(".."):
        return "MLflow reads names as paths: it must not start with '/' or '..'"
    if norm != key:
        return f"MLflow reads names as paths: write {norm!r}"
    return None


def check_key(kind: str, key: str) -> str:
    """``key`` if MLflow accepts it as a param/metric/tag name, else ValueError."""
    problem = name_problem(key)
    if problem is not None:
        raise ValueError(f"invalid {kind} name {key!r}: {problem}")
    return key


def git_tags(rootdir: Path) -> dict[str, str]:
    """``mlflow.source.git.*`` for the code under ``rootdir`` (MLflow cannot
    find them in an xdist worker).  Empty outside a git repository."""
    state = git_state(rootdir)
    if not state.commit:
        return {}
    tags = {"mlflow.source.git.commit": state.commit}
    if state.branch:
        tags["mlflow.source.git.branch"] = state.branch
    if state.dirty is not None:
        tags["mlflow.source.git.dirty"] = "true" if state.dirty else "false"
    if state.remote:
        tags["mlflow.source.git.repoURL"] = redact_uri(state.remote)
    return tags


def process_tags(worker: str | None, session_id: str | None) -> dict[str, str]:
    """Python, platform, xdist worker and session id: the same for every run
    this process writes."""
    return {
        "grd.python": platform.python_version(),
        "grd.platform": platform.platform(),
        "grd.worker": worker or "main",
        "grd.session_id": session_id or "",
        "mlflow.source.type": "LOCAL",
    }


def env_tags(allowlist: Iterable[str], environ: Mapping[str, str]) -> dict[str, str]:
    """``grd.env.NAME`` for each allow-listed variable that is set; nothing
    else from the environment is ever logged."""
    return {
        f"grd.env.{name}": environ[name][:MAX_TAG_VALUE]
        for name in allowlist
        if name and name in environ and _KEY.match(f"grd.env.{name}")
    }


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def param_value(value: Any) -> str:
    """A param as MLflow stores it: a string, JSON for containers (not cut:
    a test's own param longer than MLflow's limit is refused at the call)."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, float):
        text = repr(value)
    elif value is None or isinstance(value, (bool, int)):
        text = json.dumps(value) if value is None or isinstance(value, bool) else str(value)
    else:
        try:
            text = json.dumps(value, sort_keys=True, default=repr)
        except (TypeError, ValueError):
            text = repr(value)
    return text


def case_params(record: CaseRecord) -> dict[str, str]:
    """The case's parametrize values (and seed) as MLflow params; a value
    longer than MLflow's limit is cut (nothing called it, so nothing can
    raise; the record keeps it whole)."""
    params = {
        k: _cut(param_value(v), MAX_PARAM_VALUE) for k, v in record.params.items() if _KEY.match(k)
    }
    if record.seed is not None:
        params.setdefault("seed", str(record.seed))
    return params


#: Tags a parent run takes from its cases' runs (the same session and machine).
_SHARED_TAGS = ("grd.python", "grd.platform", "grd.session_id", "mlflow.source.type")


def shared_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags of a case's run that its parent run carries too."""
    return {
        k: v
        for k, v in tags.items()
        if k in _SHARED_TAGS or k.startswith(("mlflow.source.git.", "grd.env."))
    }


def case_tags(record: CaseRecord, location: str = "") -> dict[str, str]:
    """Tags a case's run carries from the moment it opens."""
    tags = {
        "mlflow.runName": record.name,
        "grd.role": ROLE_CASE,
        "grd.name": record.name,
        "grd.hypothesis": record.hypothesis,
        "grd.claim": _cut(record.claim, MAX_TAG_VALUE),
        "grd.nodeid": _cut(record.nodeid, MAX_TAG_VALUE),
        "grd.scale": record.scale,
        "grd.kind": record.kind,
        "mlflow.source.name": _cut(location or record.location or record.nodeid, MAX_TAG_VALUE),
    }
    if record.parent_run_id:
        tags["mlflow.parentRunId"] = record.parent_run_id
    if record.device:
        tags["grd.device"] = record.device
    gpu = record.extra.get("gpu")
    if isinstance(gpu, dict):  # set by the sweep plugin on a GPU worker
        for key in ("index", "name", "memory_mb", "cuda_visible_devices"):
            if gpu.get(key) is not None:
                tags[f"grd.gpu.{key}"] = _cut(str(gpu[key]), MAX_TAG_VALUE)
    return tags


def parent_tags(hypothesis: str, claim: str, scale: str) -> dict[str, str]:
    """Tags of a hypothesis's parent run, set when it is created."""
    return {
        "mlflow.runName": hypothesis,
        "grd.role": ROLE_PARENT,
        "grd.name": hypothesis,
        "grd.hypothesis": hypothesis,
        "grd.claim": _cut(claim, MAX_TAG_VALUE),
        "grd.scale": scale,
    }


def verdict_tags(verdict: str, reason: str) -> dict[str, str]:
    """``grd.verdict`` / ``grd.reason`` (also the run's description in the UI)."""
    reason = _cut(reason, MAX_TAG_VALUE)
    return {
        "grd.verdict": verdict,
        "grd.reason": reason,
        "mlflow.note.content": f"{verdict}: {reason}" if reason else verdict,
    }


def record_tags(record: CaseRecord) -> dict[str, str]:
    """The whole record as JSON in ``grd.record``, or split over
    ``grd.record.0..N-1`` (``grd.record.chunks = N``) when it is longer than
    a tag value may be; nothing when it would need too many tags."""
    return record_dict_tags(record.to_dict())


def record_dict_tags(data: Mapping[str, Any]) -> dict[str, str]:
    """:func:`record_tags` of a record already turned into a dict."""
    text = json.dumps(data, sort_keys=True, default=repr)
    if len(text) <= MAX_TAG_VALUE:
        return {"grd.record": text}
    chunks = [text[i : i + MAX_TAG_VALUE] for i in range(0, len(text), MAX_TAG_VALUE)]
    if len(chunks) > MAX_RECORD_CHUNKS:
        return {"grd.record.chunks": "0"}
    tags = {f"grd.record.{i}": chunk for i, chunk in enumerate(chunks)}
    tags["grd.record.chunks"] = str(len(chunks))
    return tags


def record_from_tags(tags: Mapping[str, str]) -> dict[str, Any] | None:
    """The record dict stored by :func:`record_tags`, or ``None``."""
    whole = tags.get("grd.record")
    if whole is None:
        try:
            count = int(tags.get("grd.record.chunks", "0"))
        except ValueError:
            return None
        if count <= 0:
            return None
        parts = [tags.get(f"grd.record.{i}") for i in range(count)]
        if any(p is None for p in parts):
            return None
        whole = "".join(p for p in parts if p is not None)
    try:
        data = json.loads(whole)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


#: Stats keys whose parent-run metric has a clearer name than the key
#: (a sequential decision's ``lower`` / ``upper`` are its interval, ``ci``).
_STAT_NAMES = {
    "statistic": "test_statistic",
    "than": "threshold",
    "lower": "ci_low",
    "upper": "ci_high",
}
#: Names of the sample sizes in ``n``: one sample, or new versus baseline.
_SAMPLE_NAMES = {1: ("n",), 2: ("n_new", "n_baseline")}


def _stat_metrics(key: str, value: Any) -> dict[str, float] | None:
    """The parent-run metrics of one stats entry, or ``None`` when it is
    not numeric (then it is a tag)."""
    number = _number(value)
    if number is not None:
        return {f"grd.{_STAT_NAMES.get(key, key)}": number}
    if key == "ci" and isinstance(value, (list, tuple)) and len(value) == 2:
        bounds = {
            f"grd.ci_{side}": _number(b) for side, b in zip(("low", "high"), value, strict=True)
        }
        return {k: v for k, v in bounds.items() if v is not None}
    if key == "n" and isinstance(value, (list, tuple)) and len(value) in _SAMPLE_NAMES:
        sizes = [_number(v) for v in value]
        names = _SAMPLE_NAMES[len(value)]
        return {f"grd.{name}": v for name, v in zip(names, sizes, strict=True) if v is not None}
    if key == "effect_size" and isinstance(value, Mapping):
        size = _number(value.get("value"))
        return {"grd.effect_size": size} if size is not None else {}
    return None


def stats_metrics_and_tags(stats: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """A statistical decision as parent-run metrics and tags, each named for
    what it is: numbers are metrics (``grd.p_value``, ``grd.p_adjusted``,
    ``grd.estimate``, ``grd.effect_size``, ``grd.ci_low`` / ``grd.ci_high``,
    ``grd.n`` for one sample or ``grd.n_new`` / ``grd.n_baseline`` for a
    comparison, ``grd.test_statistic``, ``grd.threshold``, ...), everything
    else a tag ``grd.stats.<key>`` (the effect size's measure:
    ``grd.stats.effect_size_measure``), plus the whole dict as JSON in
    ``grd.stats``."""
    metrics: dict[str, float] = {}
    tags: dict[str, str] = {}
    for key, value in stats.items():
        if not _KEY.match(f"grd.stats.{key}"):
            continue
        numbers = _stat_metrics(key, value)
        if numbers is not None:
            metrics.update(numbers)
            if key == "effect_size" and isinstance(value, Mapping) and value.get("name"):
                tags["grd.stats.effect_size_measure"] = _cut(str(value["name"]), MAX_TAG_VALUE)
        elif value is not None:
            text = value if isinstance(value, str) else json.dumps(value, default=repr)
            tags[f"grd.stats.{key}"] = _cut(text, MAX_TAG_VALUE)
    tags["grd.stats"] = _cut(json.dumps(dict(stats), default=repr, sort_keys=True), MAX_TAG_VALUE)
    return metrics, tags


def result_tags(result: HypothesisResult) -> tuple[dict[str, float], dict[str, str]]:
    """Metrics and tags that close a parent run: the rolled-up verdict, its
    reason, cases per verdict (``grd.n_validated``, ``grd.n_rejected``,
    ``grd.n_inconclusive``, ``grd.n_measured``, ``grd.n_not_needed``),
    ``grd.n_cases`` and, when decided by statistics, the stats."""
    counts = result.counts
    metrics = {f"grd.n_{k.lower().replace(' ', '_')}": float(v) for k, v in counts.items()}
    metrics["grd.n_cases"] = float(len(result.cases))
    tags = verdict_tags(result.verdict, result.reason)
    tags["grd.counts"] = json.dumps(counts, sort_keys=True)
    if result.stats:
        stat_metrics, stat_tags = stats_metrics_and_tags(result.stats)
        metrics.update(stat_metrics)
        tags.update(stat_tags)
    return metrics, tags
