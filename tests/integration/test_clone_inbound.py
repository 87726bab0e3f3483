"""Inbound references in clones (``ContentType.belongs_to``): a deep clone of a scene brings the shots
that point at it, rewritten to the new scene, under the cloning user's read rules; a dry run and the
plan ``aladdin_before_clone`` sees list them; a shallow clone does not follow them."""

from __future__ import annotations

from bson import ObjectId

from tests.shots_plugin import shots_app, url  # noqa: F401 - shots_app is a fixture


def make_scene_with_shots(app, author, *, secret_shot: bool = False) -> dict:
    client = app.test_client()

    def post(collection, body):
        r = client.post(url(app, collection), json=body, headers=author.headers)
        assert r.status_code == 201, r.json
        return r.json["id"]

    hero = post("characters", {"content": {"name": "Ada"}})
    scene = post("scenes", {"content": {"title": "Chase", "characterIds": [hero]}})
    other = post("scenes", {"content": {"title": "Elsewhere"}})
    shots = [post("shots", {"content": {"sceneId": scene, "number": n, "heroId": hero}}) for n in (1, 2)]
    stray = post("shots", {"content": {"sceneId": other, "number": 1}})
    hidden = post("shots", {"content": {"sceneId": scene, "number": 3, "secret": True}}) if secret_shot else None
    return {"scene": scene, "other": other, "hero": hero, "shots": shots, "stray": stray, "hidden": hidden}


def clone(app, user, body):
    slug = app.crew["project"].slug
    return app.test_client().post(f"/api/v1/projects/{slug}/clone",
                                  json={"targetProjectId": slug, "contentType": "scenes", **body},
                                  headers=user.headers)


def copies_of(app, collection: str, new_ids) -> list[dict]:
    db = app.extensions["aladdin"].db.project(app.crew["project"].slug)
    return list(db[collection].find({"_id": {"$in": [ObjectId(i) for i in new_ids]}}))


def test_deep_clone_of_a_scene_brings_its_shots_rewritten(shots_app):
    editor = shots_app.crew["editor"]
    world = make_scene_with_shots(shots_app, editor)
    r = clone(shots_app, editor, {"documentId": world["scene"]})
    assert r.status_code == 201, r.json
    id_map, new_scene = r.json["idMap"], r.json["newRootId"]
    assert r.json["documents"] == {"characters": 1, "scenes": 1, "shots": 2}
    assert set(world["shots"]) <= set(id_map) and world["stray"] not in id_map and world["other"] not in id_map
    shots = copies_of(shots_app, "shots", [id_map[s] for s in world["shots"]])
    assert sorted(s["content"]["number"] for s in shots) == [1, 2]
    for shot in shots:  # the copy points at the copied scene, and its own references are rewritten too
        assert shot["content"]["sceneId"] == new_scene and shot["content"]["heroId"] == id_map[world["hero"]]
        assert shot["clonedFrom"]["documentId"] in world["shots"] and shot["isClone"] is True
    # The original shots still belong to the original scene.
    originals = copies_of(shots_app, "shots", world["shots"])
    assert {s["content"]["sceneId"] for s in originals} == {world["scene"]}


def test_dry_run_and_the_clone_hook_list_the_shots(shots_app):
    editor = shots_app.crew["editor"]
    world = make_scene_with_shots(shots_app, editor)
    r = clone(shots_app, editor, {"documentId": world["scene"], "dryRun": True})
    assert r.status_code == 200, r.json
    assert r.json["dryRun"] is True and r.json["documents"]["shots"] == 2
    assert set(world["shots"]) <= set(r.json["idMap"])
    plan = shots_app.shots_plugin.plans[-1]
    assert plan.dry_run is True and plan.collections()["shots"] == 2
    for planned in plan.documents_in("shots"):
        assert planned.source_id in world["shots"] and planned.new_id == r.json["idMap"][planned.source_id]
        assert planned.document["content"]["sceneId"] == plan.root.new_id
    assert copies_of(shots_app, "shots", r.json["idMap"].values()) == []  # nothing written


def test_a_shot_the_cloner_may_not_view_stays_behind(shots_app):
    owner, editor = shots_app.crew["owner"], shots_app.crew["editor"]
    world = make_scene_with_shots(shots_app, owner, secret_shot=True)
    r = clone(shots_app, editor, {"documentId": world["scene"]})
    assert r.status_code == 201, r.json
    assert world["hidden"] not in r.json["idMap"] and r.json["documents"]["shots"] == 2
    # Nothing names it: unlike a hidden outward reference, it is not reported (its id would leak).
    assert world["hidden"] not in str(r.json["hidden"]) and world["hidden"] not in str(r.json["warnings"])
    # The owner, who may view it, gets all three.
    r = clone(shots_app, owner, {"documentId": world["scene"]})
    assert r.status_code == 201 and r.json["documents"]["shots"] == 3 and world["hidden"] in r.json["idMap"]


def test_a_shallow_clone_does_not_follow_inbound_references(shots_app):
    editor = shots_app.crew["editor"]
    world = make_scene_with_shots(shots_app, editor)
    r = clone(shots_app, editor, {"documentId": world["scene"], "depth": "shallow"})
    assert r.status_code == 201, r.json
    assert r.json["documents"] == {"scenes": 1} and not set(world["shots"]) & set(r.json["idMap"])


def test_cloning_a_shot_deep_brings_its_scene_and_the_scenes_shots(shots_app):
    """A copied scene is always whole: reached from a shot, it still brings its shots."""
    editor = shots_app.crew["editor"]
    world = make_scene_with_shots(shots_app, editor)
    r = clone(shots_app, editor, {"contentType": "shots", "documentId": world["shots"][0],
                                  "overrides": {"content.number": 9}})
    assert r.status_code == 201, r.json
    assert r.json["documents"] == {"characters": 1, "scenes": 1, "shots": 2}


def test_members_are_found_through_an_index_on_the_declared_field(shots_app):
    db = shots_app.extensions["aladdin"].db.project(shots_app.crew["project"].slug)
    keys = [[tuple(k) for k in info["key"]] for info in db["shots"].index_information().values()]
    assert [("content.sceneId", 1)] in keys
