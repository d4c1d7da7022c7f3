"""Writing and reading a report: ``report.html``, ``report.md``, ``report.json``.

:func:`write_report` is what the pytest plugin calls at the end of a session
and what ``grd report`` calls to regenerate a report from ``report.json``
(read back with :func:`load_report`).  Pure logic: no pytest import.  Jinja2
renders the HTML with autoescaping on, so user text (claims, ids, parameters,
metric names, reasons) always shows as text.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..record import RECORD_SCHEMA_VERSION, CaseRecord, HypothesisResult, finite_json

__all__ = [
    "REPORT_FORMAT",
    "REPORT_SCHEMA_VERSION",
    "ReportError",
    "load_report",
    "render_html",
    "report_document",
    "write_report",
]

REPORT_FORMAT = "pytest-grd-report"
#: Bumped whenever a field of report.json changes meaning or disappears
#: (additions keep it); see docs/report.md for the schema.
REPORT_SCHEMA_VERSION = 1


class ReportError(ValueError):
    """A report.json that cannot be read; the message is one line."""


@lru_cache(maxsize=1)
def _template() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pytest_grd.report", "templates"),
        # Always on, whatever the file name: every value is escaped unless a
        # template marks it safe, and this template marks nothing safe.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
    )
    return env.get_template("report.html.j2")


def render_html(view: Any) -> str:
    """The HTML page of a :class:`~pytest_grd.report.model.ReportView`."""
    return str(_template().render(view=view))


def report_document(results: Sequence[HypothesisResult], meta: Mapping[str, Any]) -> dict[str, Any]:
    """The content of report.json (see docs/report.md, "report.json")."""
    hypotheses = []
    for r in results:
        entry = r.to_dict()
        entry["cases"] = [c.to_dict() for c in r.cases]
        hypotheses.append(entry)
    return {
        "format": REPORT_FORMAT,
        "schema_version": REPORT_SCHEMA_VERSION,
        "record_schema_version": RECORD_SCHEMA_VERSION,
        "meta": dict(meta),
        "hypotheses": hypotheses,
    }


def _atomic_write(path: Path, text: str) -> None:
    # A reader (a CI step, a browser refresh) never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        # mkstemp creates 0600; a report is meant to be shared like any file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(
    results: Sequence[HypothesisResult],
    meta: Mapping[str, Any],
    out_dir: Path | str,
    plots: bool = True,
) -> dict[str, Path]:
    """Write report.html, report.md and report.json to ``out_dir`` (created if
    needed); returns the paths by kind (``"html"``, ``"md"``, ``"json"``)."""
    from .markdown import render_markdown
    from .model import build_view

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "md": out / "report.md", "html": out / "report.html"}
    # Compact: with ``indent`` the json module falls back to its pure-Python
    # encoder, several times slower on a big session (jq or any viewer indents).
    # Strict JSON (no NaN / Infinity tokens, which most parsers refuse).
    document = finite_json(report_document(results, meta))
    text = json.dumps(document, separators=(",", ":"), default=str, allow_nan=False)
    _atomic_write(paths["json"], text + "\n")
    view = build_view(results, meta, out.resolve(), plots=plots)
    _atomic_write(paths["md"], render_markdown(view))  # Markdown shows no images
    _atomic_write(paths["html"], render_html(view))
    return paths


def load_report(path: Path | str) -> tuple[list[HypothesisResult], dict[str, Any]]:
    """Read a report.json (or the folder holding one) back into results and
    metadata, ready for :func:`write_report`."""
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"report {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"report {p} cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"report {p} is not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
        raise ReportError(f"report {p} is not a pytest-grd report.json")
    version = data.get("schema_version")
    if not isinstance(version, int) or version > REPORT_SCHEMA_VERSION:
        raise ReportError(
            f"report {p} has schema_version {version!r}; this pytest-grd reads up to "
            f"{REPORT_SCHEMA_VERSION}: upgrade pytest-grd"
        )
    results = []
    try:
        for entry in data.get("hypotheses", []):
            cases = [CaseRecord.from_dict(c) for c in entry.get("cases", [])]
            results.append(
                HypothesisResult(
                    id=entry["id"],
                    claim=entry.get("claim", ""),
                    verdict=entry["verdict"],
                    reason=entry.get("reason", ""),
                    cases=cases,
                    stats=entry.get("stats"),
                    parent_run_id=entry.get("parent_run_id"),
                    partial=entry.get("partial", ""),
                )
            )
    except (KeyError, TypeError) as exc:
        raise ReportError(f"report {p} has a malformed hypothesis entry: {exc}") from None
    meta = data.get("meta") or {}
    if not isinstance(meta, dict):
        raise ReportError(f"report {p}: 'meta' must be an object")
    return results, meta
