"""pytest side of reports: ``--grd-report`` and GitHub's step summary.

:class:`ReportPlugin` is registered in every session (it is cheap: jinja2,
matplotlib and the renderers load only when a report is written).  At the
end of a session, on the controller, it writes the report files
(``--grd-report``) and, in a GitHub Actions job, appends the summary part to
the job's step summary.  The header carries the baseline comparison, when
there is one (from :mod:`pytest_grd.baseline.plugin`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from ..session import get_session
from ..settings import get_settings

if TYPE_CHECKING:
    from pathlib import Path

    from ..baseline.comparison import Comparison
    from ..record import HypothesisResult

__all__ = ["ReportPlugin"]


class ReportPlugin:
    """Writes the report files (see module docstring)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = get_settings(config)
        self.is_worker = self.settings.is_worker
        self.lines: list[tuple[str, dict[str, bool]]] = []

    @pytest.hookimpl(trylast=True)  # after the session has rolled up the results
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        report_dir = self.settings.report_dir
        if self.is_worker or report_dir is None:
            return
        from ..baseline.plugin import comparison_of

        self._write_report(get_session(self.config).results, comparison_of(self.config), report_dir)

    def _meta(
        self, results: list[HypothesisResult], comparison: Comparison | None
    ) -> dict[str, Any]:
        from .meta import collect_meta

        grd = get_session(self.config)
        extra: dict[str, Any] = {}
        for part in self.config.hook.pytest_grd_report_metadata(config=self.config):
            if isinstance(part, dict):
                extra.update(part)
        meta = collect_meta(
            self.config.invocation_params.args,
            self.settings.rootpath,
            [c for r in results for c in r.cases],
            scale=self.settings.scale,
            session_id=grd.session_id,
            extra=extra,
        )
        if comparison is not None:
            meta["baseline"] = comparison.to_dict()
        return meta

    def _write_report(
        self, results: list[HypothesisResult], comparison: Comparison | None, out: Path
    ) -> None:
        if not results and comparison is None:
            self.lines.append(("grd report: no hypothesis ran; no report written", {}))
            return
        try:
            from .markdown import render_summary
            from .model import build_view
            from .render import write_report

            meta = self._meta(results, comparison)
            paths = write_report(results, meta, out)
            summary_path = self.settings.step_summary
            if summary_path:
                view = build_view(results, meta, out.resolve(), plots=False)
                with open(summary_path, "a", encoding="utf-8") as fh:
                    fh.write(render_summary(view) + "\n")
        except Exception as exc:  # a report must never break the session
            self.lines.append(
                (f"grd report: not written: {type(exc).__name__}: {exc}", {"red": True})
            )
            return
        self.lines.append((f"grd report: {paths['html']}", {}))

    @pytest.hookimpl(trylast=True)  # after the "grd verdicts" section
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not self.lines:
            return
        terminalreporter.write_sep("=", "grd report")
        for line, markup in self.lines:
            terminalreporter.write_line(line, **markup)
