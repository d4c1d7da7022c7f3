"""The report's two key/value tables: the session header (when, where and
with what a session ran) and a decision's statistics, each key given a
readable label (no internal key such as ``p_value_against`` shows raw).

Pure logic apart from reading git and package metadata: no pytest import.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from ..gitinfo import git_state as read_git_state
from ..record import CaseRecord
from ..text import redact

__all__ = [
    "PACKAGES",
    "STAT_LABELS",
    "collect_meta",
    "git_state",
    "header_rows",
    "package_versions",
    "stat_label",
    "stats_rows",
]

#: Distributions whose versions the header lists when they are installed.
PACKAGES = (
    "pytest-grd",
    "pytest",
    "pytest-xdist",
    "mlflow",
    "dvc",
    "pandera",
    "papermill",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "torch",
    "jax",
)


def git_state(root: Path) -> dict[str, Any]:
    """The header's ``git`` entry (:meth:`pytest_grd.gitinfo.GitState.header`).

    Kept for ``report/plugin.py``, which imports it; new code reads
    :func:`pytest_grd.gitinfo.git_state` directly."""
    return read_git_state(root).header()


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed versions, read from distribution metadata (nothing imported)."""
    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _devices(records: Iterable[CaseRecord]) -> list[str]:
    seen: list[str] = []
    for record in records:
        for device in (record.device, record.extra.get("gpu"), record.extra.get("gpu_name")):
            if device and str(device) not in seen:
                seen.append(str(device))
    return seen


