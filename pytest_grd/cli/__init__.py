"""The ``grd`` command: start a research project, read its verdicts, commit them.

Commands (``grd COMMAND --help`` for each)::

    grd init [DIR]                       scaffold a research project
    grd status                           latest verdict of each hypothesis, its history
    grd history HYP_ID                   a claim's verdict and evidence, session by session
    grd diff [OLD [NEW]]                 verdict flips and metric drift between two sides
    grd report [--out DIR] [--from F]    regenerate the report without re-running
    grd commit HYP_ID [--next TEXT]      commit a verdict in the experiment format
    grd sync [--tracking-uri URI]        send runs left in the tracking journal

Exit status: 0 success; 1 the command refused or failed (one line on stderr
says why); 2 the command line was wrong.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeAlias

from .project import CliError, Project, find_project

__all__ = ["EXIT_OK", "EXIT_REFUSED", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2

EPILOG = (
    "exit status: 0 success; 1 refused or failed (one line on stderr says why); "
    "2 wrong command line."
)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (the usage is in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


#: The subcommands' parsers, as ``add_subparsers`` returns them.
_Commands: TypeAlias = "argparse._SubParsersAction[_Parser]"


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="MLflow tracking URI (default: ini grd_tracking_uri, then MLFLOW_TRACKING_URI, "
        "then sqlite:///<project>/mlflow.db).",
    )
    parser.add_argument(
        "--from",
        dest="report_json",
        metavar="REPORT_JSON",
        type=Path,
        help="read the verdicts from a report.json written by --grd-report instead of "
        "the tracking store.",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``grd`` argument parser (also used to document the command)."""
    parser = _Parser(
        prog="grd",
        description="pytest-grd project tools: scaffold a research project, read the verdicts "
        "recorded by pytest runs, regenerate reports and commit verdicts.",
        epilog=EPILOG,
    )
    parser.add_argument(
        "-C",
        "--project",
        metavar="DIR",
        type=Path,
        default=None,
        help="run as if started in DIR (default: the current directory).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    _add_init(commands)
    _add_status(commands)
    _add_history(commands)
    _add_diff(commands)
    _add_report(commands)
    _add_commit(commands)
    return parser


def _add_init(commands: _Commands) -> None:
    init = commands.add_parser(
        "init",
        help="scaffold a research project (idempotent; never overwrites a file).",
        description="Create experiments/ with an example hypothesis, data/raw/, notebooks/, "
        "a pyproject.toml with pytest-grd settings and jupytext pairing, a .gitignore, and "
        "run 'git init' and 'dvc init' where no repository exists yet. Existing files are "
        "kept and listed. In a git repository it created, it commits the scaffold.",
        epilog=EPILOG,
    )
    init.add_argument(
        "directory",
        nargs="?",
        default=".",
        type=Path,
        metavar="DIR",
        help="project directory, created if missing (default: .).",
    )
    init.add_argument(
        "--no-commit",
        action="store_true",
        help="do not commit the scaffold in a freshly created git repository.",
    )


def _add_status(commands: _Commands) -> None:
    status = commands.add_parser(
        "status",
        help="latest verdict of each hypothesis, from the tracking store.",
        description="List every hypothesis recorded in the project's MLflow experiment "
        "with the verdict of the latest session that ran it, one letter per earlier "
        "session's verdict, and a mark on those no test or notebook declares any more.",
        epilog=EPILOG,
    )
    _add_source_options(status)
    status.add_argument("--json", action="store_true", help="print the results as JSON.")


def _add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="MLflow tracking URI (default: ini grd_tracking_uri, then MLFLOW_TRACKING_URI, "
        "then sqlite:///<project>/mlflow.db).",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON.")


def _add_history(commands: _Commands) -> None:
    history = commands.add_parser(
        "history",
        help="a claim's verdict and evidence in every session that ran it.",
        description="One row per session that ran the hypothesis, oldest first: date, "
        "session, git commit (* = uncommitted changes), verdict, cases, and the evidence "
        "(p-value and effect when decided by statistics, else the mean of its metrics "
        "over the cases); flips are marked.",
        epilog=EPILOG,
    )
    history.add_argument("hypothesis", metavar="HYP_ID", help="the hypothesis id, e.g. hyp_001.")
    history.add_argument("--metric", metavar="NAME", help="show this metric's mean.")
    history.add_argument(
        "--limit", metavar="N", type=int, default=0, help="only the last N sessions."
    )
    _add_store_option(history)


def _add_diff(commands: _Commands) -> None:
    diff = commands.add_parser(
        "diff",
        help="compare two sessions, commits or reports: verdict flips, metric drift.",
        description="Compare the verdicts, statistics and case metrics of two sides. A side "
        "is 'latest' (what grd status shows), 'previous' (each hypothesis's session before "
        "its latest), a session id or prefix (session:ID), a git commit (commit:REF: the "
        "latest session at that commit), or a report.json or its folder (report:PATH). "
        "Default: previous latest.",
        epilog=EPILOG,
    )
    diff.add_argument("old", nargs="?", metavar="OLD", help="the old side (default: previous).")
    diff.add_argument("new", nargs="?", metavar="NEW", help="the new side (default: latest).")
    diff.add_argument(
        "--tolerance",
        type=float,
        metavar="FRACTION",
        help="relative move of a metric's mean that counts as drift (default: 0.05).",
    )
    diff.add_argument("--metric", metavar="NAME", help="show this metric for every hypothesis.")
    diff.add_argument(
        "--fail-on-flip",
        action="store_true",
        help="exit with status 1 when a verdict flipped (for CI).",
    )
    _add_store_option(diff)


def _add_report(commands: _Commands) -> None:
    report = commands.add_parser(
        "report",
        help="regenerate the --grd-report output without re-running anything.",
        description="Write report.html, report.md and report.json from the tracking store "
        "(latest verdict per hypothesis) or from an existing report.json.",
        epilog=EPILOG,
    )
    _add_source_options(report)
    report.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        default=None,
        help="output directory (default: <project>/grd-report).",
    )


