"""The report as Markdown, fit for a pull-request comment or a GitHub job summary.

Every piece of user text is escaped for Markdown *and* inline HTML (GitHub
renders some HTML in comments).  Case tables are capped so that the file
stays under GitHub's comment size limit; report.html and report.json hold
everything.  Pure logic: no pytest import.
"""

from __future__ import annotations

import re

from .model import HypothesisView, ReportView

__all__ = ["MAX_CASE_ROWS", "escape", "code", "render_markdown", "render_summary"]

#: Case rows per hypothesis in the Markdown (a PR comment holds 65,536 characters).
MAX_CASE_ROWS = 25

_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")


def escape(text: str) -> str:
    """Text as Markdown that renders literally, on one line."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", text)


def code(text: str) -> str:
    """Text in a code span (ids, parameters): backticks and pipes are made safe."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    if not text:
        return ""
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


_ICON = {"VALIDATED": "✅", "REJECTED": "❌", "INCONCLUSIVE": "⚠️"}


def _verdict(v: str) -> str:
    return f"{_ICON.get(v, '')} **{v}**".strip()


def _effect(h: HypothesisView) -> str:
    """The effect, its interval, p-value and note, as one cell."""
    parts = [f"**{escape(h.effect)}**" if h.effect else ""]
    parts += [escape(x) for x in (h.interval, h.p_text, h.note) if x]
    return "; ".join(p for p in parts if p)


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def render_summary(view: ReportView) -> str:
    """The summary part: counts, one line per hypothesis, baseline changes."""
    lines = ["## pytest-grd results", ""]
    counts = ", ".join(f"{n} {v.lower()}" for v, n in view.counts.items() if n)
    case_counts = ", ".join(f"{n} {v.lower()}" for v, n in view.case_counts.items() if n)
    lines.append(
        f"**{len(view.hypotheses)} hypotheses**: {counts or 'none'} ({case_counts or 'no'} cases)"
    )
    header = dict(view.header)
    commit = header.get("git commit", "")
    lines.append("")
    lines.append(
        " · ".join(
            part
            for part in (
                f"Commit {escape(commit)}" if commit and not commit.startswith("not ") else "",
                f"scale {code(header.get('scale', ''))}" if header.get("scale") else "",
                escape(header.get("date", "")),
            )
            if part
        )
    )
    lines.append("")
    if view.hypotheses:
        rows = [
            [code(h.id), _verdict(h.verdict), escape(h.claim), _effect(h), escape(h.reason)]
            for h in view.hypotheses
        ]
        lines += _table(["hypothesis", "verdict", "claim", "effect", "reason"], rows)
        lines.append("")
    b = view.baseline
    if b:
        lines.append(f"### Baseline ({code(b.get('path', ''))}, scale {code(b.get('scale', ''))})")
        lines.append("")
        if b.get("discrepancies"):
            for d in b["discrepancies"]:
                lines.append(
                    f"- **{escape(d['kind'].upper())}** {code(d.get('case') or d['hypothesis'])}: "
                    f"{escape(d['message'])}"
                )
        else:
            lines.append(
                f"No change against the baseline ({b.get('compared_hypotheses', 0)} "
                f"hypotheses, {b.get('compared_cases', 0)} cases compared)."
            )
        if b.get("new"):
            lines.append("")
            lines.append("Not in the baseline yet: " + ", ".join(code(h) for h in b["new"]))
        lines.append("")
    return "\n".join(lines)


def _hypothesis(h: HypothesisView) -> list[str]:
    counts = ", ".join(f"{n} {v.lower()}" for v, n in h.counts.items() if n)
    lines = [f"### {code(h.id)} {_verdict(h.verdict)}", ""]
    if h.claim:
        lines += [f"> {escape(h.claim)}", ""]
    if h.effect:
        lines += [_effect(h), ""]
    if h.reason:
        lines += [f"{escape(h.reason)} ({counts})", ""]
    else:
        lines += [f"({counts})", ""]
    for d in h.discrepancies:
        lines.append(f"- ❗ {escape(d)}")
    if h.discrepancies:
        lines.append("")
    for label, href in h.notebooks:
        link = f"[{code(label)}]({href})" if href else code(label)
        lines.append(f"Executed notebook: {link}")
        lines.append("")
    if h.metric_summary:
        rows = [[escape(cell) for cell in row] for row in h.metric_summary]
        lines += [*_table(["metric", "mean ± sd", "n", "min – max"], rows), ""]
    if h.stats:
        lines += ["<details><summary>Statistics</summary>", ""]
        lines += _table(["statistic", "value"], [[escape(k), escape(v)] for k, v in h.stats])
        lines += ["", "</details>", ""]
    head = ["case", *[escape(p) for p in h.param_columns], "seed"]
    head += [escape(m) for m in h.metric_columns]
    head += ["verdict", "duration", "run"]
    rows = []
    for r in h.rows[:MAX_CASE_ROWS]:
        run = f"[{code(r.run_id[:12])}]({r.run_url})" if r.run_url else code(r.run_id[:12])
        rows.append(
            [
                code(r.name) + (f"<br>{escape(r.reason)}" if r.reason else ""),
                *[escape(v) for v in r.params],
                escape(r.seed),
                *[escape(v) for v in r.metrics],
                _verdict(r.verdict),
                escape(r.duration),
                run,
            ]
        )
    lines += [f"<details><summary>Cases ({len(h.rows)})</summary>", "", *_table(head, rows)]
    if len(h.rows) > MAX_CASE_ROWS:
        lines.append("")
        lines.append(
            f"… and {len(h.rows) - MAX_CASE_ROWS} more case(s) in report.html / report.json."
        )
    lines += ["", "</details>", ""]
    if h.lineage:
        lines += _table(
            ["dataset", "path", "rev", "md5", "versioned", "validation", "cases"],
            [
                [
                    code(e["target"]),
                    code(e["path"]),
                    escape(e["rev_requested"])
                    + (f" → {code(e['rev_resolved'][:12])}" if e["rev_resolved"] else ""),
                    code(e["md5"]),
                    escape(e["versioned"]),
                    escape(e["validation"]),
                    escape(e["cases"]),
                ]
                for e in h.lineage
            ],
        )
        lines.append("")
    return lines


def render_markdown(view: ReportView) -> str:
    """The whole report: the summary, then a section per hypothesis."""
    lines = [render_summary(view), "<details><summary>Session</summary>", ""]
    lines += _table(["", ""], [[escape(k), escape(v)] for k, v in view.header])
    lines += ["", "</details>", ""]
    for note in view.notes:
        lines += [f"_{escape(note)}_", ""]
    for h in view.hypotheses:
        lines += _hypothesis(h)
    return "\n".join(lines).rstrip() + "\n"
