"""Which notebooks are hypotheses, what they declare, and the cases they expand to.

Pure logic (no pytest, no jupytext): collection calls :func:`sniff` on every
``.py`` and ``.ipynb`` file under the collected paths, so it must be cheap.  A
``.py`` file is only read past its first lines when they open a jupytext
header, and only parsed (with PyYAML, as jupytext does) when that header has a
``grd:`` key; an ``.ipynb`` file is only parsed when its text mentions
``"grd"``.

The ``grd`` metadata of a notebook::

    grd:
      hypothesis: hyp_003          # required, like the marker's id
      claim: "..."                 # optional
      parameters: {lr: [0.1, 0.01]}  # optional: name -> list of values (or one value)
      seeds: 3                     # optional: seeds grd_seed_base .. +2
      timeout: 120                 # optional: per-cell timeout in seconds
      kernel: python3              # optional: overrides ini grd_kernel
      baseline: {acc: higher}      # optional: as the marker's baseline=
"""

from __future__ import annotations

import itertools
import json
import keyword
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "NotebookCase",
    "NotebookError",
    "NotebookSpec",
    "case_id",
    "expand_cases",
    "parse_grd_metadata",
    "sniff",
]

#: Keys the ``grd`` metadata accepts; anything else is a typo worth reporting.
KNOWN_KEYS = ("hypothesis", "claim", "parameters", "seeds", "timeout", "kernel", "baseline")
#: Parameter names the plugin injects itself.
RESERVED_PREFIX = "grd_"
#: How far into a ``.py`` file a jupytext header may run.
MAX_HEADER_LINES = 400

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SAFE_ID_VALUE = re.compile(r"[A-Za-z0-9_.+]{1,32}")


class NotebookError(ValueError):
    """A notebook that declares itself a hypothesis but cannot be read as one.

    ``line`` (1-based) points into the notebook file where known.
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class NotebookSpec:
    """What a notebook's ``grd`` metadata declares (validated)."""

    hypothesis: str
    claim: str = ""
    parameters: dict[str, list[Any]] = field(default_factory=dict)
    seeds: int | None = None
    timeout: float | None = None
    kernel: str | None = None
    baseline: dict[str, Any] | None = None
    #: 1-based line of the ``grd`` metadata in the file (for messages).
    line: int = 1
    #: ``"py"`` (jupytext percent/light text) or ``"ipynb"``.
    format: str = "ipynb"


@dataclass(frozen=True)
class NotebookCase:
    """One case of a notebook hypothesis: a parameter combination and a seed."""

    id: str
    params: dict[str, Any]
    seed: int | None


# -- sniffing ----------------------------------------------------------------


def sniff(path: Path) -> NotebookSpec | None:
    """The hypothesis a notebook file declares, ``None`` for any other file.

    Raises :class:`NotebookError` for a file that clearly means to be a
    hypothesis notebook but is malformed.
    """
    if path.suffix == ".py":
        return _sniff_py(path)
    if path.suffix == ".ipynb":
        return _sniff_ipynb(path)
    return None


def _jupytext_header(path: Path) -> tuple[list[str], int] | None:
    """The commented lines of a jupytext YAML header and the 1-based line of
    its first content line, or ``None`` when the file does not open with one."""
    try:
        fh = path.open(encoding="utf-8", errors="replace")
    except OSError:
        return None
    with fh:
        lineno = 0
        first = fh.readline()
        lineno += 1
        # jupytext keeps a shebang or an encoding line above the header.
        while first.startswith("#!") or re.match(r"#.*coding[:=]", first):
            first = fh.readline()
            lineno += 1
        if first.rstrip() != "# ---":
            return None
        start = lineno + 1
        lines: list[str] = []
        for line in fh:
            lineno += 1
            stripped = line.rstrip("\r\n")
            if stripped.rstrip() == "# ---":
                return lines, start
            if lineno > MAX_HEADER_LINES:
                break
            lines.append(stripped)
        if any(re.match(r"#\s+grd\s*:", x) for x in lines):
            raise NotebookError("jupytext header is not closed by a '# ---' line", line=start - 1)
        return None