def _add_commit(commands: _Commands) -> None:
    sync = commands.add_parser(
        "sync",
        help="send runs left in the tracking journal (.grd/journal) to the store.",
        description="Send what sessions left in .grd/journal (--grd-offline, a store that "
        "was locked or gone, a killed session) to the tracking store. Idempotent: "
        "running it again never makes a second run. Runs a killed session left RUNNING "
        "end as KILLED (INCONCLUSIVE). A journal is removed once its store has it all.",
        epilog=EPILOG,
    )
    sync.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="send to this store instead of the one each session used.",
    )
    sync.add_argument("--session", metavar="ID", help="only this session (a prefix of its id).")
    sync.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="longest wait on a lock or a request (default 30).",
    )
    commit = commands.add_parser(
        "commit",
        help="commit a hypothesis's recorded verdict in the experiment format.",
        description="Make a git commit 'experiment(hyp-001): <claim>' whose body gives the "
        "run id, hypothesis, result and next step, holding the hypothesis's source files and "
        "the .dvc files of the data it read. Refuses when no verdict is recorded or the work "
        "tree has other changes (those are never committed).",
        epilog=EPILOG,
    )
    commit.add_argument("hypothesis", metavar="HYP_ID", help="the hypothesis id, e.g. hyp_001.")
    commit.add_argument(
        "--next",
        dest="next_step",
        metavar="TEXT",
        help="the next step, written as the '- Next:' line.",
    )
    commit.add_argument(
        "--allow-dirty",
        action="store_true",
        help="commit even though other files changed (they stay uncommitted).",
    )
    commit.add_argument(
        "--dry-run",
        action="store_true",
        help="print the message and the files, commit nothing (on any work tree: "
        "changes a commit would refuse are listed, not refused).",
    )
    _add_source_options(commit)


def _version() -> str:
    from .. import __version__

    return __version__


def _project(args: argparse.Namespace) -> Project:
    start: Path = args.project or Path.cwd()
    return find_project(start)


