"""Clone under admin read rules (issue 11), over HTTP: a root the cloner may not view is a 404 like a
missing one; documents of the closure hidden from them (media included) are not copied, references
to them keep the source id and are reported in ``hidden``; a dry run and a queued (RQ) clone agree."""

from __future__ import annotations

import pytest
import rq
from bson import ObjectId

from core.app import create_app
from core.projects import add_member, create_project
from core.testing import policy_folder
from core.worker import set_process_app
from tests.conftest import Actors, make_settings
from tests.integration.test_clone import api, build_world, clone, post, snapshot, upload
from tests.media import make_image

READ_RULES = """
# viewers never see scenes
denied(actor: User, "content:view", doc: Content) if doc.collection = "scenes" and actor.role_in(doc.project) = "viewer";
# nobody but the owner sees documents marked secret
denied(actor: User, "content:view", doc: Content) if doc.content.secret = true and actor.role_in(doc.project) != "owner";
"""


def write_rules(folder):
    return policy_folder(folder, reads=READ_RULES)


@pytest.fixture
def settings(tmp_path, redis_server):
    return make_settings(tmp_path, redis_server, policy_dir=write_rules(tmp_path / "admin-policies"))


def mark_secret(app, slug, collection, doc_id):
    app.extensions["aladdin"].db.project(slug)[collection].update_one(
        {"_id": ObjectId(doc_id)}, {"$set": {"content.secret": True}})


def add_secrets(app, client, owner, slug, world, tmp_path) -> dict:
    """A secret character (with a location only it references, and a relationship to the hero) and a
    secret image, both referenced by the world's scene next to the normal ones."""
    hideout = post(client, owner, slug, "locations", {"content": {"name": "Hideout"}})
    secret = post(client, owner, slug, "characters", {"content": {"name": "Cy", "secret": True,
                                                                   "homeId": hideout}})
    poster = upload(client, owner, slug, make_image(tmp_path / "poster.png", 20, 20), "image/png")
    mark_secret(app, slug, "media", poster)
    scene = world["scene"]
    r = client.patch(api(slug, f"/content/scenes/{scene}"), headers=owner.headers, json={
        "content": {"characterIds": [world["hero"], secret], "posterImageId": poster},
        "relatedDocuments": [{"collection": "episodes", "documentId": world["episode"]},
                             {"collection": "characters", "documentId": secret}]})
    assert r.status_code == 200, r.json
    r = client.post(api(slug, "/graph/relationships"), headers=owner.headers, json={
        "from": {"collection": "characters", "id": secret}, "to": {"collection": "scenes", "id": scene},
        "type": "APPEARS_IN"})
    assert r.status_code == 201, r.json
    return {"secret": secret, "hideout": hideout, "poster": poster}


@pytest.fixture
def world(app, client, team, tmp_path):
    """team-film's scene world (by the editor) plus secrets (by the owner); "second-film" is the target
    where the editor is an editor and the viewer is an editor too (so they may create there)."""
    owner = team["owner"]
    slug = team["project"].slug
    target = create_project(app, owner, "Second Film", "second-film")
    add_member(app, target, team["editor"], "editor", owner)
    add_member(app, target, team["viewer"], "editor", owner)
    w = build_world(app, client, team["editor"], slug, tmp_path)
    w.update(add_secrets(app, client, owner, slug, w, tmp_path))
    return {**w, **team, "source": team["project"], "target": target}


def body_for(world, **extra):
    return {"targetProjectId": world["target"].slug, "contentType": "scenes", "documentId": world["scene"],
            **extra}


def hidden_refs(answer) -> set:
    return {(h["collection"], h["documentId"], h["path"], h["references"], h["referencedCollection"])
            for h in answer["hidden"]}


def test_viewer_cloning_a_hidden_root_gets_the_missing_root_answer(app, client, world):
    src, viewer = world["source"], world["viewer"]
    before = snapshot(app, world["target"].slug)
    missing = clone(client, viewer, src.slug, body_for(world, documentId=str(ObjectId())))
    hidden = clone(client, viewer, src.slug, body_for(world))
    assert missing.status_code == hidden.status_code == 404
    assert hidden.get_data() == missing.get_data()
    dry = clone(client, viewer, src.slug, body_for(world, dryRun=True))
    assert dry.status_code == 404 and dry.get_data() == missing.get_data()
    # The owner's secret character is hidden from the viewer too; the rival (no secret) is not.
    r = clone(client, viewer, src.slug, body_for(world, contentType="characters", documentId=world["secret"]))
    assert r.status_code == 404 and r.get_data() == missing.get_data()
    assert snapshot(app, world["target"].slug) == before
    r = clone(client, viewer, src.slug, body_for(world, contentType="characters", documentId=world["rival"]))
    assert r.status_code == 201, r.json


