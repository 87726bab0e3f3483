"""The storyboards plugin, tested with Aladdin's test kit (``core.testing``): the content type and
its before-write checks over HTTP, the summary route, the policy rules, and loading by entry point."""

from pathlib import Path

import pytest

import aladdin_storyboards

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_a_new_board_is_a_draft(client, team, boards_url):
    board = {"sceneNumber": 3, "content": {"title": "The chase", "panels": [{"caption": "wide", "duration": 2.5}]}}
    r = client.as_user(team["collaborator"]).post(boards_url(), json=board)
    assert r.status_code == 201, r.json
    assert r.json["status"] == "draft" and r.json["confidential"] is False
    assert r.json["createdBy"] == str(team["collaborator"].id)


@pytest.mark.parametrize("panels, where", [([{"duration": -1}], "panels[0]"),
                                           ([{"duration": 1}, {"duration": "long"}], "panels[1]")])
def test_bad_panels_are_refused_and_nothing_is_stored(client, team, boards_url, panels, where):
    editor = client.as_user(team["editor"])
    r = editor.post(boards_url(), json={"content": {"panels": panels}})
    assert r.status_code == 422 and where in r.json["message"]
    assert editor.get(boards_url()).json["total"] == 0


def test_summary_counts_boards_for_members_who_edit(client, actors, team):
    project = team["project"]
    for scene, status, durations in ((1, "approved", [2, 3]), (2, "review", [4])):
        actors.content(project, "storyboards", {"sceneNumber": scene, "status": status, "content": {
            "panels": [{"caption": "p", "duration": d} for d in durations]}}, team["editor"])
    url = f"/api/v1/projects/{project.slug}/storyboards/summary"
    summary = client.as_user(team["collaborator"]).get(url)
    assert summary.status_code == 200, summary.json
    assert summary.json["total"] == 2 and summary.json["durationSeconds"] == 9.0
    assert summary.json["byStatus"] == {"draft": 0, "review": 1, "approved": 1}
    assert client.as_user(team["viewer"]).get(url).status_code == 403  # the plugin's permitted rule
    assert client.as_user(team["outsider"]).get(url).status_code == 404
    assert client.get(url).status_code == 401


def test_only_the_owner_deletes_a_board(client, actors, team, boards_url):
    board = actors.content(team["project"], "storyboards", {"content": {}}, team["editor"])
    assert client.as_user(team["editor"]).delete(boards_url(board["id"])).status_code == 403
    assert client.as_user(team["owner"]).delete(boards_url(board["id"])).status_code == 204


def test_loaded_by_its_entry_point(make_app, install_plugin):
    """What ``pip install`` gives an operator: the entry point in pyproject.toml, nothing else."""
    dist = install_plugin.from_pyproject(PYPROJECT)
    app = make_app(plugins=(), load_entry_points=True)
    ext = app.extensions["aladdin"]
    assert ext.pm.get_plugin("storyboards") is aladdin_storyboards
    assert "storyboards" in ext.content_types and dist.version == aladdin_storyboards.__version__
    assert any(rule.rule.endswith("/storyboards/summary") for rule in app.url_map.iter_rules())
    blocked = make_app(plugins=(), load_entry_points=True, disabled_plugins={"storyboards"})
    assert "storyboards" not in blocked.extensions["aladdin"].content_types
