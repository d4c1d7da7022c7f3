"""pytest side of reports and baselines.

:class:`ReportPlugin` is registered in every session (it is cheap: jinja2,
matplotlib and the renderers load only when a report is written).  On the
controller it

* validates ``--grd-baseline`` at start-up (a missing or malformed file, or a
  file without results at this session's scale, is a usage error);
* learns what was collected (itself in a serial run, from each xdist worker's
  ``workeroutput`` otherwise) so that a deselected hypothesis is not taken for
  a missing one;
* at the end of the session compares the results with the baseline, saves a
  baseline (``--grd-save-baseline``), writes the report (``--grd-report``)
  and, with ``--grd-baseline``, sets the exit status by changes only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..session import CASE_KEY, get_session

if TYPE_CHECKING:
    from ..record import HypothesisResult
    from .baseline import Collection, Comparison

__all__ = ["ReportPlugin"]

#: Key of this plugin's collection summary in an xdist worker's workeroutput.
WORKEROUTPUT_KEY = "grd_collection"


class ReportPlugin:
    """Reports, baselines and the baseline exit status (see module docstring)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.is_worker = hasattr(config, "workerinput")
        self.results: list[HypothesisResult] | None = None
        self.baseline_path: Path | None = None
        self.baseline_data: dict[str, Any] | None = None
        self.comparison: Comparison | None = None
        #: hypothesis id -> case names collected here (before deselection).
        self.collected: dict[str, list[str]] = {}
        self.selected: set[str] = set()
        self.collected_here = False
        self.worker_collections: list[dict[str, Any]] = []
        #: Failed reports that are not a hypothesis verdict (plain tests,
        #: teardown and collection errors) and crashed cases: these always fail.
        self.other_failures = 0
        self.crashed = 0
        self.lines: list[tuple[str, dict[str, bool]]] = []

    # -- start-up ------------------------------------------------------------

    def _path(self, value: str) -> Path:
        if value:
            return self.config.invocation_params.dir / value
        ini = str(self.config.getini("grd_baseline_path") or "grd-baseline.json")
        return self.config.rootpath / ini

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.is_worker:
            return
        value = self.config.getoption("grd_baseline", None)
        if value is None:
            return
        from .baseline import BaselineError, load_baseline

        path = self._path(value)
        scale = get_session(self.config).scale
        try:
            data = load_baseline(path)
        except BaselineError as exc:
            raise pytest.UsageError(f"grd: {exc}") from None
        scales = data["scales"]
        if scale not in scales:
            raise pytest.UsageError(
                f"grd: baseline {path} has no results at scale {scale!r} "
                f"(it has: {', '.join(sorted(scales)) or 'none'}); a baseline is compared "
                f"only at its own scale: record one with --grd-scale {scale} "
                "--grd-save-baseline"
            )
        self.baseline_path = path
        self.baseline_data = data

    # -- collection (serial run or xdist worker) -----------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_itemcollected(self, item: pytest.Item) -> None:
        case = item.stash.get(CASE_KEY, None)
        if case is not None:
            names = self.collected.setdefault(case.record.hypothesis, [])
            names.append(case.record.name)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected_here = True
        self.selected = {
            item.stash[CASE_KEY].record.name for item in session.items if CASE_KEY in item.stash
        }
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[WORKEROUTPUT_KEY] = {
                "collected": self.collected,
                "selected": sorted(self.selected),
            }

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        summary = output.get(WORKEROUTPUT_KEY)
        if isinstance(summary, dict):
            self.worker_collections.append(summary)

    # -- outcomes (controller) -----------------------------------------------

    @pytest.hookimpl(trylast=True)  # after the core has marked crashed cases
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        data = getattr(report, "grd_record", None)
        if data is not None:
            if (data.get("extra") or {}).get("crashed"):
                self.crashed += 1
            return
        if report.failed:
            self.other_failures += 1

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not self.is_worker and report.failed:
            self.other_failures += 1

    def pytest_grd_session_results(
        self, results: list[HypothesisResult], config: pytest.Config, session: pytest.Session
    ) -> None:
        """Keep the results; the work happens once every plugin has seen them."""
        self.results = results

    # -- end of session --------------------------------------------------------

    def _collection(self) -> Collection:
        from .baseline import Collection

        root = self.config.rootpath
        roots: list[str] = []
        for arg in self.config.args:
            path = (self.config.invocation_params.dir / arg.split("::", 1)[0]).resolve()
            try:
                roots.append(path.relative_to(root.resolve()).as_posix())
            except ValueError:
                continue  # outside the rootdir: no baseline entry can live there
        out = Collection(roots=roots or ["."], known=False)
        if self.collected_here:
            out.merge({"collected": self.collected, "selected": sorted(self.selected)})
            out.known = True
        for summary in self.worker_collections:
            out.merge(summary)
            out.known = True
        return out

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker:
            return
        results = self.results if self.results is not None else get_session(self.config).results
        grd = get_session(self.config)
        failed_comparison = False
        collection = None
        if self.baseline_data is not None and self.baseline_path is not None:
            from .baseline import compare

            collection = self._collection()
            try:
                self.comparison = compare(
                    self.baseline_data, results, grd.scale, collection, str(self.baseline_path)
                )
            except Exception as exc:  # never let a bug here pass as "no change"
                failed_comparison = True
                self.lines.append(
                    (f"grd baseline: comparison failed: {type(exc).__name__}: {exc}", {"red": True})
                )
        save = self.config.getoption("grd_save_baseline", None)
        save_failed = False
        if save is not None:
            save_failed = not self._save_baseline(results, save, collection)
        report_dir = self.config.getoption("grd_report", None)
        if report_dir is not None:
            self._write_report(results, report_dir)
        self._exit_status(session, failed_comparison or save_failed)

    def _save_baseline(
        self, results: list[HypothesisResult], value: str, collection: Collection | None
    ) -> bool:
        from .baseline import (
            BaselineError,
            build_baseline,
            dump_baseline,
            load_baseline,
            merge_baseline,
        )
        from .meta import git_state

        path = self._path(value)
        grd = get_session(self.config)
        try:
            existing = load_baseline(path) if path.exists() else None
        except BaselineError as exc:
            self.lines.append((f"grd baseline: not saved: {exc}", {"red": True}))
            return False
        import datetime as dt

        section = build_baseline(
            results,
            grd.scale,
            saved_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            commit=git_state(self.config.rootpath).get("commit") or "",
        )
        data = merge_baseline(existing, section, collection or self._collection())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dump_baseline(data), encoding="utf-8")
        except OSError as exc:
            self.lines.append((f"grd baseline: not saved: {exc}", {"red": True}))
            return False
        cases = sum(len(r.cases) for r in results)
        self.lines.append(
            (
                f"grd baseline: saved {len(results)} hypothesis(es), {cases} case(s) "
                f"at scale {grd.scale!r} to {path}",
                {},
            )
        )
        return True

    def _meta(self, results: list[HypothesisResult]) -> dict[str, Any]:
        from .meta import collect_meta

        grd = get_session(self.config)
        extra: dict[str, Any] = {}
        for part in self.config.hook.pytest_grd_report_metadata(config=self.config):
            if isinstance(part, dict):
                extra.update(part)
        meta = collect_meta(
            self.config.invocation_params.args,
            self.config.rootpath,
            [c for r in results for c in r.cases],
            scale=grd.scale,
            session_id=grd.session_id,
            extra=extra,
        )
        if self.comparison is not None:
            meta["baseline"] = self.comparison.to_dict()
        return meta

    def _write_report(self, results: list[HypothesisResult], value: str) -> None:
        if not results and self.comparison is None:
            self.lines.append(("grd report: no hypothesis ran; no report written", {}))
            return
        out = self.config.invocation_params.dir / value
        try:
            from .markdown import render_summary
            from .model import build_view
            from .render import write_report

            meta = self._meta(results)
            paths = write_report(results, meta, out)
            summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
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

    def _exit_status(self, session: pytest.Session, failed: bool) -> None:
        comparison = self.comparison
        if comparison is None and not failed:
            return
        status = session.exitstatus
        changes = bool(comparison and comparison.discrepancies)
        if changes or failed or self.crashed:
            if status == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        if comparison is None:
            return
        # Only plain test failures caused by recorded verdicts are forgiven;
        # interruptions, internal and usage errors, collection errors, crashes
        # and failures of tests that are not hypotheses keep their status.
        if comparison.unrecorded_failures:
            # A new hypothesis (or a new case) that fails is not "as recorded".
            shown = ", ".join(comparison.unrecorded_failures[:5])
            more = len(comparison.unrecorded_failures) - 5
            self.lines.append(
                (
                    f"grd baseline: failed case(s) the baseline does not record: {shown}"
                    + (f", ... ({more} more)" if more > 0 else ""),
                    {"red": True},
                )
            )
            return
        if status == pytest.ExitCode.TESTS_FAILED and not self.other_failures:
            session.exitstatus = pytest.ExitCode.OK
            self.lines.append(
                ("grd baseline: exit status 0: every failed case is as the baseline records", {})
            )

    @pytest.hookimpl(trylast=True)  # after the "grd verdicts" section
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        tr = terminalreporter
        comparison = self.comparison
        if comparison is None and not self.lines:
            return
        tr.write_sep("=", "grd baseline" if comparison is not None else "grd report")
        if comparison is not None:
            if comparison.discrepancies:
                tr.write_line(
                    f"grd baseline: {len(comparison.discrepancies)} change(s) against "
                    f"{comparison.path} (scale {comparison.scale!r})",
                    red=True,
                    bold=True,
                )
                for d in comparison.discrepancies:
                    tr.write_line(d.line(), red=True)
            else:
                tr.write_line(
                    f"grd baseline: no change against {comparison.path} "
                    f"({comparison.compared_hypotheses} hypothesis(es), "
                    f"{comparison.compared_cases} case(s) compared, scale {comparison.scale!r})",
                    green=True,
                )
            if comparison.new:
                tr.write_line("grd baseline: not in the baseline yet: " + ", ".join(comparison.new))
            if comparison.skipped:
                tr.write_line(f"grd baseline: {len(comparison.skipped)} left out of this run")
            if self.crashed:
                tr.write_line(f"grd baseline: {self.crashed} case(s) crashed", red=True)
        for line, markup in self.lines:
            tr.write_line(line, **markup)
