"""The commands that read verdicts: ``grd status``, ``grd history``, ``grd diff``.

Each takes the parsed command line and prints; a refusal is a
:class:`~pytest_grd.cli.project.CliError` (one line, exit 1).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .declared import Declarations
from .diff import DEFAULT_TOLERANCE, compare, diff_lines, snapshot
from .history import TRAIL_LEGEND, history_lines, trail_text
from .project import CliError, Project, find_project
from .store import ProjectStore
from .verdicts import recorded, result_summary

__all__ = ["run_diff", "run_history", "run_status"]

REMOVED = "[removed from the code]"


def project_of(args: argparse.Namespace) -> Project:
    """The project the command runs in (``-C DIR`` or the current directory)."""
    start: Path = args.project or Path.cwd()
    return find_project(start)


def run_status(args: argparse.Namespace) -> int:
    """``grd status``: each hypothesis's latest verdict and its history."""
    project = project_of(args)
    found = recorded(project, tracking_uri=args.tracking_uri, report_json=args.report_json)
    if args.json:
        out = []
        for result in found.results:
            entry = result.to_dict()
            entry["in_code"] = result.id not in found.removed
            entry["history"] = [
                {"session_id": e.session_id, "verdict": e.verdict, "commit": e.commit}
                for e in found.trail.get(result.id, [])
                if e.ran_cases
            ]
            out.append(entry)
        print(json.dumps(out, indent=2, default=str))
        return 0
    noun = "hypothesis" if len(found.results) == 1 else "hypotheses"
    print(f"{project.root.name}: {len(found.results)} {noun} (from {found.source})")
    width = max((len(r.id) for r in found.results), default=10)
    summaries = {r.id: result_summary(r) for r in found.results}
    summary_width = max((len(s) for s in summaries.values()), default=10)
    trails = {r.id: trail_text(found.trail.get(r.id, [])) for r in found.results}
    # One session each: no history to show.
    trail_width = max((len(t) for t in trails.values()), default=0)
    trail_width = trail_width if trail_width > 1 else 0
    for result in found.results:
        claim = " ".join(result.claim.split())
        if result.id in found.removed:
            claim = f"{REMOVED} {claim}"
        trail = f"  {trails[result.id]:<{trail_width}}" if trail_width else ""
        print(f"  {result.id:<{width}}  {summaries[result.id]:<{summary_width}}{trail}  {claim}")
    if trail_width:
        print(TRAIL_LEGEND)
    if found.removed:
        print(
            f"{REMOVED}: no test or notebook of the project declares it any more; "
            "its last recorded verdict is shown"
        )
    return 0


def run_history(args: argparse.Namespace) -> int:
    """``grd history HYP_ID``: the claim's verdict and evidence per session."""
    project = project_of(args)
    with ProjectStore(project, args.tracking_uri) as store:
        entries = [e for e in store.history(args.hypothesis) if e.ran_cases]
        if not entries:
            known = ", ".join(sorted(store.latest())) or "none"
            raise CliError(
                f"no recorded session of {args.hypothesis} in {store.source} (recorded: {known})"
            )
        if args.limit:
            entries = entries[-args.limit :]
        verdicts = store.verdicts(entries)
    declarations = Declarations(
        project.root, project.list_setting("testpaths"), project.list_setting("norecursedirs")
    )
    declared = declarations.declared(args.hypothesis)
    if args.json:
        data = {
            "hypothesis": args.hypothesis,
            "in_code": declared,
            "sessions": [v.to_dict() for v in verdicts],
        }
        print(json.dumps(data, indent=2, default=str))
        return 0
    for line in history_lines(args.hypothesis, verdicts, declared, args.metric):
        print(line)
    return 0


def run_diff(args: argparse.Namespace) -> int:
    """``grd diff [OLD [NEW]]``: flips and metric drift between two sides."""
    project = project_of(args)
    opened: list[ProjectStore] = []

    def store() -> ProjectStore:
        if not opened:
            opened.append(ProjectStore(project, args.tracking_uri))
        return opened[0]

    try:
        old = snapshot(project, args.old or "previous", store)
        # By default, each claim's last change: one that ran once has none.
        default = args.old is None and args.new is None
        new = snapshot(project, args.new or "latest", store, set(old.verdicts) if default else None)
    finally:
        for each in opened:
            each.reader.close()
    tolerance = args.tolerance if args.tolerance is not None else DEFAULT_TOLERANCE
    changes = compare(old, new)
    if args.json:
        data = {
            "old": old.label,
            "new": new.label,
            "tolerance": tolerance,
            "changes": [c.to_dict(tolerance) for c in changes],
        }
        print(json.dumps(data, indent=2, default=str))
    else:
        for line in diff_lines(old, new, changes, tolerance, args.metric):
            print(line)
    if args.fail_on_flip and any(c.kind == "flipped" for c in changes):
        return 1
    return 0
