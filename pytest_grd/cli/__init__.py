"""The ``grd`` command: start a research project, read its verdicts, commit them.

Commands (``grd COMMAND --help`` for each)::

    grd init [DIR]                       scaffold a research project
    grd status                           latest verdict of each hypothesis
    grd report [--out DIR] [--from F]    regenerate the report without re-running
    grd commit HYP_ID [--next TEXT]      commit a verdict in the experiment format

Exit status: 0 success; 1 the command refused or failed (one line on stderr
says why); 2 the command line was wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TypeAlias

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
        "with the verdict of the latest session that ran it.",
        epilog=EPILOG,
    )
    _add_source_options(status)
    status.add_argument("--json", action="store_true", help="print the results as JSON.")


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
        "--dry-run", action="store_true", help="print the message and the files, commit nothing."
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
    from .verdicts import recorded, result_summary

    project = _project(args)
    found = recorded(project, tracking_uri=args.tracking_uri, report_json=args.report_json)
    if args.json:
        print(json.dumps([r.to_dict() for r in found.results], indent=2, default=str))
        return EXIT_OK
    noun = "hypothesis" if len(found.results) == 1 else "hypotheses"
    print(f"{project.root.name}: {len(found.results)} {noun} (from {found.source})")
    width = max((len(r.id) for r in found.results), default=10)
    for result in found.results:
        claim = " ".join(result.claim.split())
        print(f"  {result.id:<{width}}  {result_summary(result)}  {claim}")
    return EXIT_OK


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
    if toplevel is None:
        raise CliError(f"{project.root} is not in a git repository: run 'grd init' or 'git init'")
    found = recorded(project, tracking_uri=args.tracking_uri, report_json=args.report_json)
    result = next((r for r in found.results if r.id == args.hypothesis), None)
    if result is None:
        known = ", ".join(r.id for r in found.results) or "none"
        raise CliError(
            f"no recorded verdict for {args.hypothesis} in {found.source} (recorded: {known}); "
            "run it first: pytest -k " + args.hypothesis
        )
    plan = plan_commit(result, project.root, toplevel, args.next_step)
    if plan.unrelated and not args.allow_dirty:
        shown = ", ".join(plan.unrelated[:3])
        more = f" and {len(plan.unrelated) - 3} more" if len(plan.unrelated) > 3 else ""
        raise CliError(
            f"refusing to commit {args.hypothesis}: the work tree has changes unrelated to it "
            f"({shown}{more}); commit them first or pass --allow-dirty (they stay uncommitted)"
        )
    if args.dry_run:
        print(plan.message, end="")
        for path in plan.paths:
            print(f"would commit {path}")
        return EXIT_OK
    sha = make_commit(plan, toplevel)
    print(f"[{sha}] {plan.message.splitlines()[0]}")
    for path in plan.paths:
        print(f"  committed {path}")
    return EXIT_OK


_COMMANDS = {
    "init": _cmd_init,
    "status": _cmd_status,
    "report": _cmd_report,
    "commit": _cmd_commit,
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
