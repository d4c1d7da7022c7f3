"""The one record type that describes a case, and the hypothesis roll-up.

A :class:`CaseRecord` is plain JSON data.  It is built where the case ran,
travels to the xdist controller on the test report, and is what the summary,
the MLflow parent runs, the statistics, the report and the baseline consume.
Pure logic: no pytest import.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .verdict import Verdict, roll_up

__all__ = [
    "LINEAGE_KEYS",
    "RECORD_SCHEMA_VERSION",
    "CaseRecord",
    "HypothesisResult",
    "case_name",
    "finite_json",
    "jsonable",
    "junit_properties",
    "group_by_hypothesis",
]

#: The count key of seeds a sequential decision did not need.
NOT_NEEDED = "NOT NEEDED"

#: Bumped whenever a field changes meaning or disappears (additions keep it).
RECORD_SCHEMA_VERSION = 1

#: The keys of one ``CaseRecord.lineage`` entry (one data access), in display order.
LINEAGE_KEYS = (
    "target",
    "path",
    "rev_requested",
    "rev_resolved",
    "md5",
    "size",
    "source",
    "versioned",
    "schema",
    "validation",
    "context",
)


def finite_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its name (``"nan"``,
    ``"inf"``, ``"-inf"``, as :func:`jsonable` writes them), so that it dumps
    as strict JSON; containers are copied, everything else kept."""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def jsonable(value: Any) -> Any:
    """A JSON-safe rendering of a parameter value: JSON scalars as they are,
    containers element-wise, anything else by its ``repr``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars, without importing numpy
    if callable(item):
        try:
            return jsonable(item())
        except (TypeError, ValueError):
            pass
    return repr(value)


#: Values ``dataclasses.asdict`` would hand back unchanged (``deepcopy`` of
#: an immutable builtin is the value itself).
_ATOMIC: frozenset[type] = frozenset({str, int, float, bool, type(None), bytes, complex})


@dataclass
class _Boxed:
    value: Any


def _copied(value: Any) -> Any:
    """``value`` as ``dataclasses.asdict`` renders a field's value, without
    its cost on the plain data records hold: builtin containers rebuilt
    (tuples stay tuples), immutable builtins shared.  Anything else (a
    nested dataclass, a namedtuple, a dict subclass, a NumPy value) goes
    through ``asdict`` itself, so the result is the same in every case."""
    kind = type(value)
    if kind in _ATOMIC:
        return value
    if kind is dict:
        return {
            (k if type(k) in _ATOMIC else _copied(k)): (v if type(v) in _ATOMIC else _copied(v))
            for k, v in value.items()
        }
    if kind is list:
        return [v if type(v) in _ATOMIC else _copied(v) for v in value]
    if kind is tuple:
        return tuple([v if type(v) in _ATOMIC else _copied(v) for v in value])
    return asdict(_Boxed(value))["value"]


def _fmt_param(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return str(jsonable(value))


def junit_properties(record: CaseRecord) -> list[tuple[str, str]]:
    """The properties a case's JUnit ``<testcase>`` carries (from its
    teardown report): hypothesis, verdict, reason, run id, and the run key
    the session's writer tags the run with (the id is known in the case
    only when its run was live)."""
    props = [
        ("grd.hypothesis", record.hypothesis),
        ("grd.verdict", record.verdict.value),
        ("grd.reason", record.reason),
        ("grd.run_id", record.run_id or ""),
    ]
    if record.extra.get("run_key"):
        props.append(("grd.run_key", str(record.extra["run_key"])))
    return props


def case_name(hypothesis: str, params: Mapping[str, Any], seed: int | None = None) -> str:
    """The readable name of a case: ``hyp_001[lr=0.01,seed=3]``."""
    parts = [f"{k}={_fmt_param(v)}" for k, v in params.items() if k != "grd_seed"]
    if seed is not None:
        parts.append(f"seed={seed}")
    return f"{hypothesis}[{','.join(parts)}]" if parts else hypothesis


@dataclass(slots=True)
class CaseRecord:
    """Everything known about one case (one sweep point, one seed).

    Fields a later stage fills in (``run_id``, ``lineage``, ``stats``) start
    empty.  ``metrics`` holds the last value logged per metric name.
    """

    hypothesis: str
    nodeid: str
    name: str
    claim: str = ""
    kind: str = "function"
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    verdict: Verdict = Verdict.INCONCLUSIVE
    reason: str = ""
    outcome: str = ""
    is_error: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    started_at: float = 0.0
    duration: float = 0.0
    worker: str | None = None
    session_id: str | None = None
    run_id: str | None = None
    parent_run_id: str | None = None
    experiment_id: str | None = None
    tracking_uri: str | None = None
    lineage: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] | None = None
    decide: dict[str, Any] | None = None
    baseline: dict[str, dict[str, Any]] = field(default_factory=dict)
    scale: str = "full"
    device: str | None = None
    artifacts: list[str] = field(default_factory=list)
    location: str = ""
    #: How many cases of this hypothesis were collected, before ``-k`` / ``-m``
    #: / ``--lf`` deselection: a verdict on fewer is a verdict on part of the
    #: evidence (0: unknown, as in records written before 0.2).
    hypothesis_cases: int = 0
    #: The multiple-comparison family of a decided hypothesis and its size,
    #: fixed by the code (not by selection); see ``pytest_grd.stats.decide``.
    family: str = ""
    family_size: int = 0
    #: ``seeds="auto"``: the seeds run in order until the decision is made;
    #: a case started after it is ``not_needed`` (and proves nothing).
    sequential: bool = False
    min_seeds: int = 0
    not_needed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    schema_version: int = RECORD_SCHEMA_VERSION

    def __post_init__(self) -> None:
        if type(self.verdict) is not Verdict:  # records read back carry the string
            self.verdict = Verdict(self.verdict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict of every field (the verdict as its plain
        string: execnet, which carries reports from xdist workers, sends only
        builtin types).

        The same dict as ``dataclasses.asdict`` gives, field by field: every
        case builds it (twice), and ``asdict`` deep-copies each value through
        ``copy.deepcopy``, which made it most of pytest-grd's cost per case.
        Containers are copied (the record goes on changing after its report
        is sent); immutable values are shared."""
        return {
            "hypothesis": self.hypothesis,
            "nodeid": self.nodeid,
            "name": self.name,
            "claim": self.claim,
            "kind": self.kind,
            "params": _copied(self.params),
            "seed": self.seed,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "outcome": self.outcome,
            "is_error": self.is_error,
            "metrics": _copied(self.metrics),
            "started_at": self.started_at,
            "duration": self.duration,
            "worker": self.worker,
            "session_id": self.session_id,
            "run_id": self.run_id,
            "parent_run_id": self.parent_run_id,
            "experiment_id": self.experiment_id,
            "tracking_uri": self.tracking_uri,
            "lineage": _copied(self.lineage),
            "stats": _copied(self.stats),
            "decide": _copied(self.decide),
            "baseline": _copied(self.baseline),
            "scale": self.scale,
            "device": self.device,
            "artifacts": _copied(self.artifacts),
            "location": self.location,
            "hypothesis_cases": self.hypothesis_cases,
            "family": self.family,
            "family_size": self.family_size,
            "sequential": self.sequential,
            "min_seeds": self.min_seeds,
            "not_needed": self.not_needed,
            "extra": _copied(self.extra),
            "schema_version": self.schema_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseRecord:
        """Rebuild a record; unknown keys (from a newer writer) are kept in ``extra``."""
        names = _FIELD_NAMES
        if data.keys() <= names:  # every record this version wrote
            return cls(**data)
        known = {k: v for k, v in data.items() if k in names}
        record = cls(**known)
        unknown = {k: v for k, v in data.items() if k not in names}
        if unknown:
            record.extra = {**record.extra, **unknown}
        return record

    def comparable(self) -> dict[str, Any]:
        """The fields that must agree between a serial and a parallel run of
        the same sweep (no timings, worker, run ids or session)."""
        d = self.to_dict()
        for volatile in (
            "started_at",
            "duration",
            "worker",
            "session_id",
            "run_id",
            "parent_run_id",
            "experiment_id",
            "device",
            "artifacts",
        ):
            d.pop(volatile, None)
        # Which GPU (or Ray node) a case got depends on the worker it landed
        # on; the run key names the session.
        d["extra"] = {k: v for k, v in d["extra"].items() if k not in ("gpu", "ray", "run_key")}
        return d


#: Every field of a record, computed once (``fields()`` walks the class each call).
_FIELD_NAMES = frozenset(f.name for f in fields(CaseRecord))


@dataclass
class HypothesisResult:
    """The verdict of one hypothesis, rolled up over its cases or decided by
    its statistical rule."""

    id: str
    claim: str
    verdict: Verdict
    reason: str
    cases: list[CaseRecord]
    stats: dict[str, Any] | None = None
    parent_run_id: str | None = None
    #: Set when not every collected case ran ("interrupted: 2 of 8 cases
    #: ran"): such a hypothesis is never VALIDATED.
    partial: str = ""

    def __post_init__(self) -> None:
        self.verdict = Verdict(self.verdict)  # results read back carry the string

    @property
    def collected(self) -> int:
        """Cases collected for this hypothesis before deselection (at least
        the cases that ran)."""
        return max([len(self.cases), *(c.hypothesis_cases for c in self.cases)])

    @property
    def decided(self) -> bool:
        """Whether a statistical rule (``decide=``) makes this verdict."""
        return any(c.decide for c in self.cases)

    @property
    def has_own_result(self) -> bool:
        """Whether the verdict is made across cases (a decision rule, or the
        roll-up of several cases) and so gets a pytest result of its own."""
        return self.decided or self.collected > 1

    @property
    def evidence(self) -> list[CaseRecord]:
        """The cases that ran (not those a sequential decision did not need)."""
        return [c for c in self.cases if not c.not_needed]

    @property
    def counts(self) -> dict[str, int]:
        """Cases per verdict word, and ``"NOT NEEDED"`` for seeds a
        sequential decision did not run."""
        out = {v.value: 0 for v in Verdict}
        for case in self.cases:
            key = NOT_NEEDED if case.not_needed else case.verdict.value
            out[key] = out.get(key, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "claim": self.claim,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "counts": self.counts,
            "stats": self.stats,
            "parent_run_id": self.parent_run_id,
            "collected": self.collected,
            "partial": self.partial,
            "cases": [c.nodeid for c in self.cases],
        }


def _roll_up_reason(cases: list[CaseRecord], verdict: Verdict) -> str:
    if not cases:
        return "no cases ran"
    if len(cases) == 1:  # one case: its own reason says it best
        return cases[0].reason or ("validated" if verdict is Verdict.VALIDATED else str(verdict))
    if verdict is Verdict.VALIDATED:
        return f"all {len(cases)} case(s) validated"
    if verdict is Verdict.REJECTED:
        rejected = [c for c in cases if c.verdict == Verdict.REJECTED]
        first = rejected[0]
        return (
            f"{len(rejected)} of {len(cases)} case(s) rejected; first: {first.name}: {first.reason}"
        )
    inconclusive = [c for c in cases if c.verdict == Verdict.INCONCLUSIVE]
    if not inconclusive:  # evidence only (MEASURED): a decision must say more
        return f"{len(cases)} case(s) measured; no decision rule made a verdict of them"
    first = inconclusive[0]
    return (
        f"{len(inconclusive)} of {len(cases)} case(s) inconclusive; "
        f"first: {first.name}: {first.reason}"
    )


def group_by_hypothesis(records: Iterable[CaseRecord]) -> list[HypothesisResult]:
    """Roll case records up into one result per hypothesis, in first-seen order,
    cases sorted by node id so that serial and parallel runs agree."""
    groups: dict[str, list[CaseRecord]] = {}
    for record in records:
        groups.setdefault(record.hypothesis, []).append(record)
    results = []
    for hid, cases in groups.items():
        cases.sort(key=lambda c: c.nodeid)
        ran = [c for c in cases if not c.not_needed]
        verdict = roll_up(c.verdict for c in ran)
        claim = next((c.claim for c in cases if c.claim), "")
        parent = next((c.parent_run_id for c in cases if c.parent_run_id), None)
        results.append(
            HypothesisResult(
                id=hid,
                claim=claim,
                verdict=verdict,
                reason=_roll_up_reason(ran, verdict),
                cases=cases,
                # A one-case hypothesis decided in its body by grd.assert_greater
                # (or less) speaks for the hypothesis with its statistics.
                stats=cases[0].stats if len(cases) == 1 else None,
                parent_run_id=parent,
            )
        )
    results.sort(key=lambda r: r.id)
    return results
