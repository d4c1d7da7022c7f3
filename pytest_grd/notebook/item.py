"""The pytest nodes of notebook hypotheses: one file collector, one item per case."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from ..keys import CASE_KEY, SEED_PARAM
from ..marker import MarkerError, parse_marker
from ..session import get_session
from ..settings import get_settings
from .spec import NotebookCase, NotebookError, NotebookSpec, expand_cases

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

    from ..case import Case
    from .plugin import NotebookPlugin

__all__ = ["NotebookFile", "NotebookItem"]

#: Where executed notebooks go, under the rootdir (hidden: never collected).
OUTPUT_DIR = Path(".grd") / "notebooks"


def _safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=+\-\[\]]+", "_", name)[:150]


class NotebookFile(pytest.File):
    """A notebook (``.ipynb`` or jupytext ``.py``) that declares a hypothesis."""

    #: Set by the plugin right after construction: what sniffing found.
    spec: NotebookSpec | None = None
    error: NotebookError | None = None

    def _where(self, line: int | None) -> str:
        return f"{self.path}:{line}" if line else str(self.path)

    def collect(self) -> Iterator[NotebookItem]:
        if self.error is not None:
            raise self.CollectError(f"{self._where(self.error.line)}: {self.error.message}")
        spec = self.spec
        if spec is None:  # pragma: no cover - the plugin builds us only with one of both
            return
        kwargs: dict[str, Any] = {"claim": spec.claim}
        if spec.baseline is not None:
            kwargs["baseline"] = spec.baseline
        session = get_session(self.config)
        try:
            marker_spec = parse_marker((spec.hypothesis,), kwargs)
            # The same duplicate check as for test functions, so an id used by
            # a function and a notebook is one clear collection error.
            session.registry.claim(marker_spec.id, self.nodeid, self._where(spec.line))
        except MarkerError as exc:
            raise self.CollectError(f"{self._where(spec.line)}: {exc}") from None
        settings = get_settings(self.config)
        for case in expand_cases(spec, settings.seeds, settings.seed_base):
            name = f"{spec.hypothesis}[{case.id}]" if case.id else spec.hypothesis
            yield NotebookItem.from_parent(self, name=name, notebook=spec, case=case, kwargs=kwargs)


class NotebookItem(pytest.Item):
    """One case of a notebook hypothesis: the notebook run once in a kernel."""

    grd_kind = "notebook"

    def __init__(
        self,
        *,
        notebook: NotebookSpec,
        case: NotebookCase,
        kwargs: dict[str, Any],
        **node_kwargs: Any,
    ) -> None:
        super().__init__(**node_kwargs)
        self.notebook = notebook
        self.case = case
        # The marker makes this a hypothesis for the core (records, verdicts, -k).
        self.add_marker(pytest.mark.hypothesis(notebook.hypothesis, **kwargs))
        self.output: Path | None = None

    def grd_case_params(self) -> dict[str, Any]:
        """The case's parameters, and its seed under ``grd_seed``."""
        params = dict(self.case.params)
        if self.case.seed is not None:
            params[SEED_PARAM] = self.case.seed
        return params

    def _plugin(self) -> NotebookPlugin:
        # Registered in pytest_configure next to the session.
        return cast("NotebookPlugin", self.config.pluginmanager.get_plugin("grd-notebook"))

    def runtest(self) -> None:
        from .execute import CellInconclusive, has_parameters_cell, read_notebook, run_notebook
        from .metrics import METRICS_PARAMETER

        case = self.stash[CASE_KEY]
        plugin = self._plugin()
        nb = read_notebook(self.path)
        if self.notebook.parameters and not has_parameters_cell(nb):
            raise CellInconclusive(
                f"{self.path.name} declares parameters "
                f"({', '.join(self.notebook.parameters)}) but no cell is tagged 'parameters' "
                "to inject them after"
            )
        out_dir = self.config.rootpath / OUTPUT_DIR
        output = out_dir / f"{_safe_filename(self.name)}.ipynb"
        metrics_path = out_dir / f"{_safe_filename(self.name)}.metrics.jsonl"
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in (output, metrics_path):
            stale.unlink(missing_ok=True)
        self.output = output
        seed = self.case.seed if self.case.seed is not None else get_settings(self.config).seed_base
        parameters = {
            **self.case.params,
            SEED_PARAM: seed,
            "grd_run_id": _live_run_id(case),
            METRICS_PARAMETER: str(metrics_path),
        }
        try:
            run_notebook(
                nb,
                output=output,
                parameters=parameters,
                kernel=self.notebook.kernel or plugin.kernel,
                timeout=self.notebook.timeout or plugin.timeout,
                cwd=self.path.parent,
                metrics_path=metrics_path,
            )
        finally:
            self._collect_results(case, output, metrics_path)

    def _collect_results(self, case: Case, output: Path, metrics_path: Path) -> None:
        """Metrics from the side channel and the executed notebook go to the
        case's run (its record, and MLflow when tracking is on), whatever the
        verdict."""
        from ..tracking.run import run_for_case
        from .metrics import read_metrics

        run = run_for_case(case)
        points, bad = read_metrics(metrics_path)
        for point in points:
            try:
                run.log_metric(point.key, point.value, point.step)
            except ValueError as exc:  # a metric name MLflow refuses
                case.force_inconclusive(f"notebook metric refused: {exc}")
        if bad:
            case.force_inconclusive(
                f"{bad} unreadable line(s) in the notebook's metrics side channel"
            )
        if output.exists():
            case.record.extra["executed_notebook"] = str(output)
            run.log_artifact(output)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | TerminalRepr:
        from ..outcomes import Inconclusive, Rejected
        from .execute import render_failure

        exc = excinfo.value
        if isinstance(exc, (Rejected, Inconclusive)):
            verdict = "REJECTED" if isinstance(exc, Rejected) else "INCONCLUSIVE"
            return render_failure(
                verdict,
                exc.reason,
                getattr(exc, "failure", None),
                getattr(exc, "output", None) or self.output,
            )
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        # The domain is the item's name: pytest's -v line and failure title show it.
        return self.path, self.notebook.line - 1, self.name


def _live_run_id(case: Any) -> str | None:
    """The case's MLflow run id for the notebook (which may log to it
    itself): the run is made in the store now; ``None`` without tracking, or
    when the store cannot take it (the journal still keeps the run)."""
    from ..text import one_line
    from ..tracking.run import run_for_case

    try:
        return run_for_case(case).live_run_id()
    except Exception as exc:
        case.record.extra["tracking_error"] = one_line(f"live run not made: {exc}", 300)
        return None
