"""The storyboards plugin's fixtures: Aladdin's test kit, with this plugin on every app it builds."""

import pytest

import aladdin_storyboards

# An installed Aladdin registers the kit with pytest by itself (its ``pytest11`` entry point);
# declaring it too is harmless, and needed when Aladdin runs from a checkout not installed as a
# package (as in Aladdin's own repository).
pytest_plugins = ["core.testing"]


@pytest.fixture
def aladdin_plugins():
    """The kit's ``app`` and ``make_app`` register these plugin objects."""
    return (aladdin_storyboards,)


@pytest.fixture
def boards_url(team):
    """The storyboards collection of the ``team`` project (or one board in it)."""
    return lambda board_id="": f"/api/v1/projects/{team['project'].slug}/content/storyboards" + (
        f"/{board_id}" if board_id else "")
