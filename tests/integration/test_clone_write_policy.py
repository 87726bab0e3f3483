"""A clone writes only what its user may write (issue 23): each copy is authorized as the content
service authorizes one create, against the document as it will be stored, so an admin rule that
forbids a write in the target project holds for a direct POST, a clone in the request, its dry
run and a queued clone's job alike; the command line's clone is the system's, and says so."""

from __future__ import annotations

import pytest
import rq

from core.projects import add_member, create_project
from core.testing import Actors, make_settings, policy_folder
from core.worker import set_process_app
from tests.integration.test_clone import api, build_world, clone, snapshot, upload
from tests.media import make_scene

WRITE_RULES = """
# In the archive editors add no characters (the owner still may) ...
denied(actor: User, "content:create", doc: Content) if
    doc.project.slug = "archive" and doc.collection = "characters" and actor.role_in(doc.project) = "editor";
# ... and no video files: a rule about the media document's own fields ...
denied(actor: User, "media:upload", doc: Content) if
    doc.project.slug = "archive" and doc.contentType = "video/mp4" and actor.role_in(doc.project) != "owner";
# ... and nothing by this name, whoever asks: a rule about the content.
denied(_actor: User, "content:create", doc: Content) if
    doc.project.slug = "archive" and doc.content.name = "Forbidden Place";
"""

# Comparing two fields of the document: Polar decides it, the list compiler cannot translate it.
UNCOMPILABLE_RULE = """
denied(_actor: User, "content:create", doc: Content) if
    doc.project.slug = "archive" and doc.content.name = doc.content.alias;
"""


@pytest.fixture
def settings(tmp_path, redis_server):
    return make_settings(tmp_path, redis_server, policy_dir=policy_folder(tmp_path / "rules", writes=WRITE_RULES))


@pytest.fixture
def world(app, client, team, tmp_path):
    """team-film's scene world (two characters, a video file among three media) by the editor, and
    the "archive" project where the editor is an editor too."""
    owner = team["owner"]
    archive = create_project(app, owner, "Archive", "archive")
    add_member(app, archive, team["editor"], "editor", owner)
    w = build_world(app, client, team["editor"], team["project"].slug, tmp_path)
    return {**w, **team, "source": team["project"], "target": archive}


def body_for(world, **extra) -> dict:
    return {"targetProjectId": world["target"].slug, "contentType": "scenes", "documentId": world["scene"],
            **extra}


def refused_copies(answer: dict) -> set:
    return {(r["collection"], r["documentId"], r["permission"]) for r in answer["refused"]}


def expected_refusals(world) -> set:
    clip = world["media"][2]  # the mp4
    return {("characters", world["hero"], "content:create"), ("characters", world["rival"], "content:create"),
            ("media", clip, "media:upload")}


def test_the_rule_holds_for_direct_writes(app, client, world, tmp_path):
    """The premise: the editor cannot POST what the rule forbids, nor upload a video, into the archive."""
    editor, owner, archive = world["editor"], world["owner"], world["target"].slug
    r = client.post(api(archive, "/content/characters"), json={"content": {"name": "Cy"}}, headers=editor.headers)
    assert r.status_code == 403 and "content:create" in r.json["message"], r.json
    r = client.post(api(archive, "/content/locations"), json={"content": {"name": "Dock"}}, headers=editor.headers)
    assert r.status_code == 201, r.json
    r = client.post(api(archive, "/content/characters"), json={"content": {"name": "Cy"}}, headers=owner.headers)
    assert r.status_code == 201, r.json
    with open(make_scene(tmp_path / "take.mp4", seconds=0.4), "rb") as fh:
        r = client.post(api(archive, "/media"), headers=editor.headers, content_type="multipart/form-data",
                        data={"file": (fh, "take.mp4", "video/mp4")})
    assert r.status_code == 403 and "media:upload" in r.json["message"], r.json
    assert app.extensions["aladdin"].storage.list(f"projects/{archive}/") == []  # the file left with the refusal
    upload(client, editor, archive, str(tmp_path / "portrait.png"), "image/png")  # an image is fine


def test_a_clone_cannot_write_what_its_user_may_not(app, client, world):
    src, archive, editor = world["source"], world["target"], world["editor"]
    before = snapshot(app, archive.slug)
    dry = clone(client, editor, src.slug, body_for(world, dryRun=True))
    real = clone(client, editor, src.slug, body_for(world))
    for r in (dry, real):
        assert r.status_code == 403, r.json
        assert refused_copies(r.json) == expected_refusals(world)
        assert "does not allow creating 3 of the 9 documents this clone would write in archive" in r.json["message"]
        assert "nothing was cloned" in r.json["message"]
    assert dry.json == real.json  # the dry run refuses exactly as the clone does
    assert snapshot(app, archive.slug) == before
    # The rule is about documents, not the clone: what it allows still clones.
    r = clone(client, editor, src.slug, body_for(world, depth="shallow"))
    assert r.status_code == 201 and r.json["documents"] == {"scenes": 1}, r.json
    r = clone(client, editor, src.slug, body_for(world, contentType="locations", documentId=world["location"],
                                                 includeMedia=False))
    assert r.status_code == 201, r.json
    # The owner is not limited by it.
    r = clone(client, world["owner"], src.slug, body_for(world))
    assert r.status_code == 201 and r.json["clonedCount"] == 9, r.json


