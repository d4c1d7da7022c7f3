"""The ``@pytest.mark.hypothesis`` marker: parsing and validation.

Pure logic: the pytest layer hands over a marker's ``args`` and ``kwargs``
and gets back a :class:`HypothesisSpec` or a :class:`MarkerError` whose
message is one line a researcher can act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HypothesisSpec", "MarkerError", "parse_marker", "ID_PATTERN", "is_experiment_marker"]

ID_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")

#: Keyword arguments the marker accepts; anything else is a typo worth reporting.
KNOWN_KWARGS = (
    "id",
    "claim",
    "seeds",
    "max_seeds",
    "min_seeds",
    "decide",
    "baseline",
    "allow_nonfinite",
    "resources",
)
#: Smallest number of seeds a sequential decision looks at by default.
DEFAULT_MIN_SEEDS = 3

#: Directions a tracked metric can have in a baseline.
DIRECTIONS = ("higher", "lower", "equal")


class MarkerError(ValueError):
    """A malformed ``hypothesis`` marker."""


@dataclass(frozen=True)
class HypothesisSpec:
    """What a researcher declared on the marker.

    ``baseline`` maps a metric name to ``{"direction": ..., "tolerance": ...}``:
    how a baseline check judges that metric (see the README, "Baselines").
    ``decide`` is the serialized cross-case decision rule (see
    :mod:`pytest_grd.stats`), or ``None`` when the verdict is the roll-up.
    """

    id: str
    claim: str = ""
    seeds: int | None = None
    decide: dict[str, Any] | None = None
    baseline: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Whether NaN / inf metric values are legitimate evidence here (by
    #: default they make the case INCONCLUSIVE: a diverged run proves nothing).
    allow_nonfinite: bool = False
    #: ``seeds="auto"``: seeds run in order and stop once the decision is
    #: made (``seeds`` then holds ``max_seeds``); at least ``min_seeds`` run.
    sequential: bool = False
    min_seeds: int = 0
    #: What a case asks a Ray cluster for (``--grd-ray``), e.g. ``{"num_gpus": 1}``.
    resources: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "claim": self.claim,
            "seeds": self.seeds,
            "decide": self.decide,
            "baseline": self.baseline,
            "allow_nonfinite": self.allow_nonfinite,
            "sequential": self.sequential,
            "min_seeds": self.min_seeds,
            "resources": self.resources,
        }


def is_experiment_marker(args: Sequence[Any], kwargs: Mapping[str, Any]) -> bool:
    """A bare ``hypothesis`` marker (the Hypothesis library puts one on every
    ``@given`` test) is not an experiment; one with arguments is."""
    return bool(args) or bool(kwargs)


def _parse_baseline(value: Any) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MarkerError(
            "baseline= must map metric names to a direction ('higher', 'lower', 'equal') "
            f"or to {{'direction': ..., 'tolerance': ...}}, got {type(value).__name__}"
        )
    out: dict[str, dict[str, Any]] = {}
    for metric, rule in value.items():
        if not isinstance(metric, str):
            raise MarkerError(f"baseline= metric names must be strings, got {metric!r}")
        if isinstance(rule, str):
            rule = {"direction": rule}
        if not isinstance(rule, Mapping):
            raise MarkerError(f"baseline rule for {metric!r} must be a direction or a dict")
        direction = rule.get("direction", "higher")
        if direction not in DIRECTIONS:
            raise MarkerError(
                f"baseline direction for {metric!r} must be one of {', '.join(DIRECTIONS)}, "
                f"got {direction!r}"
            )
        tolerance = rule.get("tolerance")
        if tolerance is not None and (
            isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance < 0
        ):
            raise MarkerError(f"baseline tolerance for {metric!r} must be a number >= 0")
        unknown = set(rule) - {"direction", "tolerance"}
        if unknown:
            raise MarkerError(f"baseline rule for {metric!r} has unknown keys: {sorted(unknown)}")
        out[metric] = {"direction": direction, "tolerance": tolerance}
    return out


def parse_marker(args: Sequence[Any], kwargs: Mapping[str, Any]) -> HypothesisSpec:
    """Validate a marker's arguments and return the declared hypothesis."""
    unknown = [k for k in kwargs if k not in KNOWN_KWARGS]
    if unknown:
        raise MarkerError(
            f"hypothesis marker got unknown argument(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(KNOWN_KWARGS)}"
        )
    if len(args) > 1:
        raise MarkerError(
            "hypothesis marker takes one positional argument (the id); "
            'pass the claim as claim="..."'
        )
    if args and "id" in kwargs:
        raise MarkerError("hypothesis marker got the id twice (positional and id=)")
    if not args and "id" not in kwargs:
        raise MarkerError(
            'hypothesis marker needs an id: @pytest.mark.hypothesis("hyp_001", claim="...")'
        )
    hid = args[0] if args else kwargs["id"]
    if not isinstance(hid, str):
        raise MarkerError(f"hypothesis id must be a string, got {type(hid).__name__} {hid!r}")
    if not ID_PATTERN.fullmatch(hid):
        raise MarkerError(
            f"hypothesis id {hid!r} is not valid: it must start with a letter and contain "
            "only letters, digits, '_', '.' and '-'"
        )
    claim = kwargs.get("claim", "")
    if not isinstance(claim, str):
        raise MarkerError(f"claim= must be a string, got {type(claim).__name__}")
    seeds, sequential, min_seeds = _parse_seeds(kwargs)
    decide = kwargs.get("decide")
    if decide is not None:
        to_dict = getattr(decide, "to_dict", None)
        if not callable(to_dict):
            raise MarkerError(
                "decide= takes a decision rule such as grd.greater('auc', than=0.9), "
                f"got {type(decide).__name__}"
            )
        decide = to_dict()
        if sequential and decide.get("bounds") is None and decide.get("sigma") is None:
            raise MarkerError(
                "seeds='auto' decides with an anytime-valid confidence sequence, which needs "
                "the rule's assumptions: bounds=(lo, hi) for a bounded metric such as "
                "accuracy, or sigma= (the sub-Gaussian scale of the per-seed effect), e.g. "
                "grd.greater('acc', than=0.9, bounds=(0, 1))"
            )
    allow_nonfinite = kwargs.get("allow_nonfinite", False)
    if not isinstance(allow_nonfinite, bool):
        raise MarkerError(f"allow_nonfinite= must be True or False, got {allow_nonfinite!r}")
    from .ray.resources import ResourceError, parse_resources

    try:
        resources = parse_resources(kwargs.get("resources"), "resources=")
    except ResourceError as exc:
        raise MarkerError(str(exc)) from None
    return HypothesisSpec(
        id=hid,
        claim=claim,
        seeds=seeds,
        decide=decide,
        baseline=_parse_baseline(kwargs.get("baseline")),
        allow_nonfinite=allow_nonfinite,
        sequential=sequential,
        min_seeds=min_seeds,
        resources=resources,
    )


def _positive(kwargs: Mapping[str, Any], name: str) -> int | None:
    value = kwargs.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise MarkerError(f"{name}= must be a positive integer, got {value!r}")
    return value


def _parse_seeds(kwargs: Mapping[str, Any]) -> tuple[int | None, bool, int]:
    """``seeds=N`` (fixed), or ``seeds="auto"`` with ``max_seeds`` (and
    ``min_seeds``): (seeds to collect, sequential, min_seeds)."""
    seeds = kwargs.get("seeds")
    if seeds != "auto":
        if "max_seeds" in kwargs or "min_seeds" in kwargs:
            raise MarkerError("max_seeds= and min_seeds= go with seeds='auto'")
        return _positive(kwargs, "seeds"), False, 0
    max_seeds = _positive(kwargs, "max_seeds")
    if max_seeds is None or max_seeds < 2:
        raise MarkerError("seeds='auto' needs max_seeds=N (2 or more): the most seeds to run")
    min_seeds = _positive(kwargs, "min_seeds") or min(DEFAULT_MIN_SEEDS, max_seeds)
    if min_seeds > max_seeds:
        raise MarkerError(f"min_seeds={min_seeds} is more than max_seeds={max_seeds}")
    return max_seeds, True, min_seeds