def _sniff_py(path: Path) -> NotebookSpec | None:
    if path.name == "conftest.py":
        return None
    found = _jupytext_header(path)
    if found is None:
        return None
    lines, start = found
    grd_lines = [i for i, x in enumerate(lines) if re.match(r"#\s+grd\s*:", x)]
    if not grd_lines:
        return None
    grd_line = start + grd_lines[0]
    text_lines = []
    for offset, line in enumerate(lines):
        if not line.startswith("#"):
            raise NotebookError(
                "malformed jupytext header: every header line must start with '#'",
                line=start + offset,
            )
        # jupytext uncomments by dropping the '#' and one space.
        text_lines.append(line[2:] if line.startswith("# ") else line[1:])
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML comes with jupytext
        raise NotebookError(
            "notebook hypotheses need the notebook extra: pip install pytest-grd[notebook]",
            line=grd_line,
        ) from None
    try:
        header = yaml.safe_load("\n".join(text_lines))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = start + mark.line if mark is not None else grd_line
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise NotebookError(f"malformed jupytext header: {problem}", line=where) from None
    jupyter = header.get("jupyter") if isinstance(header, Mapping) else None
    if not isinstance(jupyter, Mapping) or "grd" not in jupyter:
        raise NotebookError(
            "grd metadata must sit under 'jupyter:' in the jupytext header", line=grd_line
        )
    return parse_grd_metadata(jupyter["grd"], line=grd_line, format="py")


def _line_of(text: str, needle: str) -> int:
    index = text.find(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else 1


def _sniff_ipynb(path: Path) -> NotebookSpec | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NotebookError(f"cannot read notebook: {exc}") from None
    if '"grd"' not in text:
        return None  # cheap: not a hypothesis (or not even valid JSON; not ours to judge)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"malformed notebook JSON: {exc.msg}", line=exc.lineno) from None
    metadata = data.get("metadata") if isinstance(data, Mapping) else None
    if not isinstance(metadata, Mapping) or "grd" not in metadata:
        return None
    formats = metadata.get("jupytext", {})
    formats = formats.get("formats", "") if isinstance(formats, Mapping) else ""
    if isinstance(formats, str) and "py" in formats and path.with_suffix(".py").exists():
        # A jupytext pair: the .py text file is the hypothesis, not its twin.
        return None
    if not isinstance(data.get("cells"), list):
        raise NotebookError("malformed notebook: no 'cells' list", line=1)
    return parse_grd_metadata(metadata["grd"], line=_line_of(text, '"grd"'), format="ipynb")


# -- validation --------------------------------------------------------------


def _is_data(value: Any) -> bool:
    """JSON data only: it is injected as a Python literal, never as code."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_is_data(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_data(v) for k, v in value.items())
    return False


def _positive_number(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and value > 0
    )


def parse_grd_metadata(meta: Any, line: int = 1, format: str = "ipynb") -> NotebookSpec:
    """Validate a notebook's ``grd`` metadata; :class:`NotebookError` on bad input."""

    def fail(message: str) -> NotebookError:
        return NotebookError(message, line=line)

    if not isinstance(meta, Mapping):
        raise fail(f"grd metadata must be a mapping, got {type(meta).__name__}")
    unknown = sorted(str(k) for k in meta if k not in KNOWN_KEYS)
    if unknown:
        raise fail(
            f"grd metadata has unknown key(s) {', '.join(unknown)}; known: {', '.join(KNOWN_KEYS)}"
        )
    hid = meta.get("hypothesis")
    if not isinstance(hid, str) or not hid:
        raise fail("grd metadata needs 'hypothesis: <id>' (a string such as hyp_003)")
    claim = meta.get("claim", "") or ""
    if not isinstance(claim, str):
        raise fail(f"grd claim must be a string, got {type(claim).__name__}")
    raw_params = meta.get("parameters") or {}
    if not isinstance(raw_params, Mapping):
        raise fail("grd parameters must map names to lists of values, e.g. {lr: [0.1, 0.01]}")
    parameters: dict[str, list[Any]] = {}
    for name, values in raw_params.items():
        if not isinstance(name, str) or not _IDENT.fullmatch(name) or keyword.iskeyword(name):
            raise fail(f"grd parameter name {name!r} is not a Python identifier")
        if name.startswith(RESERVED_PREFIX):
            raise fail(f"grd parameter name {name!r} is reserved (names starting with grd_)")
        listed = list(values) if isinstance(values, list) else [values]
        if not listed:
            raise fail(f"grd parameter {name!r} has no values")
        for value in listed:
            if not _is_data(value):
                raise fail(
                    f"grd parameter {name!r} has a value that is not plain data: {value!r} "
                    "(use strings, numbers, booleans, null, lists and mappings)"
                )
        parameters[name] = listed
    seeds = meta.get("seeds")
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1):
        raise fail(f"grd seeds must be a positive integer, got {seeds!r}")
    timeout = meta.get("timeout")
    if timeout is not None and not _positive_number(timeout):
        raise fail(f"grd timeout must be a number of seconds > 0, got {timeout!r}")
    kernel = meta.get("kernel")
    if kernel is not None and (not isinstance(kernel, str) or not kernel):
        raise fail(f"grd kernel must be a kernel name such as python3, got {kernel!r}")
    baseline = meta.get("baseline")
    if baseline is not None and not isinstance(baseline, Mapping):
        raise fail("grd baseline must map metric names to a direction (higher, lower, equal)")
    return NotebookSpec(
        hypothesis=hid,
        claim=claim,
        parameters=parameters,
        seeds=seeds,
        timeout=float(timeout) if timeout is not None else None,
        kernel=kernel,
        baseline=dict(baseline) if baseline is not None else None,
        line=line,
        format=format,
    )


