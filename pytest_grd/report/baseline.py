"""Baselines: what a project has recorded about its hypotheses, and the
changes a run makes to it.

A baseline file holds, per experiment scale, per hypothesis and per case, the
verdict and the key metrics with the direction that is good and the move that
is tolerated.  :func:`build_baseline` makes one from a run's results,
:func:`compare` lists the :class:`Discrepancy` items between a baseline and a
run.  Pure logic: no pytest import; the pytest glue lives in
:mod:`pytest_grd.report.plugin`.

File format (``format_version`` 1)::

    {
      "format": "pytest-grd-baseline",
      "format_version": 1,
      "scales": {
        "smoke": {
          "saved_at": "2025-01-01T12:00:00+00:00",
          "commit": "0123abc…",
          "hypotheses": {
            "hyp_001": {
              "claim": "…", "verdict": "VALIDATED", "file": "experiments/test_lr.py",
              "cases": {
                "hyp_001[lr=0.1,seed=0]": {
                  "nodeid": "experiments/test_lr.py::test_lr[0.1-seed0]",
                  "verdict": "VALIDATED",
                  "metrics": {"auc": {"value": 0.91, "direction": "higher",
                                       "tolerance": 0.0455}}
                }
              }
            }
          }
        }
      }
    }
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..record import CaseRecord, HypothesisResult
from ..verdict import Verdict

__all__ = [
    "BASELINE_FORMAT",
    "BASELINE_FORMAT_VERSION",
    "DEFAULT_RELATIVE_TOLERANCE",
    "BaselineError",
    "Collection",
    "Comparison",
    "Discrepancy",
    "build_baseline",
    "compare",
    "default_direction",
    "load_baseline",
    "merge_baseline",
    "dump_baseline",
    "metric_rules",
]

BASELINE_FORMAT = "pytest-grd-baseline"
#: Bumped whenever a field changes meaning or disappears.
BASELINE_FORMAT_VERSION = 1
#: Without a declared tolerance a metric may move 5% of its baseline value in
#: the bad direction (an absolute floor keeps zero-valued metrics comparable).
DEFAULT_RELATIVE_TOLERANCE = 0.05
ABSOLUTE_TOLERANCE_FLOOR = 1e-9
#: Metric names that are better when lower, unless the marker says otherwise.
LOWER_IS_BETTER = re.compile(
    r"(loss|error|err$|mse|mae|rmse|perplexity|latency|seconds|duration|time)", re.I
)


class BaselineError(ValueError):
    """A baseline file that cannot be used; the message is one line."""


def default_direction(metric: str) -> str:
    """``"lower"`` for names that read like a loss, an error or a time,
    ``"higher"`` for everything else."""
    return "lower" if LOWER_IS_BETTER.search(metric) else "higher"


def _default_tolerance(value: float) -> float:
    return max(abs(value) * DEFAULT_RELATIVE_TOLERANCE, ABSOLUTE_TOLERANCE_FLOOR)


def metric_rules(record: CaseRecord) -> dict[str, dict[str, Any]]:
    """The key metrics of a case with their resolved direction and absolute
    tolerance: the metrics declared with ``baseline=`` on the marker when it
    declares any, otherwise every logged metric with the defaults."""
    declared = record.baseline or {}
    names = list(declared) if declared else sorted(record.metrics)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        value = record.metrics.get(name)
        if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
            out[name] = {
                "value": None,
                "direction": (declared.get(name) or {}).get("direction") or default_direction(name),
                "tolerance": (declared.get(name) or {}).get("tolerance"),
            }
            continue
        rule = declared.get(name) or {}
        tolerance = rule.get("tolerance")
        out[name] = {
            "value": float(value),
            "direction": rule.get("direction") or default_direction(name),
            "tolerance": float(tolerance)
            if tolerance is not None
            else _default_tolerance(float(value)),
        }
    return out


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _case_keys(cases: Iterable[CaseRecord]) -> dict[str, CaseRecord]:
    """Cases by name (stable across renames of the test function); the node
    id stands in when two cases of a hypothesis share a name."""
    out: dict[str, CaseRecord] = {}
    names = [c.name for c in cases]
    for case in cases:
        key = case.name if names.count(case.name) == 1 else case.nodeid
        out[key] = case
    return out


def build_baseline(
    results: Iterable[HypothesisResult], scale: str, saved_at: str = "", commit: str = ""
) -> dict[str, Any]:
    """The scale section of a baseline file for a run's results."""
    hypotheses: dict[str, Any] = {}
    for result in results:
        cases = {}
        for key, case in _case_keys(result.cases).items():
            cases[key] = {
                "nodeid": case.nodeid,
                "verdict": case.verdict,
                "metrics": metric_rules(case),
            }
        hypotheses[result.id] = {
            "claim": result.claim,
            "verdict": result.verdict,
            "file": _file_of(result.cases[0].nodeid) if result.cases else "",
            "cases": cases,
        }
    return {"saved_at": saved_at, "commit": commit, "scale": scale, "hypotheses": hypotheses}


