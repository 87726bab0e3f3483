"""The example third-party plugin (examples/aladdin-storyboards) works through its entry point alone."""

from __future__ import annotations

import importlib
import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.app import create_app
from core.plugins import ENTRY_POINT_GROUP
from core.projects import add_member, create_project
from tests.conftest import Actors, make_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "aladdin-storyboards"
PLUGIN = "storyboards"


def _entry_point():
    return next((ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == PLUGIN), None)


@pytest.fixture(scope="module")
def storyboards_installed(tmp_path_factory):
    """pip-install the example (a real wheel build, entry point and all) into a private directory
    that only this process puts on its path.

    Installing into the shared virtualenv would race the rest of the suite: pytest-xdist runs
    other modules at the same time, and a server they start while pip is half-way through sees
    the entry point before its module exists, and (rightly) refuses to start. A private target
    also keeps every other test's plugin set the same whatever order the suite runs in."""
    source = tmp_path_factory.mktemp("example-src") / EXAMPLE.name
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    target = tmp_path_factory.mktemp("example-site")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                           str(source)], capture_output=True, text=True)
    assert done.returncode == 0, f"pip install of the example failed:\n{done.stdout}\n{done.stderr}"
    shadowed = sys.modules.pop("aladdin_storyboards", None)
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    try:
        ep = _entry_point()
        assert ep is not None and ep.value == "aladdin_storyboards"
        assert Path(ep.load().__file__).resolve().is_relative_to(target.resolve())
        yield importlib.metadata.version("aladdin-storyboards")
    finally:
        sys.path.remove(str(target))
        sys.modules.pop("aladdin_storyboards", None)
        if shadowed is not None:
            sys.modules["aladdin_storyboards"] = shadowed
        importlib.invalidate_caches()


@pytest.fixture
def story_app(storyboards_installed, tmp_path, redis_server):
    """An app loading installed entry points (the example among them), with a crew in one project."""
    app = create_app(make_settings(tmp_path, redis_server), load_entry_points=True)
    app.testing = True
    with app.app_context():
        actors = Actors(app)
        owner = actors.user("owner@example.com")
        project = create_project(app, owner, "Storyboard Film", "storyboard-film")
        crew = {"owner": owner, "project": project, "outsider": actors.user("outsider@example.com")}
        for role in ("editor", "collaborator", "viewer"):
            crew[role] = actors.user(f"{role}@example.com")
            add_member(app, project, crew[role], role, owner)
        app.crew = crew
        yield app
    app.extensions["aladdin"].db.close()


def boards_url(app, doc_id: str = "") -> str:
    return f"/api/v1/projects/{app.crew['project'].slug}/content/storyboards" + (f"/{doc_id}" if doc_id else "")


def test_plugin_is_listed_with_its_version(story_app, storyboards_installed):
    assert storyboards_installed == "0.2.0"
    r = story_app.test_client().get("/api/v1/plugins", headers=story_app.crew["viewer"].headers)
    mine = {p["name"]: p for p in r.json["items"]}[PLUGIN]
    assert mine["version"] == "0.2.0" and mine["builtin"] is False and mine["module"] == "aladdin_storyboards"
    assert mine["hooks"] == ["aladdin_before_content_write", "aladdin_blueprints", "aladdin_content_types",
                             "aladdin_policy_files"]


def test_content_type_works_over_http(story_app):
    client, crew = story_app.test_client(), story_app.crew
    board = {"sceneNumber": 3, "confidential": True,
             "content": {"title": "The chase", "panels": [{"caption": "wide", "duration": 2.5},
                                                          {"caption": "close", "duration": 1.5}]}}
    r = client.post(boards_url(story_app), json=board, headers=crew["collaborator"].headers)
    assert r.status_code == 201, r.json
    assert r.json["status"] == "draft" and r.json["confidential"] is True  # the plugin's before-write hook
    assert r.json["createdBy"] == str(crew["collaborator"].id) and r.json["version"] == 1
    doc_id = r.json["id"]
    r = client.patch(boards_url(story_app, doc_id), json={"status": "review"}, headers=crew["collaborator"].headers)
    assert r.status_code == 200 and r.json["status"] == "review" and r.json["version"] == 2
    listed = client.get(boards_url(story_app) + "?status=review", headers=crew["viewer"].headers).json
    assert [d["id"] for d in listed["items"]] == [doc_id]
    # The type's schema and the plugin's checks refuse bad boards with 422, writing nothing.
    assert client.post(boards_url(story_app), json={"status": "final"}, headers=crew["editor"].headers).status_code == 422
    bad = client.post(boards_url(story_app), json={"content": {"panels": [{"duration": -1}]}},
                      headers=crew["editor"].headers)
    assert bad.status_code == 422 and "panels[0]" in bad.json["message"]
    assert client.get(boards_url(story_app), headers=crew["owner"].headers).json["total"] == 1
    assert "/api/v1/projects/{pid}/storyboards/summary" in client.get("/api/v1/openapi.json").json["paths"]


