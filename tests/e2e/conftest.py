"""Fixtures every realtime end-to-end module uses."""

from __future__ import annotations

import pytest

from tests.e2e.realtime_support import close_all


@pytest.fixture
def clients():
    """Socket.IO clients a test makes; closed (in parallel) when it ends."""
    made = []
    yield made
    close_all(made)