def merge_baseline(
    existing: Mapping[str, Any] | None,
    section: Mapping[str, Any],
    collection: Collection | None = None,
) -> dict[str, Any]:
    """A baseline file with ``section`` saved at its scale.  Hypotheses of the
    run replace theirs; others recorded at that scale are kept unless they
    no longer exist (see :meth:`Collection.is_gone`); other scales are kept."""
    data: dict[str, Any] = {
        "format": BASELINE_FORMAT,
        "format_version": BASELINE_FORMAT_VERSION,
        "scales": dict((existing or {}).get("scales", {})),
    }
    scale = section["scale"]
    old = data["scales"].get(scale, {}).get("hypotheses", {})
    kept = {
        hid: entry
        for hid, entry in old.items()
        if hid not in section["hypotheses"]
        and not (collection is not None and collection.is_gone(hid, entry.get("file", "")))
    }
    data["scales"][scale] = {**section, "hypotheses": {**kept, **section["hypotheses"]}}
    return data


def dump_baseline(data: Mapping[str, Any]) -> str:
    """The file text: sorted, indented JSON, so that diffs in review are small."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _check(condition: bool, path: Path, what: str) -> None:
    if not condition:
        raise BaselineError(f"baseline {path} is malformed: {what}")


def load_baseline(path: Path) -> dict[str, Any]:
    """Read and validate a baseline file; :class:`BaselineError` names the
    file and the first problem."""
    if not path.is_file():
        raise BaselineError(f"baseline {path} does not exist; record one with --grd-save-baseline")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"baseline {path} cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"baseline {path} is malformed: not JSON ({exc.msg} at line {exc.lineno})"
        ) from None
    if not isinstance(data, dict):
        raise BaselineError(f"baseline {path} is malformed: expected a JSON object")
    _check(data.get("format") == BASELINE_FORMAT, path, f"'format' is not {BASELINE_FORMAT!r}")
    version: Any = data.get("format_version")
    _check(isinstance(version, int), path, "'format_version' is missing")
    if version > BASELINE_FORMAT_VERSION:
        raise BaselineError(
            f"baseline {path} has format_version {version}; this pytest-grd reads "
            f"up to {BASELINE_FORMAT_VERSION}: upgrade pytest-grd"
        )
    scales: Any = data.get("scales")
    _check(isinstance(scales, dict), path, "'scales' must be an object")
    for scale, section in scales.items():
        _check(isinstance(section, dict), path, f"scale {scale!r} must be an object")
        hyps: Any = section.get("hypotheses")
        _check(isinstance(hyps, dict), path, f"scale {scale!r} has no 'hypotheses' object")
        for hid, entry in hyps.items():
            where = f"hypothesis {hid!r} (scale {scale!r})"
            _check(isinstance(entry, dict), path, f"{where} must be an object")
            _check(
                entry.get("verdict") in {v.value for v in Verdict}, path, f"{where}: bad verdict"
            )
            _check(isinstance(entry.get("file", ""), str), path, f"{where}: 'file' is not text")
            cases = entry.get("cases")
            _check(isinstance(cases, dict), path, f"{where}: 'cases' must be an object")
            for key, case in cases.items():
                cw = f"case {key!r} of {where}"
                _check(isinstance(case, dict), path, f"{cw} must be an object")
                _check(
                    case.get("verdict") in {v.value for v in Verdict}, path, f"{cw}: bad verdict"
                )
                metrics = case.get("metrics", {})
                _check(isinstance(metrics, dict), path, f"{cw}: 'metrics' must be an object")
                for name, rule in metrics.items():
                    mw = f"metric {name!r} of {cw}"
                    _check(isinstance(rule, dict), path, f"{mw} must be an object")
                    _check(
                        rule.get("direction") in ("higher", "lower", "equal"),
                        path,
                        f"{mw}: direction must be higher, lower or equal",
                    )
                    for num in ("value", "tolerance"):
                        v = rule.get(num)
                        _check(
                            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)),
                            path,
                            f"{mw}: {num} must be a number",
                        )
    return data


@dataclass
class Collection:
    """What this session collected, to tell a hypothesis that is gone from
    one that was only left out of the run.

    ``collected`` maps every hypothesis id collected (before ``-k``/``-m``
    deselection) to its case names; ``selected`` holds the case names that
    were selected to run; ``roots`` are the paths the session collected from
    (relative to the rootdir, POSIX).  ``known`` is False when nothing is
    known (every xdist worker crashed before reporting).
    """

    collected: dict[str, list[str]] = field(default_factory=dict)
    selected: set[str] = field(default_factory=set)
    roots: list[str] = field(default_factory=lambda: ["."])
    known: bool = True

    def covers(self, file: str) -> bool:
        """Whether ``file`` lies under a path this session collected from:
        a hypothesis recorded there would have been collected if it existed."""
        if not file:
            return True
        path = PurePosixPath(file)
        for root in self.roots:
            if root in ("", "."):
                return True
            r = PurePosixPath(root)
            if path == r or r in path.parents:
                return True
        return False

    def is_gone(self, hid: str, file: str) -> bool:
        """Recorded hypothesis ``hid`` no longer exists: it was not collected
        though its file lies under what the session collected."""
        return self.known and hid not in self.collected and self.covers(file)

    def merge(self, other: Mapping[str, Any]) -> None:
        """Add a worker's collection (as sent through ``workeroutput``)."""
        for hid, names in other.get("collected", {}).items():
            known = self.collected.setdefault(hid, [])
            known.extend(n for n in names if n not in known)
        self.selected.update(other.get("selected", []))

    def to_dict(self) -> dict[str, Any]:
        return {"collected": self.collected, "selected": sorted(self.selected)}


