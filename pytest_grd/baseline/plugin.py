"""pytest side of baselines.

:class:`BaselinePlugin` is registered in every session (it is cheap: the
baseline modules load only when a baseline is read, compared or saved).  On
the controller it

* validates ``--grd-baseline`` at start-up (a missing or malformed file, or a
  file without results at this session's scale, is a usage error);
* learns what was collected (itself in a serial run, from each xdist worker's
  ``workeroutput`` otherwise) so that a deselected hypothesis is not taken for
  a missing one;
* counts the failures that are not a hypothesis verdict, and crashed cases;
* at the end of the session compares the results with the baseline, saves a
  baseline (``--grd-save-baseline``) and, with ``--grd-baseline``, sets the
  exit status by changes only;
* prints the ``grd baseline`` section of the terminal summary.

Other plugins (the report) read the comparison with :func:`comparison_of`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from ..claim_results import DECISION_ATTR
from ..keys import CASE_KEY
from ..session import get_session
from ..settings import get_settings

if TYPE_CHECKING:
    from pathlib import Path

    from ..record import HypothesisResult
    from .collection import Collection
    from .comparison import Comparison

__all__ = ["PLUGIN_NAME", "WORKEROUTPUT_KEY", "BaselinePlugin", "comparison_of"]

#: The name this plugin is registered under.
PLUGIN_NAME = "grd-baseline"
#: Key of this plugin's collection summary in an xdist worker's workeroutput.
WORKEROUTPUT_KEY = "grd_collection"

_Line = tuple[str, dict[str, bool]]


def comparison_of(config: pytest.Config) -> Comparison | None:
    """The session's comparison with ``--grd-baseline`` (None without one,
    or when it failed).  Ask from a ``trylast`` ``pytest_sessionfinish``, once
    the results are rolled up: it is made on the first ask and kept, so it
    exists whichever of those hooks runs first."""
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    return plugin.comparison() if isinstance(plugin, BaselinePlugin) else None


class BaselinePlugin:
    """Baselines and the baseline exit status (see module docstring)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = get_settings(config)
        self.is_worker = self.settings.is_worker
        #: The ``--grd-baseline`` file's data, once validated.
        self.baseline: dict[str, Any] | None = None
        #: hypothesis id -> case names collected here (before deselection).
        self.collected: dict[str, list[str]] = {}
        self.selected: set[str] = set()
        self.collected_here = False
        self.worker_collections: list[dict[str, Any]] = []
        #: Failed reports that are not a hypothesis verdict (plain tests,
        #: teardown and collection errors) and crashed cases: these always fail.
        self.other_failures = 0
        self.crashed = 0
        #: Hypotheses whose own decision result failed (forgiven like a
        #: recorded case when the baseline records the same verdict).
        self.failed_decisions: dict[str, str] = {}
        self.compared = False
        self.comparison_failed = False
        self._comparison: Comparison | None = None
        self.lines: list[_Line] = []

    # -- start-up ------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        path = self.settings.baseline
        if self.is_worker or path is None:
            return
        from .format import BaselineError, load_baseline

        scale = self.settings.scale
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
        self.baseline = data

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
            workeroutput[WORKEROUTPUT_KEY] = self._collected_here()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        summary = output.get(WORKEROUTPUT_KEY)
        if isinstance(summary, dict):
            self.worker_collections.append(summary)

    def _collected_here(self) -> dict[str, Any]:
        """This process's collection, as a worker sends it."""
        return {"collected": self.collected, "selected": sorted(self.selected)}

    def collection(self) -> Collection:
        """What the whole session collected (here, or on the xdist workers)."""
        from .collection import Collection, collection_roots

        s = self.settings
        roots = collection_roots(self.config.args, s.invocation_dir, s.rootpath)
        out = Collection(roots=roots, known=False)
        summaries = [self._collected_here()] if self.collected_here else []
        for summary in summaries + self.worker_collections:
            out.merge(summary)
            out.known = True
        return out

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
        decision = getattr(report, DECISION_ATTR, None)
        if decision is not None:
            if report.failed:
                self.failed_decisions[decision["id"]] = decision["verdict"]
            return
        if report.failed:
            self.other_failures += 1

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not self.is_worker and report.failed:
            self.other_failures += 1

    # -- end of session --------------------------------------------------------

    def comparison(self) -> Comparison | None:
        """The comparison of this session's results with ``--grd-baseline``
        (None without one, or when it failed); made on the first ask, at the
        end of the session (see :func:`comparison_of`), and kept."""
        if self.compared or self.baseline is None or self.settings.baseline is None:
            return self._comparison
        self.compared = True
        from .comparison import compare

        results = get_session(self.config).results
        try:
            self._comparison = compare(
                self.baseline,
                results,
                self.settings.scale,
                self.collection(),
                str(self.settings.baseline),
                self.settings.baseline_tolerances,
            )
        except Exception as exc:  # never let a bug here pass as "no change"
            self.comparison_failed = True
            message = f"grd baseline: comparison failed: {type(exc).__name__}: {exc}"
            self.lines.append((message, {"red": True}))
        return self._comparison

    @pytest.hookimpl(trylast=True)  # after the session has rolled up the results
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker:
            return
        self.comparison()
        saved = True
        if self.settings.save_baseline is not None:
            saved = self._save_baseline(self.settings.save_baseline)
        self._set_exit_status(session, failed=self.comparison_failed or not saved)

    def _save_baseline(self, path: Path) -> bool:
        """Save this run's results at its scale into ``path``; False (and a
        red line) when the file cannot be read or written."""
        from .format import BaselineError, dump_baseline, load_baseline

        results = get_session(self.config).results
        try:
            existing = load_baseline(path) if path.exists() else None
        except BaselineError as exc:
            self.lines.append((f"grd baseline: not saved: {exc}", {"red": True}))
            return False
        data = self._merged(existing, results)
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
                f"at scale {self.settings.scale!r} to {path}",
                {},
            )
        )
        return True

    def _merged(
        self, existing: dict[str, Any] | None, results: list[HypothesisResult]
    ) -> dict[str, Any]:
        """The baseline file's data with this run's section saved into it."""
        import datetime as dt

        from ..gitinfo import git_state
        from .format import build_baseline, merge_baseline

        section = build_baseline(
            results,
            self.settings.scale,
            saved_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            commit=git_state(self.settings.rootpath).commit or "",
            tolerances=self.settings.baseline_tolerances,
        )
        return merge_baseline(existing, section, self.collection())

    def _set_exit_status(self, session: pytest.Session, failed: bool) -> None:
        """With a baseline, the exit status says whether anything changed."""
        comparison = self._comparison
        if comparison is None and not failed:
            return
        if failed or self.crashed or (comparison is not None and comparison.discrepancies):
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        if comparison is None:
            return
        # Only plain test failures caused by recorded verdicts are forgiven;
        # interruptions, internal and usage errors, collection errors, crashes
        # and failures of tests that are not hypotheses keep their status.
        unrecorded = comparison.unrecorded_failures + [
            f"{hid}: {verdict}"
            for hid, verdict in sorted(self.failed_decisions.items())
            if hid in comparison.new
        ]
        if unrecorded:
            # A new hypothesis (or a new case) that fails is not "as recorded".
            more = len(unrecorded) - 5
            self.lines.append(
                (
                    "grd baseline: failed case(s) the baseline does not record: "
                    + ", ".join(unrecorded[:5])
                    + (f", ... ({more} more)" if more > 0 else ""),
                    {"red": True},
                )
            )
            return
        if session.exitstatus == pytest.ExitCode.TESTS_FAILED and not self.other_failures:
            session.exitstatus = pytest.ExitCode.OK
            self.lines.append(
                ("grd baseline: exit status 0: every failed case is as the baseline records", {})
            )

    # -- terminal ----------------------------------------------------------------

    @pytest.hookimpl(trylast=True)  # after the "grd verdicts" section
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        comparison = self._comparison
        if self.is_worker or (comparison is None and not self.lines):
            return
        tr = terminalreporter
        tr.write_sep("=", "grd baseline")
        lines = self._comparison_lines(comparison) if comparison is not None else []
        for line, markup in lines + self.lines:
            tr.write_line(line, **markup)

    def _comparison_lines(self, comparison: Comparison) -> list[_Line]:
        """The comparison's lines: the changes (or none), notes on decisions
        that moved, then what is new, left out, or crashed."""
        lines: list[_Line] = []
        if comparison.discrepancies:
            lines.append(
                (
                    f"grd baseline: {len(comparison.discrepancies)} change(s) against "
                    f"{comparison.path} (scale {comparison.scale!r})",
                    {"red": True, "bold": True},
                )
            )
            lines.extend((d.line(), {"red": True}) for d in comparison.discrepancies)
        else:
            lines.append(
                (
                    f"grd baseline: no change against {comparison.path} "
                    f"({comparison.compared_hypotheses} hypothesis(es), "
                    f"{comparison.compared_cases} case(s) compared, scale {comparison.scale!r})",
                    {"green": True},
                )
            )
        lines.extend((f"grd baseline: note: {note}", {}) for note in comparison.notes)
        if comparison.new:
            lines.append(
                ("grd baseline: not in the baseline yet: " + ", ".join(comparison.new), {})
            )
        if comparison.skipped:
            lines.append((f"grd baseline: {len(comparison.skipped)} left out of this run", {}))
        if self.crashed:
            lines.append((f"grd baseline: {self.crashed} case(s) crashed", {"red": True}))
        return lines
