"""What a case asks Ray for: parsing, validation and how many workers fit.

Pure logic, no Ray import.  A request is a flat mapping, the names Ray's
``.options()`` takes (``num_cpus``, ``num_gpus``, ``memory``) plus any
custom resource of the cluster (``{"num_gpus": 1, "a100": 1}``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "DEFAULT_REQUEST",
    "ResourceError",
    "Shape",
    "actor_options",
    "describe",
    "parse_resource_lines",
    "parse_resources",
    "shape_of",
    "workers_that_fit",
]

#: Ray's own names for the built-in resources, as a cluster reports them.
BUILTIN = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}
#: What a case gets when neither its marker nor the ini asks for anything.
DEFAULT_REQUEST: Mapping[str, float] = {"num_cpus": 1.0}

#: A request as a hashable, ordered key: cases of one shape share workers.
Shape = tuple[tuple[str, float], ...]


class ResourceError(ValueError):
    """A resource request that Ray could not take; the message names its source."""


def parse_resources(value: Any, where: str) -> dict[str, float]:
    """``{"num_gpus": 1, ...}`` checked: string names, numbers >= 0."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ResourceError(
            f"{where} must map resource names to amounts, e.g. {{'num_gpus': 1}}, "
            f"got {type(value).__name__}"
        )
    out: dict[str, float] = {}
    for name, amount in value.items():
        if not isinstance(name, str) or not name.strip():
            raise ResourceError(f"{where}: resource names must be strings, got {name!r}")
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            raise ResourceError(f"{where}: {name} must be a number, got {amount!r}")
        if not math.isfinite(amount) or amount < 0:
            raise ResourceError(f"{where}: {name} must be a number >= 0, got {amount!r}")
        out[name.strip()] = float(amount)
    return out


def parse_resource_lines(lines: Iterable[str], where: str) -> dict[str, float]:
    """The ini form: one ``name = amount`` per line."""
    raw: dict[str, Any] = {}
    for line in lines:
        name, sep, text = line.partition("=")
        try:
            amount: Any = float(text)
        except ValueError:
            amount = text.strip()
        if not sep or not name.strip():
            raise ResourceError(f"{where}: {line!r} is not 'name = amount'")
        raw[name.strip()] = amount
    return parse_resources(raw, where)


def shape_of(request: Mapping[str, float]) -> Shape:
    """The request with Ray's defaults made explicit (one CPU unless given)."""
    full = {**DEFAULT_REQUEST, **request}
    return tuple(sorted(full.items()))


def actor_options(shape: Shape) -> dict[str, Any]:
    """Keyword arguments for ``ActorClass.options()``."""
    options: dict[str, Any] = {}
    custom: dict[str, float] = {}
    for name, amount in shape:
        if name in BUILTIN:
            options[name] = int(amount) if name == "memory" else amount
        else:
            custom[name] = amount
    if custom:
        options["resources"] = custom
    return options


def workers_that_fit(shape: Shape, totals: Mapping[str, float], cases: int) -> int:
    """How many workers of ``shape`` the cluster's ``totals`` hold at once
    (``ray.cluster_resources()``), never more than there are cases."""
    fit = cases
    for name, amount in shape:
        if amount <= 0:
            continue
        have = float(totals.get(BUILTIN.get(name, name), 0.0))
        fit = min(fit, math.floor(have / amount + 1e-9))
    return max(fit, 0)


def describe(shape: Shape) -> str:
    """``num_cpus=1 num_gpus=1`` for messages."""
    return " ".join(f"{name}={amount:g}" for name, amount in shape)