def _cmd_init(args: argparse.Namespace) -> int:
    from .scaffold import init_project

    base: Path = args.project or Path.cwd()
    directory = args.directory if args.directory.is_absolute() else base / args.directory
    result = init_project(directory, commit=not args.no_commit)
    for line in [*result.created, *result.kept, *result.notes]:
        print(line)
    where = directory.resolve()
    if result.changed:
        print(f"research project ready in {where}: run 'pytest --grd-report' there")
    else:
        print(f"nothing to do: {where} is already a research project")
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    from .show import run_status

    return run_status(args)


def _cmd_history(args: argparse.Namespace) -> int:
    from .show import run_history

    return run_history(args)


def _cmd_diff(args: argparse.Namespace) -> int:
    from .show import run_diff

    return run_diff(args)


def _cmd_report(args: argparse.Namespace) -> int:
    from .regenerate import regenerate

    project = _project(args)
    out = args.out if args.out is not None else project.report_dir
    written = regenerate(project, out, tracking_uri=args.tracking_uri, report_json=args.report_json)
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def _cmd_commit(args: argparse.Namespace) -> int:
    from .commit import make_commit, plan_commit
    from .scaffold import git_toplevel
    from .verdicts import recorded

    project = _project(args)
    toplevel = git_toplevel(project.root)
    if toplevel is None and not args.dry_run:
        raise CliError(f"{project.root} is not in a git repository: run 'grd init' or 'git init'")
    found = recorded(
        project,
        tracking_uri=args.tracking_uri,
        report_json=args.report_json,
        hypothesis=args.hypothesis,
    )
    result = found.results[0]
    if toplevel is None:  # --dry-run: the message is still worth seeing
        print(commit_message_of(result, args.next_step), end="")
        print(f"nothing to commit: {project.root} is not in a git repository")
        return EXIT_OK
    plan = plan_commit(result, project.root, toplevel, args.next_step)
    if args.dry_run:
        return _preview(plan, args)
    if plan.unrelated and not args.allow_dirty:
        raise CliError(
            f"refusing to commit {args.hypothesis}: the work tree has changes unrelated to it "
            f"({_listed(plan.unrelated)}); commit them first or pass --allow-dirty "
            "(they stay uncommitted)"
        )
    sha = make_commit(plan, toplevel)
    print(f"[{sha}] {plan.message.splitlines()[0]}")
    for path in plan.paths:
        print(f"  committed {path}")
    return EXIT_OK


def commit_message_of(result: Any, next_step: str | None) -> str:
    """The commit message (imported here so --help stays cheap)."""
    from .commit import commit_message

    return str(commit_message(result, next_step))


def _listed(paths: list[str]) -> str:
    shown = ", ".join(paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def _preview(plan: Any, args: argparse.Namespace) -> int:
    """``--dry-run``: the message, the files, and what a real run would say."""
    print(plan.message, end="")
    for path in plan.paths:
        print(f"would commit {path}")
    if not plan.paths:
        print("would commit no file (an empty commit records the verdict)")
    if plan.unrelated:
        count = len(plan.unrelated)
        print(f"would leave out {count} unrelated change(s): {_listed(plan.unrelated)}")
        if not args.allow_dirty:
            print("a real commit refuses these until they are committed, or with --allow-dirty")
    return EXIT_OK


def _cmd_sync(args: argparse.Namespace) -> int:
    from .sync import sync_project, sync_root

    for line in sync_project(sync_root(args.project or Path.cwd()), args):
        print(line)
    return EXIT_OK


_COMMANDS = {
    "init": _cmd_init,
    "status": _cmd_status,
    "history": _cmd_history,
    "diff": _cmd_diff,
    "report": _cmd_report,
    "commit": _cmd_commit,
    "sync": _cmd_sync,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``grd`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        return _COMMANDS[args.command](args)
    except CliError as exc:
        print(f"grd {args.command}: error: {exc}", file=sys.stderr)
        return exc.status
    except OSError as exc:
        print(f"grd {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        print(f"grd {args.command}: interrupted", file=sys.stderr)
        return 130