@dataclass
class Discrepancy:
    """One change between the baseline and the run; ``kind`` is one of
    ``flipped``, ``drifted``, ``missing``, ``not-run``."""

    kind: str
    hypothesis: str
    case: str | None
    message: str
    metric: str | None = None
    baseline: Any = None
    current: Any = None

    def line(self) -> str:
        """The terminal line."""
        where = self.case or self.hypothesis
        return f"{self.kind.upper()} {where}: {self.message}"


@dataclass
class Comparison:
    """The result of comparing a run with a baseline."""

    path: str
    scale: str
    discrepancies: list[Discrepancy] = field(default_factory=list)
    #: Hypotheses or cases of the baseline left out of this run, with why.
    skipped: list[str] = field(default_factory=list)
    #: Hypotheses of the run the baseline does not know yet (no failure).
    new: list[str] = field(default_factory=list)
    #: Failed cases (REJECTED, or INCONCLUSIVE by an error) that the baseline
    #: does not record: a baseline run never forgives them.
    unrecorded_failures: list[str] = field(default_factory=list)
    compared_hypotheses: int = 0
    compared_cases: int = 0
    #: hypothesis -> case key -> metric -> baseline value (for plots).
    reference: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Comparison:
        out = cls(**{k: v for k, v in data.items() if k != "discrepancies"})
        out.discrepancies = [Discrepancy(**d) for d in data.get("discrepancies", [])]
        return out


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _metric_change(
    hid: str,
    key: str,
    name: str,
    rule: Mapping[str, Any],
    declared: Mapping[str, Any] | None,
    current: float | None,
) -> Discrepancy | None:
    base = rule.get("value")
    # The marker's declaration at comparison time wins over the saved rule:
    # the test code is where a researcher changes how a metric is judged.
    direction = (declared or {}).get("direction") or rule.get("direction", "higher")
    tolerance = (declared or {}).get("tolerance")
    if tolerance is None:
        tolerance = rule.get("tolerance")
    if tolerance is None:
        tolerance = _default_tolerance(base) if isinstance(base, (int, float)) else 0.0
    if base is None:
        return None  # nothing was recorded to hold the run to
    if current is None or not math.isfinite(current):
        return Discrepancy(
            "drifted",
            hid,
            key,
            f"metric {name} was {_fmt(base)}, now not logged",
            metric=name,
            baseline=base,
            current=None,
        )
    delta = current - base
    bad = (
        (direction == "higher" and delta < -tolerance)
        or (direction == "lower" and delta > tolerance)
        or (direction == "equal" and abs(delta) > tolerance)
    )
    if not bad:
        return None
    return Discrepancy(
        "drifted",
        hid,
        key,
        f"metric {name} {_fmt(base)} -> {_fmt(current)} ({delta:+.4g}; "
        f"{direction} is better, tolerance {_fmt(float(tolerance))})"
        if direction != "equal"
        else f"metric {name} {_fmt(base)} -> {_fmt(current)} ({delta:+.4g}; "
        f"must stay equal within {_fmt(float(tolerance))})",
        metric=name,
        baseline=base,
        current=current,
    )


