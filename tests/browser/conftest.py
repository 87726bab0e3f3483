"""What every browser test needs: Debian's Chromium (installed when missing and we may)."""

from __future__ import annotations

import pytest

from tests.installing import chromium_path


@pytest.fixture(scope="module")
def chromium():
    """Chromium's path; the module is skipped, saying why, where it cannot be installed."""
    found, reason = chromium_path()
    if not found:
        pytest.skip(reason)
    return found
