"""Shared fixtures: every test works in its own temporary directory (isolated per xdist worker)."""

from __future__ import annotations

import pytest
from hypothesis import settings


@pytest.fixture
def ci_settings() -> settings:
    """The ``ci`` profile's budget, whatever profile the run was started with."""
    return settings.get_profile("ci")
