"""Clone plugin over HTTP: deep clone of a scene world across projects, provenance, shallow, dry run,
overrides, permissions, preserveIds, failure injection at every stage, and the CLI."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from bson import ObjectId

from core.errors import WriteRefused
from core.graph import NodeRef, Relationship
from core.hookspecs import hookimpl
from core.projects import add_member, create_project
from tests.media import make_image, make_scene

COLLECTIONS = ("scenes", "characters", "locations", "episodes", "videos", "media")


def api(pid: str, path: str = "") -> str:
    return f"/api/v1/projects/{pid}{path}"


def upload(client, user, pid, path, mimetype):
    with open(path, "rb") as fh:
        data = {"file": (io.BytesIO(fh.read()), path.rsplit("/", 1)[-1], mimetype)}
    r = client.post(api(pid, "/media"), data=data, headers=user.headers, content_type="multipart/form-data")
    assert r.status_code == 201, r.json
    return r.json["id"]


def post(client, user, pid, collection, body):
    r = client.post(api(pid, f"/content/{collection}"), json=body, headers=user.headers)
    assert r.status_code == 201, r.json
    return r.json["id"]


def build_world(app, client, author, pid, tmp_path) -> dict:
    """A scene with two rival characters, a location, an episode, two images and a video."""
    portrait = upload(client, author, pid, make_image(tmp_path / "portrait.png"), "image/png")
    backdrop = upload(client, author, pid, make_image(tmp_path / "backdrop.png", 48, 24), "image/png")
    clip = upload(client, author, pid, make_scene(tmp_path / "scene.mp4", seconds=0.4), "video/mp4")
    location = post(client, author, pid, "locations", {"content": {"name": "Harbour", "backdropImageId": backdrop}})
    episode = post(client, author, pid, "episodes", {"content": {"title": "Pilot", "number": 1}})
    hero = post(client, author, pid, "characters", {"content": {"name": "Ada", "portraitImageId": portrait,
                                                                 "brainValidated": True}})
    rival = post(client, author, pid, "characters", {"content": {"name": "Bo", "rivalId": hero,
                                                                  "userApproved": True}})
    r = client.patch(api(pid, f"/content/characters/{hero}"), json={"content": {"rivalId": rival}},
                     headers=author.headers)
    assert r.status_code == 200, r.json
    video = post(client, author, pid, "videos", {"status": "completed", "sceneNumber": 1,
                                                 "content": {"mediaId": clip}})
    scene = post(client, author, pid, "scenes", {
        "content": {"title": "Showdown", "characterIds": [hero, rival], "locationId": location,
                    "videoId": video, "beats": [{"speakerId": rival, "line": "You again."}],
                    "notes": "not an id: 0123456789abcdef01234567"},
        "relatedDocuments": [{"collection": "episodes", "documentId": episode}]})
    ext = app.extensions["aladdin"]
    ext.db.project(pid)["scenes"].update_one({"_id": ObjectId(scene)}, {"$set": {"brainValidated": True}})
    for frm, to, kind in [(("characters", hero), ("characters", rival), "RIVAL_OF"),
                          (("characters", rival), ("characters", hero), "RIVAL_OF"),
                          (("characters", hero), ("scenes", scene), "APPEARS_IN"),
                          (("scenes", scene), ("locations", location), "LOCATED_AT"),
                          (("scenes", scene), ("episodes", episode), "PART_OF")]:
        r = client.post(api(pid, "/graph/relationships"), headers=author.headers, json={
            "from": {"collection": frm[0], "id": frm[1]}, "to": {"collection": to[0], "id": to[1]}, "type": kind})
        assert r.status_code == 201, r.json
    return {"scene": scene, "hero": hero, "rival": rival, "location": location, "episode": episode,
            "video": video, "media": [portrait, backdrop, clip]}


def snapshot(app, slug: str) -> dict:
    """Everything a clone may write into a project: documents, storage objects, graph."""
    ext = app.extensions["aladdin"]
    db = ext.db.project(slug)
    return {"docs": {c: sorted(str(d["_id"]) for d in db[c].find({}, {"_id": 1})) for c in COLLECTIONS},
            "storage": ext.storage.list(f"projects/{slug}/"),
            "graph": ext.graph.list_all(slug)}


def all_strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from all_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from all_strings(v)
    elif isinstance(value, (str, ObjectId)):
        yield str(value)


@pytest.fixture
def world(app, client, team, tmp_path):
    """Source "team-film" (content by the editor) and target "second-film" (owner; viewer is viewer there)."""
    owner = team["owner"]
    target = create_project(app, owner, "Second Film", "second-film")
    add_member(app, target, team["viewer"], "viewer", owner)
    add_member(app, target, team["editor"], "editor", owner)
    w = build_world(app, client, team["editor"], team["project"].slug, tmp_path)
    return {**w, **team, "source": team["project"], "target": target}


def clone(client, user, pid, body):
    return client.post(api(pid, "/clone"), json=body, headers=user.headers)


def test_deep_clone_across_projects(app, client, world):
    ext = app.extensions["aladdin"]
    src, dst, owner = world["source"], world["target"], world["owner"]
    source_ids = set()
    for c in COLLECTIONS:
        source_ids.update(str(d["_id"]) for d in ext.db.project(src.slug)[c].find({}, {"_id": 1}))
    r = clone(client, owner, src.slug, {"targetProjectId": str(dst.id), "contentType": "scenes",
                                        "documentId": world["scene"]})
    assert r.status_code == 201, r.json
    body = r.json
    assert body["success"] is True and body["clonedCount"] == 9
    assert body["documents"] == {"characters": 2, "episodes": 1, "locations": 1, "media": 3, "scenes": 1, "videos": 1}
    assert set(body["idMap"]) == source_ids
    new_ids = set(body["idMap"].values())
    assert not new_ids & source_ids and body["newRootId"] == body["idMap"][world["scene"]]
    assert body["relationships"] == 5 and len(body["media"]) == 3 and body["warnings"] == []

    db = ext.db.project(dst.slug)
    for c in COLLECTIONS:
        for doc in db[c].find():
            assert str(doc["_id"]) in new_ids
            stored = dict(doc)
            origin = stored.pop("clonedFrom")
            # No reference into the source is left anywhere but the provenance record.
            assert not set(all_strings(stored)) & source_ids, (c, stored)
            assert origin["projectId"] == str(src.id) and origin["collectionName"] == c
            assert body["idMap"][origin["documentId"]] == str(doc["_id"])
            assert origin["clonedBy"] == str(owner.id) and origin["clonedAt"]
            assert doc["isClone"] is True and doc["cloneDepth"] == 1
            assert doc["originalCreator"] == str(world["editor"].id) and doc["createdBy"] == str(owner.id)
            assert doc["projectId"] == str(dst.id) and doc["version"] == 1
            assert "brainValidated" not in doc and "brainValidated" not in doc.get("content", {})
            assert "userApproved" not in doc.get("content", {})

    m = body["idMap"]
    scene = db["scenes"].find_one({"_id": ObjectId(m[world["scene"]])})
    assert scene["content"]["characterIds"] == [m[world["hero"]], m[world["rival"]]]
    assert scene["content"]["beats"][0]["speakerId"] == m[world["rival"]]
    assert scene["content"]["notes"] == "not an id: 0123456789abcdef01234567"
    assert scene["relatedDocuments"] == [{"collection": "episodes", "documentId": m[world["episode"]]}]
    hero = db["characters"].find_one({"_id": ObjectId(m[world["hero"]])})
    rival = db["characters"].find_one({"_id": ObjectId(m[world["rival"]])})
    assert hero["content"]["rivalId"] == str(rival["_id"]) and rival["content"]["rivalId"] == str(hero["_id"])
    video = db["videos"].find_one({"_id": ObjectId(m[world["video"]])})
    assert video["content"]["mediaId"] == m[world["media"][2]]

    # Media: bytes equal under the target's keys, new media documents point at them.
    for item in body["media"]:
        assert item["storageKey"].startswith(f"projects/{dst.slug}/media/{item['id']}/")
        assert ext.storage.get(item["storageKey"]) == ext.storage.get(item["sourceKey"])
        mdoc = db["media"].find_one({"_id": ObjectId(item["id"])})
        assert mdoc["storageKey"] == item["storageKey"]
    r = client.get(api(dst.slug, f"/media/{item['id']}"), headers=owner.headers)
    assert r.status_code == 200 and r.json["storageKey"] == item["storageKey"]

    # Graph: the five relationships, rewritten to the new ids.
    _, src_rels = ext.graph.list_all(src.slug)
    _, dst_rels = ext.graph.list_all(dst.slug)
    expected = sorted((r.source.collection, m[r.source.id], r.target.collection, m[r.target.id], r.type)
                      for r in src_rels)
    assert sorted((r.source.collection, r.source.id, r.target.collection, r.target.id, r.type)
                  for r in dst_rels) == expected
    r = client.get(api(dst.slug, f"/graph/characters/{m[world['hero']]}?depth=1"), headers=owner.headers)
    assert {"from": {"collection": "characters", "id": m[world["hero"]]},
            "to": {"collection": "characters", "id": m[world["rival"]]}, "type": "RIVAL_OF"} in r.json["relationships"]
    # The source is untouched.
    assert client.get(api(src.slug, f"/content/scenes/{world['scene']}"), headers=owner.headers).json["isClone"] is False


def test_clone_of_clone_keeps_original_creator(app, client, world):
    src, dst, owner = world["source"], world["target"], world["owner"]
    first = clone(client, owner, src.slug, {"targetProjectId": dst.slug, "contentType": "scenes",
                                            "documentId": world["scene"]}).json
    third = create_project(app, world["editor"], "Third Film", "third-film")
    r = clone(client, world["editor"], dst.slug, {"targetProjectId": str(third.id), "contentType": "scenes",
                                                  "documentId": first["newRootId"]})
    assert r.status_code == 201, r.json
    db = app.extensions["aladdin"].db.project(third.slug)
    docs = [d for c in COLLECTIONS for d in db[c].find()]
    assert len(docs) == 9
    for doc in docs:
        assert doc["cloneDepth"] == 2 and doc["originalCreator"] == str(world["editor"].id)
        assert doc["createdBy"] == str(world["editor"].id)
        assert doc["clonedFrom"]["projectId"] == str(dst.id)


def test_clone_within_a_project(app, client, world):
    src, owner = world["source"], world["owner"]
    before = snapshot(app, src.slug)
    r = clone(client, owner, src.slug, {"targetProjectId": src.slug, "contentType": "characters",
                                        "documentId": world["hero"]})
    assert r.status_code == 201, r.json
    # hero -> rival (rivalId) -> hero, plus the portrait image
    assert r.json["documents"] == {"characters": 2, "media": 1}
    after = snapshot(app, src.slug)
    assert len(after["docs"]["characters"]) == len(before["docs"]["characters"]) + 2
    assert len(after["storage"]) == len(before["storage"]) + 1
    assert len(after["graph"][1]) == len(before["graph"][1]) + 2  # the rivalry, copied


def test_shallow_clone_warns_about_references_left_behind(app, client, world):
    src, dst, owner = world["source"], world["target"], world["owner"]
    r = clone(client, owner, src.slug, {"targetProjectId": dst.slug, "contentType": "characters",
                                        "documentId": world["hero"], "depth": "shallow"})
    assert r.status_code == 201, r.json
    body = r.json
    assert body["clonedCount"] == 1 and body["media"] == [] and body["relationships"] == 0
    joined = "\n".join(body["warnings"])
    assert "content.rivalId" in joined and world["rival"] in joined
    assert "content.portraitImageId" in joined and world["media"][0] in joined
    doc = app.extensions["aladdin"].db.project(dst.slug)["characters"].find_one({"_id": ObjectId(body["newRootId"])})
    assert doc["content"]["rivalId"] == world["rival"] and doc["isClone"]


def test_no_media_and_no_relationships(app, client, world):
    src, dst, owner = world["source"], world["target"], world["owner"]
    r = clone(client, owner, src.slug, {"targetProjectId": dst.slug, "contentType": "scenes",
                                        "documentId": world["scene"], "includeMedia": False,
                                        "includeRelationships": False})
    assert r.status_code == 201, r.json
    assert "media" not in r.json["documents"] and r.json["clonedCount"] == 6
    assert any("content.mediaId" in w for w in r.json["warnings"])
    after = snapshot(app, dst.slug)
    assert after["storage"] == [] and after["graph"] == ([], [])


def test_dry_run_returns_plan_and_writes_nothing(app, client, world):
    src, dst, owner = world["source"], world["target"], world["owner"]
    ghost = "ffffffffffffffffffffffff"
    app.extensions["aladdin"].db.project(src.slug)["scenes"].update_one(
        {"_id": ObjectId(world["scene"])},
        {"$push": {"relatedDocuments": {"collection": "locations", "documentId": ghost}}})
    before = snapshot(app, dst.slug)
    r = clone(client, owner, src.slug, {"targetProjectId": dst.slug, "contentType": "scenes",
                                        "documentId": world["scene"], "dryRun": True})
    assert r.status_code == 200, r.json
    plan = r.json
    assert plan["dryRun"] is True and plan["documentCount"] == 9
    assert plan["documents"] == {"characters": 2, "episodes": 1, "locations": 1, "media": 3, "scenes": 1, "videos": 1}
    sizes = sum(len(app.extensions["aladdin"].storage.get(o["sourceKey"])) for o in plan["media"]["objects"])
    assert plan["media"]["count"] == 3 and plan["media"]["bytes"] == sizes > 0
    assert plan["graph"] == {"nodes": 5, "relationships": 5}
    assert plan["dangling"] == [{"collection": "scenes", "documentId": world["scene"], "path": "relatedDocuments.1",
                                 "references": ghost, "referencedCollection": "locations"}]
    assert snapshot(app, dst.slug) == before


def test_overrides_apply_to_the_root(app, client, world):
    src, dst, owner = world["source"], world["target"], world["owner"]
    r = clone(client, owner, src.slug, {"targetProjectId": dst.slug, "contentType": "scenes",
                                        "documentId": world["scene"],
                                        "overrides": {"content.title": "Showdown (copy)", "content.meta.take": 2,
                                                      "content.notes": None}})
    assert r.status_code == 201, r.json
    doc = app.extensions["aladdin"].db.project(dst.slug)["scenes"].find_one({"_id": ObjectId(r.json["newRootId"])})
    assert doc["content"]["title"] == "Showdown (copy)" and doc["content"]["meta"] == {"take": 2}
    assert "notes" not in doc["content"]
    before = snapshot(app, dst.slug)
    for bad in ({"version": 7}, {"createdBy": "me"}, {"content.$where": 1}):
        r = clone(client, owner, src.slug, {"targetProjectId": dst.slug, "contentType": "scenes",
                                            "documentId": world["scene"], "overrides": bad})
        assert r.status_code == 422, (bad, r.json)
    r = clone(client, owner, src.slug, {"targetProjectId": dst.slug, "contentType": "videos",
                                        "documentId": world["video"], "overrides": {"status": "bogus"}})
    assert r.status_code == 422, r.json
    assert snapshot(app, dst.slug) == before


def test_permissions(app, client, world):
    src, dst = world["source"], world["target"]
    body = {"targetProjectId": dst.slug, "contentType": "scenes", "documentId": world["scene"]}
    before = snapshot(app, dst.slug)
    r = clone(client, world["viewer"], src.slug, body)   # viewer of both: may look, not create
    assert r.status_code == 403, r.json
    r = clone(client, world["collaborator"], src.slug, body)  # no role on the target
    assert r.status_code == 404, r.json
    r = clone(client, world["outsider"], src.slug, body)  # no role on the source
    assert r.status_code == 404, r.json
    outsider_project = create_project(app, world["outsider"], "Outside", "outside-film")
    r = clone(client, world["outsider"], src.slug, {**body, "targetProjectId": outsider_project.slug})
    assert r.status_code == 404, r.json
    r = clone(client, world["owner"], src.slug, {**body, "documentId": "0" * 24})
    assert r.status_code == 404, r.json
    r = clone(client, world["owner"], src.slug, {**body, "contentType": "nosuch"})
    assert r.status_code == 404, r.json
    r = clone(client, world["owner"], src.slug, {**body, "depth": "sideways"})
    assert r.status_code == 422, r.json
    assert snapshot(app, dst.slug) == before
    assert clone(client, world["editor"], src.slug, body).status_code == 201


def test_preserve_ids_conflict_is_409_before_writing(app, client, world):
    src, dst, owner = world["source"], world["target"], world["owner"]
    body = {"targetProjectId": dst.slug, "contentType": "characters", "documentId": world["hero"],
            "preserveIds": True}
    r = clone(client, owner, src.slug, body)
    assert r.status_code == 201, r.json
    assert r.json["newRootId"] == world["hero"] and all(k == v for k, v in r.json["idMap"].items())
    before = snapshot(app, dst.slug)
    r = clone(client, owner, src.slug, {**body, "contentType": "scenes", "documentId": world["scene"]})
    assert r.status_code == 409, r.json
    assert world["hero"] in r.json["ids"]
    assert snapshot(app, dst.slug) == before
    r = clone(client, owner, src.slug, {**body, "contentType": "scenes", "documentId": world["scene"], "dryRun": True})
    assert r.status_code == 409


def test_preserve_ids_rollback_keeps_what_the_targets_graph_already_had(app, client, world, monkeypatch):
    """Relationships drawn in the target before the documents exist name the same ids a
    preserveIds clone writes; a failed clone must leave them (and their nodes) alone."""
    ext = app.extensions["aladdin"]
    src, dst, owner = world["source"], world["target"], world["owner"]
    # The graph API refuses ids without documents, and deleting a document removes its node;
    # a plugin writing the store directly can still leave such nodes.
    hero, rival = NodeRef("characters", world["hero"]), NodeRef("characters", world["rival"])
    ext.graph.add_relationships(dst.slug, [Relationship(hero, NodeRef("locations", "0" * 24), "LOCATED_AT"),
                                           Relationship(hero, rival, "RIVAL_OF")])
    before = snapshot(app, dst.slug)
    real_add = ext.graph.add_relationship_rows

    def flaky_add(project, rows):
        real_add(project, list(rows))
        raise RuntimeError("graph store went away")

    monkeypatch.setattr(ext.graph, "add_relationship_rows", flaky_add)
    r = clone(client, owner, src.slug, {"targetProjectId": dst.slug, "contentType": "scenes",
                                        "documentId": world["scene"], "preserveIds": True})
    assert r.status_code == 500 and "rolled back" in r.json["message"]
    assert snapshot(app, dst.slug) == before
    monkeypatch.undo()
    r = clone(client, owner, src.slug, {"targetProjectId": dst.slug, "contentType": "scenes",
                                        "documentId": world["scene"], "preserveIds": True})
    assert r.status_code == 201, r.json
    nodes, rels = ext.graph.list_all(dst.slug)
    assert len(rels) == len(before["graph"][1]) + 4  # the clone's five, one of which was there


class _Refuser:
    @hookimpl
    def aladdin_before_clone(self, app, source, target, plan, user):
        if plan.document_count > 3:
            raise WriteRefused("clones of more than 3 documents are not allowed here", status=422)


@pytest.mark.parametrize("stage", ["media", "documents", "graph", "hook"])
def test_failure_at_each_stage_leaves_target_unchanged(app, client, world, monkeypatch, stage):
    ext = app.extensions["aladdin"]
    src, dst, owner = world["source"], world["target"], world["owner"]
    # Something already in the target must survive the rollback untouched.
    kept = clone(client, owner, src.slug, {"targetProjectId": dst.slug, "contentType": "characters",
                                           "documentId": world["hero"]})
    assert kept.status_code == 201
    before = snapshot(app, dst.slug)
    assert before["storage"] and before["graph"][1]
    calls = {"n": 0}
    if stage == "media":
        real_copy = ext.storage.copy

        def flaky_copy(src_key, dst_key):
            calls["n"] += 1
            if calls["n"] == 3:
                real_copy(src_key, dst_key)  # the object lands, then the call still fails
                raise OSError("disk full")
            real_copy(src_key, dst_key)

        monkeypatch.setattr(ext.storage, "copy", flaky_copy)
    elif stage == "documents":
        db = ext.db.project(dst.slug)
        real_collection = type(db["scenes"])
        real_insert = real_collection.insert_many

        def flaky_insert(self, docs, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 3:
                real_insert(self, docs[:1], *args, **kwargs)  # a partial bulk write
                raise RuntimeError("connection reset during insert_many")
            return real_insert(self, docs, *args, **kwargs)

        monkeypatch.setattr(real_collection, "insert_many", flaky_insert)
    elif stage == "graph":
        real_add = ext.graph.add_relationship_rows

        def flaky_add(project, rows):
            real_add(project, list(rows))
            raise RuntimeError("graph store went away")

        monkeypatch.setattr(ext.graph, "add_relationship_rows", flaky_add)
    else:
        ext.pm.register(_Refuser(), name="refuser")
    try:
        r = clone(client, owner, src.slug, {"targetProjectId": dst.slug, "contentType": "scenes",
                                            "documentId": world["scene"]})
    finally:
        if stage == "hook":
            ext.pm.unregister(name="refuser")
    if stage == "hook":
        assert r.status_code == 422 and "not allowed" in r.json["message"], r.json
    else:
        assert r.status_code >= 500 and "rolled back" in r.json["message"], r.json
    monkeypatch.undo()
    assert snapshot(app, dst.slug) == before
    # The source still clones fine afterwards.
    assert clone(client, owner, src.slug, {"targetProjectId": dst.slug, "contentType": "scenes",
                                           "documentId": world["scene"]}).status_code == 201


def test_missing_media_object_is_409_and_rolls_back(app, client, world):
    ext = app.extensions["aladdin"]
    src, dst, owner = world["source"], world["target"], world["owner"]
    media = ext.db.project(src.slug)["media"].find_one({"_id": ObjectId(world["media"][2])})
    ext.storage.delete(media["storageKey"])
    before = snapshot(app, dst.slug)
    r = clone(client, owner, src.slug, {"targetProjectId": dst.slug, "contentType": "scenes",
                                        "documentId": world["scene"]})
    assert r.status_code == 409 and "missing" in r.json["message"], r.json
    assert snapshot(app, dst.slug) == before


class _Events:
    def __init__(self):
        self.events = []

    @hookimpl
    def aladdin_event(self, app, event):
        if event.name.startswith("clone."):
            self.events.append(event)


def test_clone_events_for_source_and_target(app, client, world):
    recorder = _Events()
    app.extensions["aladdin"].pm.register(recorder, name="recorder")
    try:
        r = clone(client, world["owner"], world["source"].slug, {
            "targetProjectId": world["target"].slug, "contentType": "scenes", "documentId": world["scene"]})
    finally:
        app.extensions["aladdin"].pm.unregister(name="recorder")
    assert r.status_code == 201
    done = [e for e in recorder.events if e.name == "clone.completed"]
    assert {e.project_id for e in done} == {str(world["source"].id), str(world["target"].id)}
    assert all(e.details["clonedCount"] == 9 and e.actor_id == str(world["owner"].id) for e in done)
    # Every detail the event carries is the documented one (docs/plugin_hooks.md, aladdin_event).
    docs = (Path(__file__).resolve().parents[2] / "docs" / "plugin_hooks.md").read_text()
    said = docs[docs.index("A clone emits one `clone.completed`"):docs.index("`clone.progress` carries")]
    for e in done:
        assert set(e.details) == {"role", "jobId", "sourceProjectId", "targetProjectId", "rootId", "clonedCount",
                                  "newRootId", "media", "relationships"}
        assert all(f"`{key}`" in said for key in e.details), set(e.details)
    # Progress goes to both projects' rooms, each in order, with the clone's real job id.
    job_id = r.json["jobId"]
    for pid in (str(world["source"].id), str(world["target"].id)):
        events = [e for e in recorder.events if e.name == "clone.progress" and e.project_id == pid]
        progress = [e.details["progress"] for e in events]
        assert progress[0] == 0.0 and progress[-1] == 1.0 and progress == sorted(progress)
        assert all(e.details["jobId"] == job_id and e.details["projectId"] == pid for e in events)


def test_cli_clone(app, world, monkeypatch):
    from click.testing import CliRunner

    import core.cli
    from plugins.clone.cli import clone_command

    monkeypatch.setattr(core.cli.context, "_app", app)
    src, dst = world["source"], world["target"]
    runner = CliRunner()
    before = snapshot(app, dst.slug)
    r = runner.invoke(clone_command, [src.slug, "scenes", world["scene"], "--to", dst.slug, "--dry-run"])
    assert r.exit_code == 0, r.output
    assert '"documentCount": 9' in r.output and snapshot(app, dst.slug) == before
    r = runner.invoke(clone_command, [src.slug, "scenes", world["scene"], "--to", dst.slug, "--no-media",
                                      "--no-relationships"])
    assert r.exit_code == 0, r.output
    assert "cloned 6 documents, 0 media objects, 0 relationships into second-film" in r.output
    assert f"cloning scenes/{world['scene']}" in r.output  # the progress bar's label (planning moves it too)
    r = runner.invoke(clone_command, [src.slug, "characters", world["hero"], "--to", dst.slug, "--shallow"])
    assert r.exit_code == 0 and "cloned 1 documents" in r.output and "warning:" in r.output, r.output
    r = runner.invoke(clone_command, [src.slug, "scenes", "0" * 24, "--to", dst.slug])
    assert r.exit_code == 1 and "document not found" in r.output
    r = runner.invoke(clone_command, [src.slug, "scenes", world["scene"], "--to", dst.slug,
                                      "--as", world["viewer"].email])
    assert r.exit_code == 1 and "does not allow content:create" in r.output


@pytest.mark.parametrize("fail_at", [1, 3])
def test_threaded_media_copies_roll_back_exactly(app, client, world, monkeypatch, fail_at):
    """With a pool of copy threads (the default on object stores) a failed copy still removes every
    object that landed, including ones copied concurrently with the document inserts."""
    import threading

    ext = app.extensions["aladdin"]
    src, dst, owner = world["source"], world["target"], world["owner"]
    monkeypatch.setitem(ext.settings.extra, "CLONE_MEDIA_WORKERS", "4")
    before = snapshot(app, dst.slug)
    real_copy, lock, seen = ext.storage.copy, threading.Lock(), {"n": 0, "threads": set()}

    def flaky_copy(src_key, dst_key):
        with lock:
            seen["n"] += 1
            seen["threads"].add(threading.get_ident())
            n = seen["n"]
        real_copy(src_key, dst_key)  # lands first: the rollback must find and remove it
        if n == fail_at:
            raise OSError("bucket went away")

    monkeypatch.setattr(ext.storage, "copy", flaky_copy)
    r = clone(client, owner, src.slug, {"targetProjectId": dst.slug, "contentType": "scenes",
                                        "documentId": world["scene"]})
    assert r.status_code >= 500 and "rolled back" in r.json["message"], r.json
    assert threading.get_ident() not in seen["threads"]  # the copies ran on the pool
    monkeypatch.setattr(ext.storage, "copy", real_copy)
    assert snapshot(app, dst.slug) == before
    r = clone(client, owner, src.slug, {"targetProjectId": dst.slug, "contentType": "scenes",
                                        "documentId": world["scene"]})
    assert r.status_code == 201, r.json
    for item in r.json["media"]:
        assert ext.storage.get(item["storageKey"]) == ext.storage.get(item["sourceKey"])


def test_copies_share_nothing_they_change_with_the_sources(app, world):
    """Copy-on-write rewriting: nested and ObjectId references are mapped in the copies while the
    source documents the plan holds stay exactly as read (hooks see them through the plan)."""
    import copy as copylib

    from plugins.clone.plan import CloneOptions
    from plugins.clone.planner import Planner

    ext = app.extensions["aladdin"]
    src, dst, owner = world["source"], world["target"], world["owner"]
    db = ext.db.project(src.slug)
    hero, rival, location = world["hero"], world["rival"], world["location"]
    scene_id = ObjectId()
    db["scenes"].insert_one({
        "_id": scene_id, "projectId": str(src.id), "createdBy": str(owner.id), "version": 1,
        "content": {"title": "Nested", "leadId": ObjectId(hero),
                    "groups": {"memberIds": [[hero, rival], [rival]], "tags": ["x"]},
                    "beats": [{"speakerId": rival, "extra": {"brainValidated": True, "locationId": location}}],
                    "untouched": {"deep": [{"a": 1}]}},
        "relatedDocuments": [{"collection": "characters", "documentId": hero}]})
    plan = Planner(app, src, dst, owner, CloneOptions(collection="scenes", document_id=str(scene_id))).plan()
    for (collection, ident), doc in plan.sources.items():
        assert doc == db[collection].find_one({"_id": ObjectId(ident)}), (collection, ident)
    before = copylib.deepcopy(plan.sources)
    m = plan.id_map
    (copy_doc,) = [d for d in plan.copies["scenes"] if d["clonedFrom"]["documentId"] == str(scene_id)]
    content = copy_doc["content"]
    assert content["leadId"] == ObjectId(m[hero])
    assert content["groups"]["memberIds"] == [[m[hero], m[rival]], [m[rival]]]
    assert content["beats"] == [{"speakerId": m[rival], "extra": {"locationId": m[location]}}]
    assert copy_doc["relatedDocuments"] == [{"collection": "characters", "documentId": m[hero]}]
    assert content["untouched"] == {"deep": [{"a": 1}]}
    # What the executor changes on a copy (top-level fields, encryption of copies) stays in the copy.
    copy_doc["storageKey"] = "changed"
    assert plan.sources == before
    r = _execute(app, plan, owner)
    assert r["clonedCount"] == len(plan.sources)
    stored = ext.db.project(dst.slug)["scenes"].find_one({"_id": ObjectId(m[str(scene_id)])})
    assert stored["content"]["groups"]["memberIds"] == [[m[hero], m[rival]], [m[rival]]]
    assert plan.sources == before


def _execute(app, plan, user):
    from plugins.clone.executor import Executor

    return Executor(app, plan, user).run()


def test_cyclic_gc_is_paused_only_while_cloning(app, client, world, monkeypatch):
    import gc

    from plugins.clone import gc_pause

    ext = app.extensions["aladdin"]
    seen = []
    real_add = ext.graph.add_relationship_rows

    def spy(project, rows):
        seen.append(gc.isenabled())
        return real_add(project, rows)

    monkeypatch.setattr(ext.graph, "add_relationship_rows", spy)
    assert gc.isenabled()
    r = clone(client, world["owner"], world["source"].slug, {
        "targetProjectId": world["target"].slug, "contentType": "scenes", "documentId": world["scene"]})
    assert r.status_code == 201 and seen == [False] and gc.isenabled()

    def broken(project, rows):
        raise RuntimeError("graph down")

    monkeypatch.setattr(ext.graph, "add_relationship_rows", broken)
    r = clone(client, world["owner"], world["source"].slug, {
        "targetProjectId": world["target"].slug, "contentType": "scenes", "documentId": world["scene"]})
    assert r.status_code >= 500 and gc.isenabled() and gc_pause._gc_holders == 0
    gc.disable()
    try:
        with gc_pause.gc_paused():
            with gc_pause.gc_paused():
                pass
        assert not gc.isenabled()  # a collector someone else turned off stays off
    finally:
        gc.enable()


class _SecretsPlugin:
    @hookimpl
    def aladdin_content_types(self):
        from core.content import ContentType

        return [ContentType("credentials", "Credential", sensitive_fields=("content.secret",))]


def test_sensitive_fields_stay_encrypted_at_rest_in_the_clone(tmp_path, redis_server):
    """Copies of encrypted content are encrypted in the target and the plan's sources keep plaintext."""
    from core.app import create_app
    from core.crypto import MARKER
    from plugins.clone.executor import Executor
    from plugins.clone.plan import CloneOptions
    from plugins.clone.planner import Planner
    from tests.conftest import Actors, make_settings

    app = create_app(make_settings(tmp_path, redis_server), plugins=(_SecretsPlugin(),), load_entry_points=False)
    app.testing = True
    with app.app_context():
        owner = Actors(app).user("owner@example.com")
        src = create_project(app, owner, "Vault", "vault-src")
        dst = create_project(app, owner, "Vault Copy", "vault-dst")
        client = app.test_client()
        base = f"/api/v1/projects/{src.slug}/content/credentials"
        other = client.post(base, json={"content": {"label": "b", "secret": {"pass": "s2"}}}, headers=owner.headers)
        first = client.post(base, json={"content": {"label": "a", "secret": {"pass": "s1", "peerId": other.json["id"]}},
                                        "relatedDocuments": [{"collection": "credentials",
                                                              "documentId": other.json["id"]}]},
                            headers=owner.headers)
        assert first.status_code == 201 and other.status_code == 201
        plan = Planner(app, src, dst, owner, CloneOptions(collection="credentials", document_id=first.json["id"])).plan()
        result = Executor(app, plan, owner).run()
        assert result["clonedCount"] == 2
        assert {d["content"]["secret"]["pass"] for d in plan.sources.values()} == {"s1", "s2"}
        raw = list(app.extensions["aladdin"].db.project(dst.slug)["credentials"].find({}))
        assert len(raw) == 2 and all(d["content"]["secret"].startswith(MARKER) for d in raw)
        new_first = result["idMap"][first.json["id"]]
        r = client.get(f"/api/v1/projects/{dst.slug}/content/credentials/{new_first}", headers=owner.headers)
        assert r.json["content"]["secret"] == {"pass": "s1", "peerId": result["idMap"][other.json["id"]]}
        app.extensions["aladdin"].db.close()
