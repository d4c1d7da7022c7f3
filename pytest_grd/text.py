"""One-line messages: what a verdict reason, a terminal line or a run tag holds.

Every message pytest-grd derives from an exception or a tool's output goes
through :func:`one_line`, so reasons read the same everywhere and none of them
carries a traceback or a multi-line dump into a summary line.
"""

from __future__ import annotations

import re

__all__ = ["one_line", "redact", "REASON_LIMIT"]

#: ``scheme://user:secret@`` in any text (a URI on a command line, in a message).
_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+):[^@\s/]*@")

#: The longest reason a record, a tag or a summary line carries.
REASON_LIMIT = 300


def redact(text: str) -> str:
    """``text`` with the password of every URI in it replaced by ``***``
    (``http://alice:secret@host`` -> ``http://alice:***@host``)."""
    return _CREDENTIALS.sub(r"\1:***@", text)


def one_line(text: object, limit: int = REASON_LIMIT) -> str:
    """``text`` with its whitespace folded into single spaces, cut to ``limit``
    characters (an ellipsis, ``…``, marks a cut)."""
    folded = " ".join(str(text).split())
    if len(folded) <= limit:
        return folded
    return folded[: max(limit - 1, 0)] + "…"