def collect_meta(
    args: Sequence[str],
    root: Path,
    records: Iterable[CaseRecord] = (),
    scale: str = "full",
    session_id: str = "",
    extra: dict[str, Any] | None = None,
    now: _dt.datetime | None = None,
) -> dict[str, Any]:
    """The header of a report: date, git state, command line, machine,
    devices the cases used, package versions and plugin-provided extras."""
    moment = now or _dt.datetime.now(_dt.UTC)
    return {
        "date": moment.isoformat(timespec="seconds"),
        "command": redact("pytest " + shlex.join(args)) if args else "pytest",
        "rootdir": str(root),
        "git": read_git_state(root).header(),
        "machine": {
            "host": platform.node(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "devices": _devices(records),
        "packages": package_versions(),
        "scale": scale,
        "session_id": session_id,
        "extra": dict(extra or {}),
    }


def header_rows(meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The report's session table: (label, text) rows from :func:`collect_meta`'s
    dict (or a report.json's ``meta``, possibly written by an older version)."""
    from .model import fmt_value

    git = meta.get("git") or {}
    commit = git.get("commit")
    if commit:
        state = " (dirty: uncommitted changes)" if git.get("dirty") else " (clean)"
        branch = f" on {git['branch']}" if git.get("branch") else ""
        git_text = f"{commit[:12]}{branch}{state}"
    else:
        git_text = "not a git repository"
    machine = meta.get("machine") or {}
    if not isinstance(machine, Mapping):  # a report rebuilt from a store: just the host
        machine = {"host": str(machine)}
    machine_text = ", ".join(
        str(x)
        for x in (
            machine.get("host"),
            machine.get("platform"),
            f"Python {machine['python']}" if machine.get("python") else None,
            f"{machine['cpus']} CPUs" if machine.get("cpus") else None,
        )
        if x
    )
    devices = meta.get("devices") or []
    gpus = [d for d in devices if d != "cpu"]
    rows = [
        ("date", str(meta.get("date", ""))),
        ("git commit", git_text),
        ("command", str(meta.get("command", ""))),
        ("machine", machine_text),
        ("GPU", ", ".join(gpus) if gpus else "none used"),
        ("scale", str(meta.get("scale", "full"))),
    ]
    if meta.get("regenerated_from"):
        rows.append(("regenerated from", str(meta["regenerated_from"])))
    for key, value in (meta.get("extra") or {}).items():
        rows.append((str(key), fmt_value(value)))
    return rows


#: Labels of a stats record's keys, in the order the statistics table lists them.
STAT_LABELS = {
    "rule_text": "claim tested",
    "metric": "metric",
    "than": "compared with",
    "alternative": "direction of the claim",
    "test": "test",
    "method": "method",
    "estimate": "estimated effect",
    "ci": "confidence interval of the effect",
    "p_adjusted": "p-value (adjusted)",
    "p_value": "p-value",
    "p_against_adjusted": "p-value against the claim (adjusted)",
    "p_value_against": "p-value against the claim",
    "correction": "multiple-comparison correction",
    "family": "comparison family",
    "family_size": "family size",
    "alpha": "significance level (alpha)",
    "min_effect": "minimum effect",
    "effect_size": "effect size",
    "prob_improvement": "probability of improvement",
    "n": "n",
    "seeds_used": "seeds used",
    "max_seeds": "seeds allowed",
    "seeds_saved": "seeds not needed",
    "decided": "decided within the seeds allowed",
    "mean_new": "mean of this hypothesis",
    "sd_new": "sd of this hypothesis",
    "mean_baseline": "mean of the reference",
    "sd_baseline": "sd of the reference",
    "threshold": "threshold",
    "statistic": "test statistic",
    "df": "degrees of freedom",
    "decision": "decision of the test",
    "decision_rule": "decision rule",
    "suggested_n": "suggested n (seeds per arm)",
    "width_needed": "interval width needed",
    "min_attainable_p": "smallest attainable p-value",
    "refused": "test refused",
    "sigma": "assumed spread (sigma)",
    "paired": "paired by seed",
    "bounds": "metric bounds",
    "n_resamples": "resamples",
    "permutation_type": "permutation type",
    "rule": "rule as written",
}
#: Keys shown elsewhere (the reason, the interval, the plot) or only internal.
_HIDDEN = frozenset(("confidence", "history", "lower", "upper", "verdict", "reason"))
_HIDDEN |= {"unit", "vectorized", "sequential"}
_CORRECTIONS = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "none"}
_EFFECT_SIZES = {"hedges_g": "Hedges' g", "cohens_d": "Cohen's d"}


def stat_label(key: str, stats: Mapping[str, Any]) -> str:
    """The readable label of one key of ``stats`` (unknown keys: underscores
    to spaces)."""
    label = STAT_LABELS.get(key) or key.replace("_", " ").strip() or "value"
    correction = _CORRECTIONS.get(str(stats.get("correction")), "")
    if key in ("p_adjusted", "p_against_adjusted") and correction not in ("", "none"):
        return label.replace("(adjusted)", f"({correction}-adjusted)")
    level = stats.get("confidence")
    if key == "ci" and isinstance(level, (int, float)):
        if stats.get("sequential"):
            return f"{level:.0%} anytime-valid confidence sequence of the effect"
        return f"{level:.0%} {label}"
    effect_size = stats.get("effect_size")
    if key == "effect_size" and isinstance(effect_size, Mapping) and effect_size.get("name"):
        name = str(effect_size["name"])
        return f"{label} ({_EFFECT_SIZES.get(name, name.replace('_', ' '))})"
    if key == "n" and stats.get("unit"):
        return f"n ({stats['unit']})"
    return label


def _stat_text(key: str, value: Any) -> str:
    from ..stats.rules import TEST_NAMES
    from .model import fmt_value

    if key == "test":
        return (
            "anytime-valid sequential test"
            if value == "sequential"
            else TEST_NAMES.get(str(value), str(value))
        )
    if key == "correction":
        return _CORRECTIONS.get(str(value), str(value))
    if key == "effect_size" and isinstance(value, Mapping):
        return fmt_value(value.get("value"))
    if key == "n" and isinstance(value, (list, tuple)):
        return " vs ".join(fmt_value(v) for v in value)
    return fmt_value(value)


def stats_rows(stats: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The statistics table of a decided hypothesis: (label, text) rows in
    :data:`STAT_LABELS` order, unknown keys after; empty values left out."""
    if not stats:
        return []
    order = {key: i for i, key in enumerate(STAT_LABELS)}
    keys = sorted(
        (k for k in stats if k not in _HIDDEN and stats[k] not in (None, "", [], {})),
        key=lambda k: order.get(k, len(order)),
    )
    return [(stat_label(k, stats), _stat_text(k, stats[k])) for k in keys]
