"""Natural sort: ``seed=2`` before ``seed=19``, ``C=3`` before ``C=100``.

:func:`natural_key` splits a text into runs of digits (read as numbers, with
their decimals and exponent: ``0.001 < 0.01``, ``1e-05 < 0.001``) and runs of
other text (compared case-insensitively), so that sweep points and seeds sort
the way a person counts.  The key is a total order: comparing two keys never
raises, and two different texts never get equal keys.  Pure logic.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

__all__ = ["natural_key", "value_key"]

# A number: digits, optional decimals and exponent.  A minus sign counts only
# at the start or after a separator (``lr=-0.5``), not inside a name (``run-2``).
_NUMBER = re.compile(
    r"(?:(?<![^\s=,:;(\[{])-)?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]{1,4}(?![0-9]))?"
)

#: One token: (0, number, "") for a number, (1, 0, casefolded text) for text,
#: so that tokens at the same place always compare field by field.
Token = tuple[int, Decimal, str]
_ZERO = Decimal(0)


def _text(part: str) -> Token:
    return (1, _ZERO, part.casefold())


def natural_key(text: object) -> tuple[tuple[Token, ...], str]:
    """The sort key of ``text`` (anything, through ``str``): numbers inside it
    compare by value, the rest case-insensitively; the text itself breaks
    ties (``"01"`` and ``"1"``), so the order is total."""
    string = str(text)
    tokens: list[Token] = []
    end = 0
    for match in _NUMBER.finditer(string):
        if match.start() > end:
            tokens.append(_text(string[end : match.start()]))
        tokens.append((0, Decimal(match.group()), ""))
        end = match.end()
    if end < len(string):
        tokens.append(_text(string[end:]))
    return tuple(tokens), string


def value_key(value: Any) -> tuple[tuple[Token, ...], str]:
    """The natural key of a parameter value: numbers by value (a float
    through its shortest exact text), everything else by its text."""
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return natural_key(repr(value))
    return natural_key("" if value is None else value)
