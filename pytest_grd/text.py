"""One-line messages: what a verdict reason, a terminal line or a run tag holds.

Every message pytest-grd derives from an exception or a tool's output goes
through :func:`one_line`, so reasons read the same everywhere and none of them
carries a traceback or a multi-line dump into a summary line.
"""

from __future__ import annotations

__all__ = ["one_line", "REASON_LIMIT"]

#: The longest reason a record, a tag or a summary line carries.
REASON_LIMIT = 300


def one_line(text: object, limit: int = REASON_LIMIT) -> str:
    """``text`` with its whitespace folded into single spaces, cut to ``limit``
    characters (an ellipsis, ``…``, marks a cut)."""
    folded = " ".join(str(text).split())
    if len(folded) <= limit:
        return folded
    return folded[: max(limit - 1, 0)] + "…"