def test_overrides_cannot_slip_a_copy_past_the_rule(app, client, world):
    """The copies are checked as they will be stored, overrides applied."""
    src, archive, editor = world["source"], world["target"], world["editor"]
    before = snapshot(app, archive.slug)
    location = body_for(world, contentType="locations", documentId=world["location"], includeMedia=False)
    r = clone(client, editor, src.slug, {**location, "overrides": {"content.name": "Forbidden Place"}})
    assert r.status_code == 403 and refused_copies(r.json) == {("locations", world["location"], "content:create")}
    assert snapshot(app, archive.slug) == before
    r = clone(client, editor, src.slug, {**location, "overrides": {"content.name": "Allowed Place"}})
    assert r.status_code == 201, r.json


def test_a_queued_clone_is_refused_by_its_job(app, client, world, monkeypatch):
    ext = app.extensions["aladdin"]
    monkeypatch.setitem(ext.settings.extra, "CLONE_ASYNC_THRESHOLD", "2")
    ext.jobs.queue().empty()
    src, archive, editor = world["source"], world["target"], world["editor"]
    before = snapshot(app, archive.slug)
    r = clone(client, editor, src.slug, body_for(world))
    assert r.status_code == 202, r.json  # the request only walked up to the threshold
    set_process_app(app)
    rq.SimpleWorker([ext.jobs.queue()], connection=ext.jobs.redis).work(burst=True)
    status = client.get(r.json["statusUrl"], headers=editor.headers).json
    assert status["status"] == "failed", status
    assert "does not allow creating 3 of the 9 documents this clone would write in archive" in status["error"]
    assert snapshot(app, archive.slug) == before


def test_the_command_line_clone_is_the_systems_and_says_so(app, world, cli_runner):
    src, archive, editor = world["source"], world["target"], world["editor"]
    before = snapshot(app, archive.slug)
    args = ["clone", src.slug, "scenes", world["scene"], "--to", archive.slug]
    for extra in (["--dry-run"], []):
        refused = cli_runner.invoke([*args, *extra, "--as", editor.email], code=1).output
        assert "does not allow creating 3 of the 9 documents this clone would write in archive" in refused
        assert "Traceback" not in refused
    assert snapshot(app, archive.slug) == before
    done = cli_runner.invoke(args).output
    assert "cloning as SYSTEM: no policy applies" in done
    assert "cloned 9 documents, 3 media objects, 5 relationships into archive" in done
    db = app.extensions["aladdin"].db.project(archive.slug)
    copies = list(db["characters"].find({}))
    assert len(copies) == 2 and {c["createdBy"] for c in copies} == {None}  # created by nobody
    assert {c["clonedFrom"]["clonedBy"] for c in copies} == {None}


def test_a_rule_the_compiler_cannot_translate_is_still_decided_per_copy(make_app, tmp_path):
    """A write rule the filter compiler cannot translate is asked of Polar for each copy: the same
    answers, only slower."""
    app = make_app(policy_dir=policy_folder(tmp_path / "uncompilable", writes=UNCOMPILABLE_RULE))
    with app.app_context():
        actors, client = Actors(app), app.test_client()
        owner, editor = actors.user("owner@example.com"), actors.user("editor@example.com")
        source, archive = actors.project(owner, "Source", "source"), actors.project(owner, "Archive", "archive")
        for project in (source, archive):
            actors.member(project, editor, "editor", owner)
        same = actors.content(source, "locations", {"content": {"name": "Dock", "alias": "Dock"}}, owner)
        other = actors.content(source, "locations", {"content": {"name": "Pier", "alias": "Jetty"}}, owner)
        service = app.extensions["aladdin"].content
        assert [d["content"]["name"] for d, _ in service.refused_creates(editor, archive, "locations",
                                                                        [same, other])] == ["Dock"]
        body = {"targetProjectId": "archive", "contentType": "locations", "dryRun": True}
        r = client.post(api("source", "/clone"), headers=editor.headers, json={**body, "documentId": str(same["_id"])})
        assert r.status_code == 403 and refused_copies(r.json) == {("locations", str(same["_id"]), "content:create")}
        r = client.post(api("source", "/clone"), headers=editor.headers, json={**body, "documentId": str(other["_id"])})
        assert r.status_code == 200, r.json