def compare(
    baseline: Mapping[str, Any],
    results: Iterable[HypothesisResult],
    scale: str,
    collection: Collection,
    path: str = "",
) -> Comparison:
    """Compare a run with the baseline's section for ``scale``.

    Changes that count (each a :class:`Discrepancy`): a hypothesis or case
    verdict that differs from the recorded one, a key metric beyond its
    tolerance in the bad direction, a recorded hypothesis or case that no
    longer exists, and a selected one that did not run.  A REJECTED verdict
    recorded as REJECTED is no change.  Hypotheses and cases left out of the
    run (``-k``, ``-m``, paths) are listed in ``skipped``.
    """
    section = baseline.get("scales", {}).get(scale)
    if section is None:
        raise BaselineError(
            f"baseline {path} has no results at scale {scale!r} "
            f"(it has: {', '.join(sorted(baseline.get('scales', {}))) or 'none'}); "
            f"record them with --grd-scale {scale} --grd-save-baseline"
        )
    out = Comparison(path=path, scale=scale)
    ran = {r.id: r for r in results}
    recorded: Mapping[str, Any] = section.get("hypotheses", {})
    for hid, entry in sorted(recorded.items()):
        result = ran.get(hid)
        if result is None:
            if collection.is_gone(hid, entry.get("file", "")):
                out.discrepancies.append(
                    Discrepancy(
                        "missing",
                        hid,
                        None,
                        f"recorded as {entry['verdict']} in the baseline but no longer exists",
                        baseline=entry["verdict"],
                    )
                )
            elif hid in collection.collected and any(
                n in collection.selected for n in collection.collected[hid]
            ):
                out.discrepancies.append(
                    Discrepancy(
                        "not-run",
                        hid,
                        None,
                        "selected but produced no result",
                        baseline=entry["verdict"],
                    )
                )
            elif not collection.known:
                out.discrepancies.append(
                    Discrepancy(
                        "not-run",
                        hid,
                        None,
                        "no result and no collection information (workers crashed?)",
                        baseline=entry["verdict"],
                    )
                )
            else:
                why = "deselected" if hid in collection.collected else "not selected"
                out.skipped.append(f"{hid}: {why}")
            continue
        out.compared_hypotheses += 1
        if result.verdict != entry["verdict"]:
            out.discrepancies.append(
                Discrepancy(
                    "flipped",
                    hid,
                    None,
                    f"verdict {entry['verdict']} -> {result.verdict}: {result.reason}".rstrip(": "),
                    baseline=entry["verdict"],
                    current=result.verdict,
                )
            )
        current_cases = _case_keys(result.cases)
        collected_names = set(collection.collected.get(hid, []))
        reference: dict[str, dict[str, float]] = {}
        for key, case_entry in sorted(entry.get("cases", {}).items()):
            values = {
                m: r["value"]
                for m, r in case_entry.get("metrics", {}).items()
                if r.get("value") is not None
            }
            if values:
                reference[key] = values
            case = current_cases.get(key)
            if case is None:
                if key in collection.selected:
                    out.discrepancies.append(
                        Discrepancy("not-run", hid, key, "selected but produced no result")
                    )
                elif collection.known and key not in collected_names:
                    out.discrepancies.append(
                        Discrepancy(
                            "missing",
                            hid,
                            key,
                            f"case recorded as {case_entry['verdict']} no longer exists",
                            baseline=case_entry["verdict"],
                        )
                    )
                else:
                    out.skipped.append(f"{key}: deselected")
                continue
            out.compared_cases += 1
            # A case named like its hypothesis (no parameters, no seed) that
            # flipped is the hypothesis's flip, reported once, above.
            same_line = key == hid and result.verdict != entry["verdict"]
            if case.verdict != case_entry["verdict"] and not same_line:
                out.discrepancies.append(
                    Discrepancy(
                        "flipped",
                        hid,
                        key,
                        f"verdict {case_entry['verdict']} -> {case.verdict}"
                        + (f": {case.reason}" if case.reason else ""),
                        baseline=case_entry["verdict"],
                        current=case.verdict,
                    )
                )
            for name, rule in sorted(case_entry.get("metrics", {}).items()):
                if case.baseline and name not in case.baseline:
                    continue  # the marker now names the key metrics, and not this one
                change = _metric_change(
                    hid, key, name, rule, case.baseline.get(name), case.metrics.get(name)
                )
                if change is not None:
                    out.discrepancies.append(change)
        if reference:
            out.reference[hid] = reference
    out.new = sorted(set(ran) - set(recorded))
    for hid, result in sorted(ran.items()):
        known = recorded.get(hid, {}).get("cases", {}) if hid in recorded else {}
        for key, case in sorted(_case_keys(result.cases).items()):
            failed = case.verdict == Verdict.REJECTED.value or (
                case.verdict == Verdict.INCONCLUSIVE.value and case.is_error
            )
            if failed and key not in known:
                out.unrecorded_failures.append(f"{key}: {case.verdict}")
    return out
