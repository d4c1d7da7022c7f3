"""Running one notebook case with papermill and turning what happened into a verdict.

No pytest here: :func:`run_notebook` executes a notebook in a real kernel and
raises :class:`CellRejected` (an ``AssertionError`` in a cell: REJECTED) or
:class:`CellInconclusive` (anything else that went wrong: INCONCLUSIVE), each
carrying the failing cell so :func:`render_failure` can show it.  papermill,
nbformat and jupytext are imported on first use.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..outcomes import Inconclusive, Rejected
from ..text import one_line
from .metrics import METRICS_ENV

__all__ = [
    "CellFailure",
    "CellInconclusive",
    "CellRejected",
    "has_parameters_cell",
    "read_notebook",
    "render_failure",
    "run_notebook",
]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: Exception names raised in a cell that mean "the claim is false".
_REJECTING = {"AssertionError", "Rejected"}
#: pytest-grd's own "cannot decide" exceptions, raised in a cell.
_DOUBTING = {"Inconclusive", "DataInvalid"}
#: Lines of cell source shown on each side of the failing line.
CONTEXT_LINES = 4


def strip_ansi(text: str) -> str:
    """The text without terminal colour codes (IPython colours its tracebacks)."""
    return _ANSI.sub("", text)


def _first_line(source: str, limit: int = 60) -> str:
    for line in source.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return "<empty cell>"


@dataclass(frozen=True)
class CellFailure:
    """The cell a notebook case stopped in, and why.

    ``index`` is the cell's 0-based position in the *source* notebook
    (markdown cells count; papermill's injected cell does not); ``line`` is
    the 1-based failing line inside the cell when the traceback names it.
    """

    index: int
    source: str
    ename: str
    evalue: str = ""
    traceback: list[str] = field(default_factory=list)
    execution_count: int | None = None
    line: int | None = None

    @property
    def headline(self) -> str:
        """``cell 3 `assert acc > 0.9```: how messages name the cell."""
        return f"cell {self.index} `{_first_line(self.source)}`"


class CellRejected(Rejected):
    """A cell raised ``AssertionError``: the notebook contradicts its claim."""

    def __init__(self, failure: CellFailure, output: Path | None = None) -> None:
        detail = one_line(failure.evalue, 200) or failure.ename
        super().__init__(f"{failure.headline}: {detail}")
        self.failure = failure
        self.output = output


class CellInconclusive(Inconclusive):
    """The notebook could not decide its claim: an error in a cell, a timeout,
    a dead or missing kernel, an unreadable notebook."""

    def __init__(
        self, reason: str, failure: CellFailure | None = None, output: Path | None = None
    ) -> None:
        super().__init__(one_line(reason, 300))
        self.failure = failure
        self.output = output


# -- reading -------------------------------------------------------------------


def read_notebook(path: Path) -> Any:
    """The notebook at ``path`` as an nbformat v4 node (jupytext for text files)."""
    try:
        if path.suffix == ".ipynb":
            import nbformat

            return nbformat.read(str(path), as_version=4)  # type: ignore[no-untyped-call]
        import jupytext

        return jupytext.read(str(path))
    except Exception as exc:  # any parse failure is the user's file, told in one line
        raise CellInconclusive(
            f"cannot read notebook {path.name}: {type(exc).__name__}: {exc}"
        ) from None


def _tags(cell: Mapping[str, Any]) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return list(tags) if isinstance(tags, list) else []


def has_parameters_cell(nb: Any) -> bool:
    """Whether some cell is tagged ``parameters`` (papermill injects after it)."""
    return any("parameters" in _tags(cell) for cell in nb.cells)


def _injected_index(nb: Any) -> int | None:
    """Where papermill puts the injected-parameters cell in the executed notebook,
    or ``None`` when it replaces one the source already has."""
    if any("injected-parameters" in _tags(cell) for cell in nb.cells):
        return None
    for index, cell in enumerate(nb.cells):
        if "parameters" in _tags(cell):
            return index + 1
    return 0


def _source_index(executed_index: int, injected: int | None) -> int:
    if injected is not None and executed_index > injected:
        return executed_index - 1
    return executed_index


def _failing_line(traceback: list[str], execution_count: int | None) -> int | None:
    """The line of the failing cell that IPython's traceback points at."""
    text = strip_ansi("\n".join(traceback))
    for match in re.finditer(r"Cell In\[(\d+)\], line (\d+)", text):
        if execution_count is None or int(match.group(1)) == execution_count:
            return int(match.group(2))
    return None


# -- running -------------------------------------------------------------------


def _kernel_language(kernel: str) -> str:
    from jupyter_client.kernelspec import KernelSpecManager

    return str(KernelSpecManager().get_kernel_spec(kernel).language or "python")


@contextmanager
def _quiet_papermill(metrics_path: Path) -> Iterator[None]:
    """papermill warns about every injected parameter the notebook does not
    declare (grd_seed, grd_run_id, ...) and logs the errors we report
    ourselves: keep that out of failure reports.
    The side channel's path reaches the kernel through its environment."""
    logger = logging.getLogger("papermill")
    level = logger.level
    previous = os.environ.get(METRICS_ENV)
    logger.setLevel(logging.CRITICAL)
    os.environ[METRICS_ENV] = str(metrics_path)
    try:
        yield
    finally:
        logger.setLevel(level)
        if previous is None:
            os.environ.pop(METRICS_ENV, None)
        else:
            os.environ[METRICS_ENV] = previous


def _running_cell(output: Path, injected: int | None, nb: Any) -> CellFailure | None:
    """The cell that was running when execution stopped without an error
    output (timeout, dead kernel): the last cell papermill started."""
    try:
        import nbformat

        executed = nbformat.read(str(output), as_version=4)  # type: ignore[no-untyped-call]
    except Exception:  # no or half-written output: we cannot name the cell
        return None
    last: int | None = None
    for index, cell in enumerate(executed.cells):
        status = cell.get("metadata", {}).get("papermill", {}).get("status")
        if cell.get("cell_type") == "code" and status not in (None, "pending"):
            last = index
    if last is None:
        return None
    source_index = _source_index(last, injected)
    source = nb.cells[source_index].source if source_index < len(nb.cells) else ""
    return CellFailure(index=source_index, source=source, ename="")


def run_notebook(
    nb: Any,
    *,
    output: Path,
    parameters: Mapping[str, Any],
    kernel: str,
    timeout: float | None,
    cwd: Path,
    metrics_path: Path,
    start_timeout: float = 60,
) -> Any:
    """Execute ``nb`` (never modified) in kernel ``kernel`` with ``parameters``
    injected after its ``parameters`` cell; write the executed notebook to
    ``output``.  Returns the executed notebook; raises :class:`CellRejected`
    or :class:`CellInconclusive`."""
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    injected = _injected_index(nb)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _execute(
            nb,
            output=output,
            parameters=parameters,
            kernel=kernel,
            timeout=timeout,
            cwd=cwd,
            metrics_path=metrics_path,
            start_timeout=start_timeout,
        )
    except PapermillExecutionError as exc:
        raise _cell_error(exc, injected, output) from None
    except CellTimeoutError:
        raise _timed_out(_running_cell(output, injected, nb), timeout, output) from None
    except DeadKernelError:
        cell = _running_cell(output, injected, nb)
        where = cell.headline if cell is not None else "the notebook"
        raise CellInconclusive(f"kernel died while running {where}", cell, output) from None
    except NoSuchKernel:
        raise _no_such_kernel(kernel) from None
    except Exception as exc:  # kernel start-up and I/O failures: one line, no plugin traceback
        raise CellInconclusive(
            f"notebook execution failed: {type(exc).__name__}: {one_line(exc, 200)}",
            None,
            output,
        ) from None


def _execute(
    nb: Any,
    *,
    output: Path,
    parameters: Mapping[str, Any],
    kernel: str,
    timeout: float | None,
    cwd: Path,
    metrics_path: Path,
    start_timeout: float,
) -> Any:
    """papermill's run of ``nb``, with its own exceptions."""
    import papermill

    # Resolved first: a missing kernel is one line, and a jupytext notebook
    # without kernelspec metadata still tells papermill its language.
    language = _kernel_language(kernel)
    with _quiet_papermill(metrics_path):
        return papermill.execute_notebook(
            nb,
            str(output),
            parameters=dict(parameters),
            kernel_name=kernel,
            language=language,
            cwd=str(cwd),
            execution_timeout=timeout,
            start_timeout=int(start_timeout),
            progress_bar=False,
            log_output=False,
        )


def _cell_error(exc: Any, injected: int | None, output: Path) -> CellRejected | CellInconclusive:
    """The verdict's exception for an error raised in a cell (papermill's
    ``PapermillExecutionError``): REJECTED for an assertion, else INCONCLUSIVE."""
    traceback = [strip_ansi(t) for t in (exc.traceback or [])]
    failure = CellFailure(
        index=_source_index(int(exc.cell_index), injected),
        source=str(exc.source),
        ename=str(exc.ename),
        evalue=str(exc.evalue or ""),
        traceback=traceback,
        execution_count=exc.exec_count,
        line=_failing_line(traceback, exc.exec_count),
    )
    if failure.ename in _REJECTING:
        return CellRejected(failure, output)
    if failure.ename in _DOUBTING:
        reason = f"{failure.headline}: {failure.evalue or failure.ename}"
    else:
        detail = f"{failure.ename}: {failure.evalue}" if failure.evalue else failure.ename
        reason = f"error in {failure.headline}: {detail}"
    return CellInconclusive(reason, failure, output)


def _timed_out(cell: CellFailure | None, timeout: float | None, output: Path) -> CellInconclusive:
    where = cell.headline if cell is not None else "a cell"
    return CellInconclusive(
        f"{where} timed out after {timeout:g} s (per-cell timeout; raise it with "
        "grd timeout metadata, --grd-notebook-timeout or ini grd_notebook_timeout)",
        cell,
        output,
    )


def _no_such_kernel(kernel: str) -> CellInconclusive:
    from jupyter_client.kernelspec import find_kernel_specs

    available = ", ".join(sorted(find_kernel_specs())) or "none"
    return CellInconclusive(
        f"Jupyter kernel {kernel!r} not found (available: {available}); "
        "set ini grd_kernel or the notebook's grd kernel"
    )


# -- reporting -----------------------------------------------------------------


def _source_excerpt(failure: CellFailure) -> list[str]:
    lines = failure.source.splitlines() or [""]
    if failure.line is not None and 1 <= failure.line <= len(lines):
        lo = max(1, failure.line - CONTEXT_LINES)
        hi = min(len(lines), failure.line + CONTEXT_LINES)
    else:
        lo, hi = 1, min(len(lines), 2 * CONTEXT_LINES + 1)
    width = len(str(hi))
    out = []
    for number in range(lo, hi + 1):
        marker = "->" if number == failure.line else "  "
        out.append(f"  {marker} {number:>{width}} | {lines[number - 1]}")
    if hi < len(lines):
        out.append(f"     {'':>{width}}   ... ({len(lines) - hi} more line(s))")
    return out


def render_failure(
    verdict: str, reason: str, failure: CellFailure | None, output: Path | None
) -> str:
    """The failure report of a notebook case: the cell, its source around the
    failing line, and the kernel's traceback (not papermill's wrapper)."""
    out = [f"{verdict}: {reason}"]
    if failure is not None:
        count = f" (In [{failure.execution_count}])" if failure.execution_count else ""
        where = f", line {failure.line}" if failure.line else ""
        out += ["", f"notebook cell {failure.index}{count}{where}:", *_source_excerpt(failure)]
        if failure.traceback:
            out += ["", "kernel traceback:"]
            out += "\n".join(failure.traceback).splitlines()
    if output is not None and output.exists():
        out += ["", f"executed notebook: {output}"]
    return "\n".join(out)
