"""The ``grd_data`` fixture's object."""

from __future__ import annotations

import pytest


class DataAccess:
    pass


def data_access_for(request: pytest.FixtureRequest) -> DataAccess:
    raise NotImplementedError("grd_data is not available yet")
