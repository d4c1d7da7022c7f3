"""``grd report``: the ``--grd-report`` files, rebuilt from recorded verdicts.

Rendering is the report concern's (:func:`pytest_grd.report.write_report`);
this module only gathers its input from the tracking store or a
``report.json`` and says where the files went.  The header is the recorded
session's (commit, machine, packages: :func:`.store.session_header`), not the
machine that regenerates it; hypotheses the code no longer declares get a note.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from .project import CliError, Project
from .verdicts import recorded

__all__ = ["regenerate"]


def _writer() -> Any:
    try:
        from ..report.render import write_report
    except ImportError as exc:
        raise CliError(f"cannot render reports: {exc}") from None
    return write_report


def regenerate(
    project: Project,
    out_dir: Path,
    *,
    tracking_uri: str | None = None,
    report_json: Path | None = None,
) -> list[Path]:
    """Write the report for the latest recorded verdicts to ``out_dir``;
    returns the files written."""
    write_report = _writer()
    found = recorded(project, tracking_uri=tracking_uri, report_json=report_json)
    if not found.results:
        raise CliError(f"no hypotheses recorded in {found.source}: nothing to report")
    meta: dict[str, Any] = dict(found.meta)
    meta.setdefault("command", "grd report")
    meta.setdefault("source", found.source)
    meta.setdefault("date", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    meta["regenerated_from"] = found.source
    notes = list(meta.get("notes") or [])
    notes += [
        f"{hid}: removed from the code (no test or notebook declares it any more); "
        "its last recorded verdict is shown"
        for hid in sorted(found.removed)
    ]
    if notes:
        meta["notes"] = notes
    out_dir.mkdir(parents=True, exist_ok=True)
    written = write_report(found.results, meta, out_dir)
    return [Path(p) for p in written.values()]
