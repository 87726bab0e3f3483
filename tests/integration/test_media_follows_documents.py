"""Files follow their documents (issue 22): a rule hiding a draft video hides its file, on the
media list and GET, in download URLs, on ``/content/media``, in the activity log, in clones and
in ``policy explain``;
a file some visible video also uses stays visible (and exports of it render), and publishing the
video shows its file at once."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from bson import ObjectId

from core.projects import add_member, create_project
from core.testing import policy_folder
from tests.integration.test_clone import api, clone, post, upload
from tests.integration.test_export_helpers import add_scene, export_settings, run_jobs
from tests.media import make_image, make_scene

RULES = '''# only the owner sees draft videos
denied(actor: User, "content:view", doc: Content) if
    doc.collection = "videos" and doc.status = "draft" and actor.role_in(doc.project) != "owner";
'''


@pytest.fixture
def settings(tmp_path, redis_server):
    return export_settings(tmp_path, redis_server, policy_dir=policy_folder(tmp_path / "rules", drafts=RULES))


@pytest.fixture
def reel(app, client, team, tmp_path):
    """Files: ``cut`` (only the draft video uses it), ``shared`` (a draft and a completed video),
    ``loose`` (no video). The owner made everything."""
    owner, slug = team["owner"], team["project"].slug
    files = {name: upload(client, owner, slug, make_image(tmp_path / f"{name}.png", 16 + n, 16), "image/png")
             for n, name in enumerate(("cut", "shared", "loose"))}
    videos = {
        "draft": post(client, owner, slug, "videos", {"status": "draft", "sceneNumber": 1,
                                                      "content": {"mediaId": files["cut"]}}),
        "draft-shared": post(client, owner, slug, "videos", {"status": "draft", "sceneNumber": 2,
                                                             "content": {"mediaId": files["shared"]}}),
        "final": post(client, owner, slug, "videos", {"status": "completed", "sceneNumber": 2,
                                                      "content": {"mediaId": files["shared"]}}),
    }
    return {"files": files, "videos": videos, "slug": slug, **team}


def _media(client, reel, role, media_id=None):
    path = f"/media/{media_id}" if media_id else "/media?limit=50"
    return client.get(api(reel["slug"], path), headers=reel[role].headers)


def test_a_draft_videos_file_is_hidden_with_the_video(app, client, reel):
    files, viewer = reel["files"], "viewer"
    cut = files["cut"]
    # The video itself is hidden from the viewer ...
    assert client.get(api(reel["slug"], f"/content/videos/{reel['videos']['draft']}"),
                      headers=reel[viewer].headers).status_code == 404
    # ... and so is its file: list (items and total), GET, /content/media, delete: like a missing one.
    listed = _media(client, reel, viewer).json
    assert {i["id"] for i in listed["items"]} == {files["shared"], files["loose"]} and listed["total"] == 2
    assert cut not in json.dumps(listed)  # no entry, no download URL
    hidden, missing = _media(client, reel, viewer, cut), _media(client, reel, viewer, str(ObjectId()))
    assert hidden.status_code == missing.status_code == 404 and hidden.json == missing.json
    assert client.get(api(reel["slug"], f"/content/media/{cut}"), headers=reel[viewer].headers).status_code == 404
    assert client.get(api(reel["slug"], "/content/media?limit=50"), headers=reel[viewer].headers).json["total"] == 2
    # The owner sees the three files, and the signed URL of this one downloads it.
    owned = _media(client, reel, "owner").json
    assert owned["total"] == 3
    url = _media(client, reel, "owner", cut).json["downloadUrl"]
    download = client.get(urlsplit(url).path)
    assert download.status_code == 200 and download.data.startswith(b"\x89PNG")
    # The activity log leaves out the upload of the hidden file (the owner's shows it).
    for role, shown in ((viewer, False), ("owner", True)):
        log = client.get(api(reel["slug"], "/activity?limit=200"), headers=reel[role].headers).json["items"]
        assert (cut in {e.get("resourceId") for e in log}) is shown, role
    # A file a visible video also uses is visible (the viewer reaches it through that video).
    shared = _media(client, reel, viewer, files["shared"])
    assert shared.status_code == 200 and client.get(urlsplit(shared.json["downloadUrl"]).path).status_code == 200

    # Publishing the video shows its file at once, with a download URL that works.
    r = client.patch(api(reel["slug"], f"/content/videos/{reel['videos']['draft']}"),
                     json={"status": "completed"}, headers=reel["owner"].headers)
    assert r.status_code == 200, r.json
    shown = _media(client, reel, viewer, cut)
    assert shown.status_code == 200
    assert client.get(urlsplit(shown.json["downloadUrl"]).path).data == download.data
    assert _media(client, reel, viewer).json["total"] == 3


def test_explain_names_the_video_and_the_rule_that_hide_a_file(app, client, reel):
    authz, project = app.extensions["aladdin"].authz, reel["project"]
    cut = app.extensions["aladdin"].db.project(reel["slug"])["media"].find_one({"_id": ObjectId(reel["files"]["cut"])})
    allowed, reason = authz.explain(reel["viewer"], "content:view", project, "media", cut)
    assert not allowed and _media(client, reel, "viewer", reel["files"]["cut"]).status_code == 404
    assert f"videos/{reel['videos']['draft']}" in reason and "drafts.polar:2 (admin)" in reason, reason
    assert "404 over HTTP" in reason
    allowed, reason = authz.explain(reel["owner"], "content:view", project, "media", cut)
    assert allowed


def test_a_clone_leaves_a_hidden_file_behind_and_reports_it(app, client, reel):
    """A scene naming the draft's file (``content.clipVideoId``): the viewer's clone does not copy
    the file and reports the reference as hidden; the owner's copies it."""
    owner, viewer, slug = reel["owner"], reel["viewer"], reel["slug"]
    cut = reel["files"]["cut"]
    scene = post(client, owner, slug, "scenes", {"content": {"title": "Opening", "clipVideoId": cut}})
    target = create_project(app, owner, "Second Film", "second-film")
    add_member(app, target, viewer, "editor", owner)
    body = {"targetProjectId": target.slug, "contentType": "scenes", "documentId": scene}
    r = clone(client, viewer, slug, body)
    assert r.status_code == 201, r.json
    assert {(h["path"], h["references"], h["referencedCollection"]) for h in r.json["hidden"]} == \
        {("content.clipVideoId", cut, "media")}
    assert cut not in r.json["idMap"] and r.json["media"] == []
    db = app.extensions["aladdin"].db.project(target.slug)
    assert db["media"].count_documents({}) == 0
    r = clone(client, owner, slug, body)
    assert r.status_code == 201 and r.json["hidden"] == [] and cut in r.json["idMap"], r.json
    assert db["media"].count_documents({"clonedFrom.documentId": cut}) == 1


