"""pytest side of notebooks as hypotheses.

Collects ``.ipynb`` and jupytext ``.py`` notebooks whose metadata declares a
``grd`` hypothesis; every other file is left to pytest.  A jupytext ``.py``
hypothesis is never also imported as a test module, whatever its name.
Nothing heavy is imported here: papermill, nbformat and jupytext load when the
first notebook case runs.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from ..settings import get_settings

__all__ = ["NotebookPlugin"]


class NotebookPlugin:
    """Collection of notebook hypotheses and their settings."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        #: Per-cell timeout in seconds (a notebook's grd ``timeout`` wins).
        self.timeout = get_settings(config).notebook_timeout
        #: Kernel name (a notebook's grd ``kernel`` wins).
        self.kernel: str = get_settings(config).kernel

    @pytest.hookimpl(wrapper=True)
    def pytest_collect_file(
        self, file_path: Path, parent: pytest.Collector
    ) -> Generator[None, list[pytest.Collector], list[pytest.Collector]]:
        collectors = yield
        if file_path.suffix not in (".py", ".ipynb"):
            return collectors
        if ".grd" in file_path.parts:
            return collectors  # our own executed notebooks
        from .spec import NotebookError, sniff

        spec = error = None
        try:
            spec = sniff(file_path)
        except NotebookError as exc:
            error = exc
        if spec is None and error is None:
            return collectors
        from .item import NotebookFile  # only once a notebook hypothesis is found

        # A jupytext notebook named test_*.py would also become a Module;
        # Modules import lazily (at collect), so dropping it here means the
        # notebook is never imported as Python.
        kept = [c for c in collectors if not (isinstance(c, pytest.Module) and c.path == file_path)]
        node = NotebookFile.from_parent(parent, path=file_path)
        node.spec = spec
        node.error = error
        kept.append(node)
        return kept
