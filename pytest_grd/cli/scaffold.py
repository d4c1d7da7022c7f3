"""``grd init``: lay out a research project, idempotently.

Files come from ``pytest_grd/cli_templates``.  A file that already exists is
never touched, whatever its content: the command says it kept it and, for the
configuration files, what the kept file lacks.  ``git init`` and ``dvc init``
run only where no repository is there yet; nothing goes to the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..gitinfo import first_line, git
from .project import CliError

__all__ = ["FILES", "GITIGNORE_ENTRIES", "InitResult", "init_project", "project_name"]

#: (template in ``cli_templates``, path in the project).
FILES: tuple[tuple[str, str], ...] = (
    ("pyproject.toml.tmpl", "pyproject.toml"),
    ("gitignore.tmpl", ".gitignore"),
    ("README.md.tmpl", "README.md"),
    ("test_hyp_001.py.tmpl", "experiments/test_hyp_001.py"),
    ("data_README.md.tmpl", "data/README.md"),
    ("notebooks_README.md.tmpl", "notebooks/README.md"),
)

#: Directories created even though git does not version them empty.
DIRECTORIES = ("experiments", "data/raw", "notebooks")

#: What a project's ``.gitignore`` must keep out of git for pytest-grd.
GITIGNORE_ENTRIES = ("mlflow.db*", "mlruns/", "mlartifacts/", "grd-report/")

INITIAL_COMMIT = "Start a research project with grd init"


@dataclass
class InitResult:
    """What ``grd init`` did, one human-readable line per action."""

    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created)


def project_name(directory: Path) -> str:
    """A package-index-safe project name from the directory's name."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", directory.name).strip("-._")
    return name or "research"


def _template(name: str) -> str:
    return (resources.files("pytest_grd") / "cli_templates" / name).read_text(encoding="utf-8")


def git_toplevel(directory: Path) -> Path | None:
    """The work tree containing ``directory``, or ``None`` outside git."""
    done = git(directory, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        return None
    return Path(done.stdout.strip()).resolve()


def _missing_settings(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    missing = []
    if "[tool.pytest.ini_options]" not in text:
        missing.append("[tool.pytest.ini_options]")
    if "[tool.jupytext]" not in text:
        missing.append('[tool.jupytext] formats = "ipynb,py:percent"')
    return missing


def _missing_ignores(path: Path) -> list[str]:
    lines = {line.strip() for line in path.read_text(encoding="utf-8", errors="replace").split()}
    return [e for e in GITIGNORE_ENTRIES if not any(ln.startswith(e.rstrip("*/")) for ln in lines)]


def _write_files(root: Path, result: InitResult) -> None:
    name = project_name(root)
    for template, relative in FILES:
        target = root / relative
        if target.exists() or target.is_symlink():
            note = ""
            if relative == "pyproject.toml":
                missing = _missing_settings(target)
                if missing:
                    note = f" (it lacks {', '.join(missing)}: add them by hand)"
            elif relative == ".gitignore":
                missing = _missing_ignores(target)
                if missing:
                    note = f" (consider ignoring {', '.join(missing)})"
            result.kept.append(f"kept {relative}: it exists{note}")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_template(template).replace("{{project}}", name), encoding="utf-8")
        result.created.append(f"created {relative}")
    for relative in DIRECTORIES:
        directory = root / relative
        if not directory.is_dir():
            directory.mkdir(parents=True, exist_ok=True)
            result.created.append(f"created {relative}/")


def _dvc_init(root: Path, subdir: bool) -> None:
    """``dvc init`` through DVC's Python API (no subprocess, no network)."""
    try:
        from dvc.repo import Repo
    except ImportError:
        raise CliError("dvc is not installed: pip install 'pytest-grd[data]'") from None
    import contextlib
    import io

    try:
        # DVC prints a banner meant for its own CLI; this command says it itself.
        with contextlib.redirect_stdout(io.StringIO()):
            Repo.init(str(root), subdir=subdir)
    except Exception as exc:  # DVC raises many types; the user needs the message
        raise CliError(f"dvc init failed in {root}: {exc}") from None


def init_project(directory: Path, *, commit: bool = True) -> InitResult:
    """Scaffold ``directory`` (created if missing) as a research project."""
    result = InitResult()
    if directory.exists() and not directory.is_dir():
        raise CliError(f"{directory}: exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    root = directory.resolve()

    toplevel = git_toplevel(root)
    fresh_git = toplevel is None
    if fresh_git:
        done = git(root, "init", "-q")
        if done.returncode != 0:
            raise CliError(f"git init failed in {root}: {done.stderr.strip()}")
        result.created.append("created a git repository (git init)")
        toplevel = root
    else:
        result.kept.append(f"kept git repository at {toplevel}")

    _write_files(root, result)

    if (root / ".dvc").is_dir():
        result.kept.append("kept DVC repository (.dvc/)")
    else:
        _dvc_init(root, subdir=toplevel != root)
        result.created.append("created a DVC repository (dvc init)")

    if fresh_git and commit:
        _initial_commit(root, result)
    return result


def _initial_commit(root: Path, result: InitResult) -> None:
    """Commit the scaffold in a repository this command created, so that the
    first ``grd commit`` holds only the experiment.  Only what this command
    wrote is committed: a folder that already held files (a ``.env`` with a
    secret, data, notes) keeps them out of git until their owner decides."""
    written = [relative for _, relative in FILES if f"created {relative}" in result.created]
    dvc = [p for p in (".dvc/config", ".dvc/.gitignore", ".dvcignore") if (root / p).exists()]
    add = git(root, "add", "--", *written, *dvc)
    done = git(root, "commit", "-q", "-m", INITIAL_COMMIT) if add.returncode == 0 else add
    if done.returncode == 0:
        result.created.append(f"created the first commit: {INITIAL_COMMIT!r}")
    else:
        reason = first_line(done) or "git commit failed"
        result.notes.append(
            f"did not commit the scaffold ({reason}); commit it yourself before 'grd commit'"
        )