def test_an_export_renders_a_file_a_hidden_draft_shares_with_a_visible_video(app, client, team, tmp_path):
    """The editor may not view the draft, but the completed video using the same file is visible,
    so the file is too: the editor's export renders it, and the owner's export of it shows the
    editor its download link."""
    project, owner, editor = team["project"], team["owner"], team["editor"]
    final = add_scene(app, project, owner, make_scene(tmp_path / "final.mp4", seconds=0.5), 1)
    draft = app.extensions["aladdin"].content.create(
        project, "videos", {"sceneNumber": 2, "status": "draft", "content": {"mediaId": final["content"]["mediaId"]}},
        owner)
    base = api(project.slug, "/exports")
    assert client.get(api(project.slug, f"/content/videos/{draft['_id']}"), headers=editor.headers).status_code == 404
    assert _media(client, {**team, "slug": project.slug}, "editor", final["content"]["mediaId"]).status_code == 200
    mine = client.post(base, json={"preset": "mp4-good", "includeScenes": [str(final["_id"])]}, headers=editor.headers)
    theirs = client.post(base, json={"preset": "mp4-good"}, headers=owner.headers)
    assert mine.status_code == theirs.status_code == 202, (mine.json, theirs.json)
    run_jobs(app)
    done = client.get(mine.json["statusUrl"], headers=editor.headers).json
    assert done["status"] == "completed" and done["sceneCount"] == 1, done["error"]
    owners = client.get(theirs.json["statusUrl"], headers=editor.headers).json
    assert owners["status"] == "completed" and owners["downloadUrl"], owners
