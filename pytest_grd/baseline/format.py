"""The baseline file: what a project has recorded about its hypotheses.

A baseline file holds, per experiment scale, per hypothesis and per case, the
verdict and the key metrics with the direction that is good and the move that
is tolerated (see :mod:`pytest_grd.baseline.rules`).  :func:`build_baseline`
makes a scale section from a run's results, :func:`merge_baseline` saves it
into a file's data, :func:`dump_baseline` and :func:`load_baseline` write and
read (and validate) the text.  Pure logic: no pytest import.

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
              "stats": {"estimate": 0.02, "ci": [0.01, 0.03], "p_value": 0.004,
                        "p_adjusted": 0.012},
              "cases": {
                "hyp_001[lr=0.1,seed=0]": {
                  "nodeid": "experiments/test_lr.py::test_lr[0.1-seed0]",
                  "verdict": "VALIDATED",
                  "metrics": {"auc": {"value": 0.91, "direction": "higher",
                                       "tolerance": 0.005}}
                }
              }
            }
          }
        }
      }
    }

``stats`` (optional; files written before it have none) keeps the numbers of
a statistical decision (see :mod:`pytest_grd.baseline.decisions`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..verdict import Verdict
from .decisions import decision_problem, decision_stats
from .rules import metric_rules

if TYPE_CHECKING:
    from ..record import CaseRecord, HypothesisResult
    from .collection import Collection
    from .rules import Tolerances

__all__ = [
    "BASELINE_FORMAT",
    "BASELINE_FORMAT_VERSION",
    "BaselineError",
    "build_baseline",
    "case_keys",
    "dump_baseline",
    "load_baseline",
    "merge_baseline",
]

BASELINE_FORMAT = "pytest-grd-baseline"
#: Bumped whenever a field changes meaning or disappears.
BASELINE_FORMAT_VERSION = 1
_VERDICTS = frozenset(v.value for v in Verdict)
_DIRECTIONS = ("higher", "lower", "equal")


class BaselineError(ValueError):
    """A baseline file that cannot be used; the message is one line."""


# -- writing -------------------------------------------------------------------


def case_keys(cases: Sequence[CaseRecord]) -> dict[str, CaseRecord]:
    """Cases by name (stable across renames of the test function); the node
    id stands in when two cases of a hypothesis share a name."""
    counts = Counter(case.name for case in cases)
    return {(case.name if counts[case.name] == 1 else case.nodeid): case for case in cases}


def build_baseline(
    results: Iterable[HypothesisResult],
    scale: str,
    saved_at: str = "",
    commit: str = "",
    tolerances: Tolerances | None = None,
) -> dict[str, Any]:
    """The scale section of a baseline file for a run's results
    (``tolerances``: ini ``grd_baseline_tolerances``)."""
    hypotheses: dict[str, Any] = {}
    for result in results:
        cases = {
            key: {
                "nodeid": case.nodeid,
                "verdict": case.verdict,
                "metrics": metric_rules(case, tolerances),
            }
            for key, case in case_keys(result.cases).items()
        }
        entry: dict[str, Any] = {
            "claim": result.claim,
            "verdict": result.verdict,
            "file": result.cases[0].nodeid.split("::", 1)[0] if result.cases else "",
            "cases": cases,
        }
        stats = decision_stats(result.stats)
        if stats:
            entry["stats"] = stats
        hypotheses[result.id] = entry
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


# -- reading -------------------------------------------------------------------


def load_baseline(path: Path) -> dict[str, Any]:
    """Read and validate a baseline file; :class:`BaselineError` names the
    file and the first problem."""
    data = _read_json(path)
    _check_header(path, data)
    for scale, section in data["scales"].items():
        _check_scale(path, scale, section)
    return data


def _read_json(path: Path) -> dict[str, Any]:
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
    return data


def _check(condition: bool, path: Path, what: str) -> None:
    if not condition:
        raise BaselineError(f"baseline {path} is malformed: {what}")


def _check_header(path: Path, data: Mapping[str, Any]) -> None:
    _check(data.get("format") == BASELINE_FORMAT, path, f"'format' is not {BASELINE_FORMAT!r}")
    version: Any = data.get("format_version")
    _check(isinstance(version, int), path, "'format_version' is missing")
    if version > BASELINE_FORMAT_VERSION:
        raise BaselineError(
            f"baseline {path} has format_version {version}; this pytest-grd reads "
            f"up to {BASELINE_FORMAT_VERSION}: upgrade pytest-grd"
        )
    _check(isinstance(data.get("scales"), dict), path, "'scales' must be an object")


def _check_scale(path: Path, scale: str, section: Any) -> None:
    _check(isinstance(section, dict), path, f"scale {scale!r} must be an object")
    hypotheses: Any = section.get("hypotheses")
    _check(isinstance(hypotheses, dict), path, f"scale {scale!r} has no 'hypotheses' object")
    for hid, entry in hypotheses.items():
        _check_hypothesis(path, f"hypothesis {hid!r} (scale {scale!r})", entry)


def _check_hypothesis(path: Path, where: str, entry: Any) -> None:
    _check(isinstance(entry, dict), path, f"{where} must be an object")
    _check(entry.get("verdict") in _VERDICTS, path, f"{where}: bad verdict")
    _check(isinstance(entry.get("file", ""), str), path, f"{where}: 'file' is not text")
    if "stats" in entry:
        problem = decision_problem(entry["stats"])
        _check(problem is None, path, f"{where}: {problem}")
    cases: Any = entry.get("cases")
    _check(isinstance(cases, dict), path, f"{where}: 'cases' must be an object")
    for key, case in cases.items():
        _check_case(path, f"case {key!r} of {where}", case)


def _check_case(path: Path, where: str, case: Any) -> None:
    _check(isinstance(case, dict), path, f"{where} must be an object")
    _check(case.get("verdict") in _VERDICTS, path, f"{where}: bad verdict")
    metrics: Any = case.get("metrics", {})
    _check(isinstance(metrics, dict), path, f"{where}: 'metrics' must be an object")
    for name, rule in metrics.items():
        _check_rule(path, f"metric {name!r} of {where}", rule)


def _check_rule(path: Path, where: str, rule: Any) -> None:
    _check(isinstance(rule, dict), path, f"{where} must be an object")
    _check(
        rule.get("direction") in _DIRECTIONS,
        path,
        f"{where}: direction must be higher, lower or equal",
    )
    for field in ("value", "tolerance"):
        v = rule.get(field)
        _check(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)),
            path,
            f"{where}: {field} must be a number",
        )
