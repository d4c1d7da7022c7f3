"""``grd commit``: record a hypothesis's verdict as a git commit.

The message follows the experiment format of the project's stack study::

    experiment(hyp-001): <claim>

    - Run ID: <MLflow run id of the hypothesis>
    - Hypothesis: <claim>
    - Result: VALIDATED (p = 0.004; auc effect +0.012, 90% CI [0.004, 0.02])
    - Data: data/raw/wine.csv (md5 1a2b..., rev 3f2e...)   one line per version read
    - Next: <what the user passed with --next>

The commit holds the hypothesis's own source files and the ``.dvc`` files of
the data its cases read (from the records' lineage), and nothing else: other
changes in the work tree make the command refuse unless ``--allow-dirty``,
and even then they stay out of the commit.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..gitinfo import first_line, git
from ..record import HypothesisResult
from .effects import evidence_text, p_value
from .project import CliError
from .verdicts import result_summary

__all__ = ["CommitPlan", "commit_message", "plan_commit", "make_commit", "scope_name"]

SUBJECT_LIMIT = 100


def _failure(done: subprocess.CompletedProcess[str]) -> str:
    return first_line(done) or f"exit status {done.returncode}"


def scope_name(hypothesis_id: str) -> str:
    """``hyp_001`` -> ``hyp-001``, as in the experiment commit format."""
    return hypothesis_id.replace("_", "-")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _lineage_lines(result: HypothesisResult) -> list[str]:
    """One line per data version the cases read: a target read at two
    revisions (``data.csv`` and ``data.csv@v1``) is listed twice."""
    seen: dict[tuple[str, str, str], str] = {}
    for case in result.cases:
        for entry in case.lineage:
            target = str(entry.get("target") or entry.get("path") or "")
            if not target:
                continue
            digest = str(entry.get("md5") or entry.get("hash") or entry.get("digest") or "")
            rev = str(entry.get("rev_resolved") or entry.get("rev_requested") or "")
            # A digest names the content; without one, the revision does.
            key = (target, digest, "" if digest else rev)
            if key in seen:
                continue
            parts = []
            if digest:
                parts.append(f"md5 {digest}")
            if rev:
                parts.append(f"rev {rev[:12]}")
            seen[key] = f"{target} ({', '.join(parts)})" if parts else target
    return list(seen.values())


def _run_id(result: HypothesisResult) -> str:
    if result.parent_run_id:
        return result.parent_run_id
    ids = [c.run_id for c in result.cases if c.run_id]
    if not ids:
        return "(not tracked)"
    if len(ids) <= 3:
        return ", ".join(ids)
    return f"{', '.join(ids[:3])} and {len(ids) - 3} more"


def _result_line(result: HypothesisResult) -> str:
    """``VALIDATED (p = 0.011; auc effect +0.018, 90% CI [...])`` or
    ``VALIDATED (3 validated; mae = 0.243 ± 0.012 over 3 cases)``."""
    summary = result_summary(result)
    evidence = evidence_text(result)
    if not evidence:
        return summary
    if p_value(result.stats) is not None:
        return f"{result.verdict} ({evidence})"
    return f"{summary[:-1]}; {evidence})" if summary.endswith(")") else f"{summary} ({evidence})"


def commit_message(result: HypothesisResult, next_step: str | None = None) -> str:
    """The experiment commit message for ``result``."""
    claim = _one_line(result.claim) or "(no claim declared)"
    subject = f"experiment({scope_name(result.id)}): {claim}"
    if len(subject) > SUBJECT_LIMIT:
        subject = subject[: SUBJECT_LIMIT - 3].rstrip() + "..."
    body = [
        f"- Run ID: {_run_id(result)}",
        f"- Hypothesis: {claim}",
        f"- Result: {_result_line(result)}",
    ]
    if result.verdict != "VALIDATED" and result.reason:
        body.append(f"- Reason: {_one_line(result.reason)}")
    body.extend(f"- Data: {line}" for line in _lineage_lines(result))
    if next_step:
        body.append(f"- Next: {_one_line(next_step)}")
    return subject + "\n\n" + "\n".join(body) + "\n"


@dataclass
class CommitPlan:
    """What ``grd commit`` will do: the message and the paths it commits
    (relative to the git work tree), and the other changes it leaves alone."""

    message: str
    paths: list[str]
    unrelated: list[str]


def _status(toplevel: Path) -> dict[str, str]:
    """Changed paths (relative to the work tree) -> their two-letter status."""
    done = git(toplevel, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    if done.returncode != 0:
        raise CliError(f"git status failed: {_failure(done)}")
    out: dict[str, str] = {}
    fields = done.stdout.split("\0")
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        out[path] = code
        if "R" in code or "C" in code:
            i += 1  # the rename's source path follows
    return out


def _relative(path: Path, toplevel: Path) -> str | None:
    try:
        return path.resolve().relative_to(toplevel).as_posix()
    except ValueError:
        return None  # outside this repository: not ours to commit


def _source_files(result: HypothesisResult, root: Path) -> set[Path]:
    files: set[Path] = set()
    for case in result.cases:
        location = case.location or ""
        path = location.rsplit(":", 1)[0] if ":" in location else location
        if not path:
            continue
        candidate = Path(path)
        if not candidate.is_absolute():
            candidate = root / candidate
        if candidate.is_file():
            files.add(candidate)
    return files


def _dvc_files(lineage: Iterable[dict[str, Any]], root: Path) -> set[Path]:
    """The ``.dvc`` files behind the targets the cases read, and the
    ``.gitignore`` DVC keeps beside each of them."""
    files: set[Path] = set()
    for entry in lineage:
        named = entry.get("dvc_file") or entry.get("dvcfile")
        targets = [named] if named else []
        targets += [entry.get("target"), entry.get("path")]
        for target in targets:
            if not target:
                continue
            path = Path(str(target))
            if not path.is_absolute():
                path = root / path
            found = _dvc_file_for(path, root)
            if found is not None:
                files.add(found)
                ignore = found.parent / ".gitignore"
                if ignore.is_file():
                    files.add(ignore)
                break
    return files


def _dvc_file_for(path: Path, root: Path) -> Path | None:
    if path.suffix == ".dvc" and path.is_file():
        return path
    # A file inside a tracked directory is versioned by the directory's .dvc.
    for candidate in (path, *path.parents):
        dvc_file = candidate.with_name(candidate.name + ".dvc")
        if dvc_file.is_file():
            return dvc_file
        if candidate == root or candidate == candidate.parent:
            break
    return None


def plan_commit(
    result: HypothesisResult, root: Path, toplevel: Path, next_step: str | None = None
) -> CommitPlan:
    """The commit ``grd commit`` would make for ``result`` in ``toplevel``."""
    lineage = [entry for case in result.cases for entry in case.lineage]
    ours = {
        rel
        for path in _source_files(result, root) | _dvc_files(lineage, root)
        if (rel := _relative(path, toplevel)) is not None
    }
    changed = _status(toplevel)
    paths = sorted(p for p in changed if p in ours)
    unrelated = sorted(f"{code.strip() or '?'} {p}" for p, code in changed.items() if p not in ours)
    return CommitPlan(message=commit_message(result, next_step), paths=paths, unrelated=unrelated)


def make_commit(plan: CommitPlan, toplevel: Path) -> str:
    """Stage and commit exactly ``plan.paths``; returns the new commit's sha.

    ``--only`` keeps whatever else the user had staged out of this commit;
    ``--allow-empty`` records the verdict even when no file changed since the
    code and data were last committed.
    """
    if plan.paths:
        added = git(toplevel, "add", "--", *plan.paths)
        if added.returncode != 0:
            raise CliError(f"git add failed: {_failure(added)}")
    done = git(
        toplevel,
        "commit",
        "--quiet",
        "--only",
        "--allow-empty",
        "-F",
        "-",
        "--",
        *plan.paths,
        stdin=plan.message,
    )
    if done.returncode != 0:
        raise CliError(f"git commit failed: {_failure(done)}")
    sha = git(toplevel, "rev-parse", "--short", "HEAD")
    return sha.stdout.strip()