def test_editor_deep_clone_leaves_hidden_documents_behind_and_reports_them(app, client, world):
    src, dst, editor = world["source"], world["target"], world["editor"]
    scene, secret, poster, hero = world["scene"], world["secret"], world["poster"], world["hero"]
    expected_hidden = {
        ("scenes", scene, "content.characterIds.1", secret, "characters"),
        ("scenes", scene, "content.posterImageId", poster, "media"),
        ("scenes", scene, "relatedDocuments.1", secret, "characters"),
    }
    before = snapshot(app, dst.slug)
    dry = clone(client, editor, src.slug, body_for(world, dryRun=True))
    assert dry.status_code == 200, dry.json
    assert snapshot(app, dst.slug) == before
    r = clone(client, editor, src.slug, body_for(world))
    assert r.status_code == 201, r.json
    for answer in (dry.json, r.json):
        assert hidden_refs(answer) == expected_hidden
        assert answer["dangling"] == []
        # The world's nine documents; not the secret character, its hideout or the secret poster.
        assert answer["documents"] == {"characters": 2, "episodes": 1, "locations": 1, "media": 3,
                                       "scenes": 1, "videos": 1}
        assert not {secret, poster, world["hideout"]} & set(answer["idMap"])
    assert dry.json["idMap"].keys() == r.json["idMap"].keys()
    assert dry.json["media"]["count"] == len(r.json["media"]) == 3

    id_map = r.json["idMap"]
    db = app.extensions["aladdin"].db.project(dst.slug)
    copy = db["scenes"].find_one({"_id": ObjectId(r.json["newRootId"])})
    # The reference to the hidden character keeps naming the source id; the normal one is remapped.
    assert copy["content"]["characterIds"] == [id_map[hero], secret]
    assert copy["content"]["posterImageId"] == poster
    assert copy["relatedDocuments"][1] == {"collection": "characters", "documentId": secret}
    assert db["characters"].count_documents({"content.name": "Cy"}) == 0
    assert db["locations"].count_documents({"content.name": "Hideout"}) == 0
    assert db["media"].count_documents({"clonedFrom.documentId": poster}) == 0
    assert not [k for k in app.extensions["aladdin"].storage.list(f"projects/{dst.slug}/") if "poster" in k]
    # No relationship of the hidden character was recreated.
    nodes, rels = app.extensions["aladdin"].graph.list_all(dst.slug)
    assert all(n.id not in (secret, id_map.get(secret)) for n in nodes)
    assert len(rels) == 5


def test_owner_clones_everything(app, client, world):
    src, owner = world["source"], world["owner"]
    r = clone(client, owner, src.slug, body_for(world))
    assert r.status_code == 201, r.json
    assert r.json["hidden"] == [] and r.json["dangling"] == []
    assert {world["secret"], world["poster"], world["hideout"]} <= set(r.json["idMap"])
    assert r.json["documents"] == {"characters": 3, "episodes": 1, "locations": 2, "media": 4,
                                   "scenes": 1, "videos": 1}


def test_shallow_clone_reports_hidden_references_of_the_root(app, client, world):
    src, editor, scene, secret = world["source"], world["editor"], world["scene"], world["secret"]
    for dry_run in (True, False):
        r = clone(client, editor, src.slug, body_for(world, depth="shallow", dryRun=dry_run))
        assert r.status_code == (200 if dry_run else 201), r.json
        assert hidden_refs(r.json) == {
            ("scenes", scene, "content.characterIds.1", secret, "characters"),
            ("scenes", scene, "content.posterImageId", world["poster"], "media"),
            ("scenes", scene, "relatedDocuments.1", secret, "characters")}
        assert r.json["documents"] == {"scenes": 1}


def test_no_media_clone_does_not_report_media_it_never_copies(app, client, world):
    r = clone(client, world["editor"], world["source"].slug, body_for(world, includeMedia=False, dryRun=True))
    assert r.status_code == 200, r.json
    assert {h["referencedCollection"] for h in r.json["hidden"]} == {"characters"}


# --- the queued clone (RQ job) re-plans under the requesting user's rules ------------------------


@pytest.fixture
def async_app(tmp_path, redis_server):
    app = create_app(make_settings(tmp_path, redis_server, clone_async_threshold=2,
                                   policy_dir=write_rules(tmp_path / "admin-policies")),
                     load_entry_points=False)
    app.testing = True
    with app.app_context():
        yield app
    app.extensions["aladdin"].db.close()


def test_queued_clone_applies_the_requesting_users_rules(async_app, tmp_path):
    app = async_app
    ext = app.extensions["aladdin"]
    ext.jobs.queue().empty()
    client = app.test_client()
    actors = Actors(app)
    owner, editor = actors.user("owner@example.com"), actors.user("editor@example.com")
    src = create_project(app, owner, "Source", "async-source")
    dst = create_project(app, owner, "Target", "async-target")
    add_member(app, src, editor, "editor", owner)
    add_member(app, dst, editor, "editor", owner)
    world = build_world(app, client, editor, src.slug, tmp_path)
    world.update(add_secrets(app, client, owner, src.slug, world, tmp_path))
    r = client.post(f"/api/v1/projects/{src.slug}/clone", headers=editor.headers,
                    json={"targetProjectId": dst.slug, "contentType": "scenes", "documentId": world["scene"]})
    assert r.status_code == 202, r.json  # the walk stopped at the threshold: the job plans (once)
    set_process_app(app)
    rq.SimpleWorker([ext.jobs.queue()], connection=ext.jobs.redis).work(burst=True)
    status = client.get(r.json["statusUrl"], headers=editor.headers).json
    assert status["status"] == "completed", status
    result = status["result"]
    assert result["clonedCount"] == 9
    assert {h["references"] for h in result["hidden"]} == {world["secret"], world["poster"]}
    assert ext.db.project(dst.slug)["characters"].count_documents({"content.name": "Cy"}) == 0
