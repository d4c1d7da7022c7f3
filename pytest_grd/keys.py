"""Stash keys and names shared by the concern plugins.

Small on purpose: every plugin imports it, so it depends on nothing of
pytest-grd but the types it names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .case import Case  # noqa: F401
    from .session import GrdSession  # noqa: F401
    from .settings import Settings  # noqa: F401

__all__ = ["CASE_KEY", "SEED_PARAM", "SESSION_KEY", "SETTINGS_KEY"]

#: The case of a hypothesis item (absent on plain tests).
CASE_KEY = pytest.StashKey["Case"]()
#: The process's :class:`~pytest_grd.session.GrdSession`.
SESSION_KEY = pytest.StashKey["GrdSession"]()
#: The process's resolved :class:`~pytest_grd.settings.Settings`.
SETTINGS_KEY = pytest.StashKey["Settings"]()
#: Parameter name of the seed axis that ``seeds=`` adds to a sweep.
SEED_PARAM = "grd_seed"