def test_summary_route_answers(story_app):
    client, crew = story_app.test_client(), story_app.crew
    for scene, status, secret, durations in ((1, "approved", False, [2, 3]), (2, "draft", True, [4]),
                                             (2, "review", False, [])):
        body = {"sceneNumber": scene, "status": status, "confidential": secret,
                "content": {"panels": [{"caption": f"p{i}", "duration": d} for i, d in enumerate(durations)]}}
        assert client.post(boards_url(story_app), json=body, headers=crew["editor"].headers).status_code == 201
    url = f"/api/v1/projects/{crew['project'].slug}/storyboards/summary"
    r = client.get(url, headers=crew["collaborator"].headers)
    assert r.status_code == 200, r.json
    assert r.json == {"projectId": str(crew["project"].id), "total": 3,
                      "byStatus": {"draft": 1, "review": 1, "approved": 1}, "panels": 3,
                      "durationSeconds": 9.0, "confidential": 1, "scenes": [1, 2]}
    assert client.get(url).status_code == 401


def test_policy_rules_take_effect(story_app):
    client, crew = story_app.test_client(), story_app.crew
    files = [p.name for p in story_app.extensions["aladdin"].authz.files]
    assert "storyboards.polar" in files
    url = f"/api/v1/projects/{crew['project'].slug}/storyboards/summary"
    # permitted rule: the summary is for members who may edit content.
    for role in ("owner", "editor", "collaborator"):
        assert client.get(url, headers=crew[role].headers).status_code == 200, role
    viewer = client.get(url, headers=crew["viewer"].headers)
    assert viewer.status_code == 403 and "storyboards:summary" in viewer.json["message"]
    assert client.get(url, headers=crew["outsider"].headers).status_code == 404
    # denied rule: only the owner deletes storyboards; an editor still deletes other content.
    board = client.post(boards_url(story_app), json={"content": {}}, headers=crew["editor"].headers).json
    refused = client.delete(boards_url(story_app, board["id"]), headers=crew["editor"].headers)
    assert refused.status_code == 403
    assert client.get(boards_url(story_app, board["id"]), headers=crew["editor"].headers).status_code == 200
    pid = crew["project"].slug
    character = client.post(f"/api/v1/projects/{pid}/content/characters", json={"content": {"name": "A"}},
                            headers=crew["editor"].headers).json
    assert client.delete(f"/api/v1/projects/{pid}/content/characters/{character['id']}",
                         headers=crew["editor"].headers).status_code == 204
    assert client.delete(boards_url(story_app, board["id"]), headers=crew["owner"].headers).status_code == 204
    allowed, why = story_app.extensions["aladdin"].authz.explain(
        crew["editor"], "content:delete", crew["project"], "storyboards", {"_id": "x", "createdBy": "y"})
    assert allowed is False and "denied" in why


def test_disabling_the_example_removes_it(storyboards_installed, tmp_path, redis_server):
    app = create_app(make_settings(tmp_path, redis_server, disabled_plugins={PLUGIN}), load_entry_points=True)
    try:
        ext = app.extensions["aladdin"]
        assert ext.pm.is_blocked(PLUGIN)
        assert "storyboards" not in ext.content_types
        assert not [r for r in app.url_map.iter_rules() if "storyboards" in r.rule]
        assert "storyboards.polar" not in [p.name for p in ext.authz.files]
    finally:
        app.extensions["aladdin"].db.close()


def test_a_deep_clone_of_a_scene_brings_its_boards(story_app):
    client, crew = story_app.test_client(), story_app.crew
    pid = crew["project"].slug
    scene = client.post(f"/api/v1/projects/{pid}/content/scenes", json={"content": {"title": "Chase"}},
                        headers=crew["editor"].headers).json["id"]
    board = client.post(boards_url(story_app), json={"content": {"sceneId": scene, "panels": []}},
                        headers=crew["editor"].headers).json["id"]
    r = client.post(f"/api/v1/projects/{pid}/clone", headers=crew["editor"].headers,
                    json={"targetProjectId": pid, "contentType": "scenes", "documentId": scene})
    assert r.status_code == 201 and r.json["documents"] == {"scenes": 1, "storyboards": 1}, r.json
    copy = client.get(boards_url(story_app, r.json["idMap"][board]), headers=crew["editor"].headers).json
    assert copy["content"]["sceneId"] == r.json["newRootId"] and copy["status"] == "draft"