# -- expansion ---------------------------------------------------------------


def _id_value(name: str, value: Any, index: int) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value!r}"
    if isinstance(value, str) and _SAFE_ID_VALUE.fullmatch(value):
        return value
    # Anything else (quotes, spaces, long strings, containers): by position,
    # as pytest names parametrize values it cannot show.
    return f"{name}{index}"


def case_id(parts: list[str]) -> str:
    """The bracketed part of an item name: ``lr=0.1-seed0``."""
    return "-".join(parts)


def expand_cases(
    spec: NotebookSpec, seeds_override: int | None = None, seed_base: int = 0
) -> list[NotebookCase]:
    """One case per parameter combination x seed, in declaration order.

    ``seeds_override`` (``--grd-seeds``) wins over the metadata's ``seeds``;
    without either, the notebook runs once and its ``grd_seed`` is
    ``seed_base`` (not part of the case's name, as for test functions).
    """
    names = list(spec.parameters)
    axes = [list(enumerate(spec.parameters[n])) for n in names]
    n_seeds = seeds_override or spec.seeds
    seeds: list[int | None] = [seed_base + i for i in range(n_seeds)] if n_seeds else [None]
    cases: list[NotebookCase] = []
    seen: dict[str, int] = {}
    for combo in itertools.product(*axes):
        params = {name: value for name, (_, value) in zip(names, combo, strict=True)}
        parts = [
            f"{name}={_id_value(name, value, index)}"
            for name, (index, value) in zip(names, combo, strict=True)
        ]
        for seed in seeds:
            ident = case_id([*parts, f"seed{seed}"] if seed is not None else parts)
            count = seen.get(ident, 0)
            seen[ident] = count + 1
            if count:
                ident = f"{ident}-{count}"
            cases.append(NotebookCase(id=ident, params=params, seed=seed))
    return cases
