"""pytest side of DVC-versioned data with lineage.

Registered in every session (it is cheap): it parses ``grd_datasets`` and
owns the per-process :class:`~pytest_grd.data.access.DataStore`, created on
the first ``grd_data`` use (only then are DVC and pandas imported).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ..settings import get_settings

if TYPE_CHECKING:
    from .access import DataStore
    from .datasets import Dataset


class DataPlugin:
    """Named datasets and the data store of this process."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.datasets: dict[str, Dataset] = {}
        lines = get_settings(config).datasets
        if lines:  # parsed (and checked) only when the project declares some
            from .datasets import DatasetError, parse_datasets

            try:
                self.datasets = parse_datasets(list(lines))
            except DatasetError as exc:
                raise pytest.UsageError(str(exc)) from None
        self._store: DataStore | None = None

    @property
    def store(self) -> DataStore:
        """The data store for the repository that holds the rootdir."""
        if self._store is None:
            from .access import DataStore

            self._store = DataStore(self.config.rootpath)
        return self._store

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
