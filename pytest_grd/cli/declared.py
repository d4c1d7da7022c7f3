"""Whether a recorded hypothesis is still declared in the project's code.

``grd`` does not run pytest's collection (seconds, imports the project's
code, may need data or GPUs); it reads text.  A hypothesis is *declared* by a
file that holds its id as a marker argument (``hypothesis("hyp_001"``,
``hypothesis(id="hyp_001"``, ``hypothesis(NAME`` with ``NAME = "hyp_001"``
in the same file, an f-string that can produce it such as
``hypothesis(f"hyp_{i:03d}"``) or as a notebook's ``hypothesis: hyp_001``
metadata (jupytext header, ``.ipynb`` JSON).  The file a case last ran from
(its node id) is read first; only when the id is not there any more are the
project's ``.py`` and ``.ipynb`` files searched (it may have moved), under
pytest's ``testpaths`` when set, skipping pytest's ``norecursedirs`` and the
outputs (stores, reports, caches, virtual environments).  When that file
passes a marker an id its text does not give (a variable set elsewhere), the
answer is "cannot tell", never "removed".

Pure logic: no pytest import.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

__all__ = ["Declarations", "declaration_pattern"]

#: Directory names never searched (pytest's default ``norecursedirs`` and
#: what tools write next to the code).
SKIP_DIRS = (
    "*.egg",
    ".*",
    "_darcs",
    "build",
    "CVS",
    "dist",
    "node_modules",
    "venv",
    "{arch}",
    "__pycache__",
    "site-packages",
    "mlruns",
    "mlartifacts",
    "grd-report",
)
SUFFIXES = (".py", ".ipynb")
#: Files larger than this are data, not declarations.
MAX_FILE_BYTES = 2_000_000
#: The search gives up (the answer is "unknown") after this many entries.
MAX_ENTRIES = 50_000


def declaration_pattern(hypothesis: str) -> re.Pattern[str]:
    """Matches a declaration of ``hypothesis`` (see the module docstring);
    group ``name`` is a variable passed to the marker, to be resolved."""
    hid = re.escape(hypothesis)
    end = r"(?![\w.-])"
    return re.compile(
        rf"hypothesis\(\s*(?:id\s*=\s*)?(?P<q>[\"']){hid}(?P=q)"
        rf"|hypothesis[\"']?\s*[:=]\s*(?P<q2>[\"']?){hid}(?P=q2){end}"
    )


def _assigned_and_marked(hypothesis: str, text: str) -> bool:
    """``NAME = "hyp_001"`` and ``hypothesis(NAME`` in the same text."""
    hid = re.escape(hypothesis)
    for match in re.finditer(rf"\b([A-Za-z_]\w*)\s*(?::[^=\n]*)?=\s*([\"']){hid}\2", text):
        name = re.escape(match.group(1))
        if re.search(rf"hypothesis\(\s*(?:id\s*=\s*)?{name}\b", text):
            return True
    return False


#: A marker whose id is computed: ``.hypothesis(f"hyp_{i}"`` or ``.hypothesis(name``.
_COMPUTED = re.compile(
    r"\.hypothesis\(\s*(?:id\s*=\s*)?(?:[fF](?P<q>[\"'])(?P<template>[^\"'\n]*)(?P=q)"
    r"|(?P<name>[A-Za-z_][\w.]*))"
)


def _assigned(name: str, text: str) -> bool:
    """Whether ``text`` gives ``name`` a string literal (its value is then
    known, and :func:`_assigned_and_marked` has judged it)."""
    if name in ("True", "False", "None"):
        return True
    return re.search(rf"\b{re.escape(name)}\s*(?::[^=\n]*)?=\s*[\"']", text) is not None


def _template_matches(template: str, hypothesis: str) -> bool:
    """Whether an f-string's text could produce ``hypothesis`` (each
    ``{...}`` stands for one or more characters)."""
    parts = re.split(r"\{[^{}]*\}", template)
    pattern = ".+".join(re.escape(part) for part in parts)
    return re.fullmatch(pattern, hypothesis) is not None


def _declares(hypothesis: str, text: str) -> bool | None:
    """``True``: ``text`` declares ``hypothesis``; ``None``: it may, with an
    id computed at collection (a variable the text does not assign); else
    ``False``."""
    if hypothesis in text and (
        declaration_pattern(hypothesis).search(text) or _assigned_and_marked(hypothesis, text)
    ):
        return True
    maybe = False
    for match in _COMPUTED.finditer(text):
        template = match.group("template")
        if template is not None:
            if _template_matches(template, hypothesis):
                return True
        elif match.group("name") and not _assigned(match.group("name"), text):
            maybe = True
    return None if maybe else False


class Declarations:
    """Answers "is this hypothesis still in the code?" for one project,
    reading each file at most once."""

    def __init__(
        self, root: Path, testpaths: Iterable[str] = (), norecursedirs: Iterable[str] = ()
    ) -> None:
        self.root = root
        self.testpaths = [p for p in testpaths if p]
        self.skip = (*SKIP_DIRS, *(d for d in norecursedirs if d))
        self._texts: dict[Path, str | None] = {}
        self._searched: list[Path] | None = None
        self.complete = True

    def _text(self, path: Path) -> str | None:
        if path not in self._texts:
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    self._texts[path] = None
                else:
                    self._texts[path] = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                self._texts[path] = None
        return self._texts[path]

    def _walk(self) -> Iterator[Path]:
        tops = [self.root / p for p in self.testpaths] or [self.root]
        seen = 0
        for top in tops:
            if top.is_file():
                yield top
                continue
            for dirpath, dirnames, filenames in os.walk(top):
                dirnames[:] = sorted(
                    d for d in dirnames if not any(fnmatch.fnmatch(d, pat) for pat in self.skip)
                )
                seen += len(dirnames) + len(filenames)
                if seen > MAX_ENTRIES:
                    self.complete = False
                    return
                for name in sorted(filenames):
                    if name.endswith(SUFFIXES):
                        yield Path(dirpath) / name

    def _files(self) -> list[Path]:
        if self._searched is None:
            self._searched = list(self._walk())
        return self._searched

    def declared(self, hypothesis: str, nodeids: Iterable[str] = ()) -> bool | None:
        """``True`` when a file declares ``hypothesis``, ``False`` when none
        does; ``None`` (cannot tell) when the file its cases ran from still
        computes marker ids, or the search was cut short."""
        unsure = False
        for nodeid in nodeids:
            relative = nodeid.split("::", 1)[0]
            text = self._text(self.root / relative) if relative else None
            if text is not None:
                found = _declares(hypothesis, text)
                if found:
                    return True
                unsure = unsure or found is None
        for path in self._files():
            text = self._text(path)
            if text is not None and _declares(hypothesis, text):
                return True
        return None if unsure or not self.complete else False

    def removed(self, recorded: Mapping[str, Iterable[str]]) -> set[str]:
        """The hypotheses of ``recorded`` (id -> node ids of its cases) that
        no file declares any more."""
        return {hid for hid, nodeids in recorded.items() if self.declared(hid, nodeids) is False}
