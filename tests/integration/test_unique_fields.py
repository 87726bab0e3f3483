"""Unique fields a content type declares (``ContentType.unique``): enforced by a unique index on both
document servers, so concurrent writers cannot both store a duplicate, answered with a 409."""

from __future__ import annotations

import threading

import pytest

from core.errors import AladdinError, WriteRefused
from core.indexes import DuplicateValues, ensure_indexes
from tests.shots_plugin import ShotsPlugin, shots_app, url  # noqa: F401 - shots_app is a fixture

SCENE = "0123456789abcdef01234567"


def test_two_concurrent_writes_of_one_shot_number_store_one(shots_app):
    editor, collaborator = shots_app.crew["editor"], shots_app.crew["collaborator"]
    answers: list = []
    gate = threading.Barrier(4)

    def write(user, take):
        client = shots_app.test_client()
        gate.wait()
        r = client.post(url(shots_app, "shots"), json={"content": {"sceneId": SCENE, "number": 7, "take": take}},
                        headers=user.headers)
        answers.append((r.status_code, r.json))

    threads = [threading.Thread(target=write, args=(user, n)) for n, user in
               enumerate((editor, collaborator, editor, collaborator))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(code for code, _ in answers)
    assert codes == [201, 409, 409, 409], answers
    refused = next(body for code, body in answers if code == 409)
    assert refused["fields"] == ["content.sceneId", "content.number"]
    assert "content.number = 7" in refused["message"] and "unique" in refused["message"]
    listed = shots_app.test_client().get(url(shots_app, "shots"), headers=editor.headers).json
    assert listed["total"] == 1


def test_update_to_a_taken_number_is_a_409_and_changes_nothing(shots_app):
    client, editor = shots_app.test_client(), shots_app.crew["editor"]
    ids = [client.post(url(shots_app, "shots"), json={"content": {"sceneId": SCENE, "number": n}},
                       headers=editor.headers).json["id"] for n in (1, 2)]
    r = client.patch(url(shots_app, "shots", ids[1]), json={"content": {"number": 1}}, headers=editor.headers)
    assert r.status_code == 409 and "content.number = 1" in r.json["message"], r.json
    stored = client.get(url(shots_app, "shots", ids[1]), headers=editor.headers).json
    assert stored["content"]["number"] == 2 and stored["version"] == 1
    # Another scene, or a free number, is fine; a stale version is still the usual version conflict.
    assert client.patch(url(shots_app, "shots", ids[1]), json={"content": {"number": 3}},
                        headers=editor.headers).status_code == 200
    stale = client.patch(url(shots_app, "shots", ids[1]), json={"content": {"number": 4}, "baseVersion": 1},
                         headers=editor.headers)
    assert stale.status_code == 409 and stale.json["message"] == "version conflict", stale.json
    other = client.post(url(shots_app, "shots"), json={"content": {"sceneId": "f" * 24, "number": 1}},
                        headers=editor.headers)
    assert other.status_code == 201, other.json


def test_documents_without_the_fields_take_no_part(shots_app):
    client, editor = shots_app.test_client(), shots_app.crew["editor"]
    for body in ({"content": {}}, {"content": {}}, {"content": {"sceneId": SCENE}}, {"content": {"sceneId": SCENE}}):
        assert client.post(url(shots_app, "shots"), json=body, headers=editor.headers).status_code == 201


def test_a_clone_duplicating_a_unique_value_is_a_409_and_writes_nothing(shots_app):
    client, owner = shots_app.test_client(), shots_app.crew["owner"]
    shot = client.post(url(shots_app, "shots"), json={"content": {"sceneId": SCENE, "number": 5}},
                       headers=owner.headers).json["id"]
    clone_url = f"/api/v1/projects/{shots_app.crew['project'].slug}/clone"
    r = client.post(clone_url, json={"targetProjectId": "shot-film", "contentType": "shots", "documentId": shot}, headers=owner.headers)
    assert r.status_code == 409 and "unique" in r.json["message"], r.json
    assert client.get(url(shots_app, "shots"), headers=owner.headers).json["total"] == 1
    r = client.post(clone_url, json={"targetProjectId": "shot-film", "contentType": "shots", "documentId": shot,
                                     "overrides": {"content.number": 6}}, headers=owner.headers)
    assert r.status_code == 201, r.json


def test_unique_index_replaces_a_plain_one_and_refuses_stored_duplicates(shots_app):
    """Older projects get the index by migration: a plain index on the same keys gives way (the
    embedded server would otherwise keep it and lose the uniqueness); stored duplicates are named."""
    ext = shots_app.extensions["aladdin"]
    db = ext.db.project("legacy-film")
    keys = [("content.sceneId", 1), ("content.number", 1)]
    db["shots"].create_index(keys)
    ensure_indexes(db, [ext.content_types["shots"]])
    unique = [i for i in db["shots"].index_information().values() if [tuple(k) for k in i["key"]] == keys]
    assert len(unique) == 1 and unique[0].get("unique") is True
    db.drop_collection("shots")
    db["shots"].insert_many([{"content": {"sceneId": SCENE, "number": 1}} for _ in range(2)])
    with pytest.raises(DuplicateValues, match="content.sceneId, content.number.*aladdin migrate"):
        ensure_indexes(db, [ext.content_types["shots"]])


def test_declarations_are_checked_when_the_type_is_made():
    from core.content import ContentType

    with pytest.raises(ValueError, match="unique"):
        ContentType("props", sensitive_fields=("content.serial",), unique=(("content.serial",),))
    with pytest.raises(ValueError, match="belongs_to"):
        ContentType("props", belongs_to=("content.sceneId",))
    assert ShotsPlugin().aladdin_content_types()[0].unique


def test_write_refused_takes_its_status_as_a_validated_keyword():
    assert WriteRefused("no").status == 422 and WriteRefused("no", status=409).status == 409
    with pytest.raises(TypeError, match=r'WriteRefused\("what went wrong", status=422\)'):
        WriteRefused(409, "the order hookspecs.py used to show")
    with pytest.raises(TypeError, match="status as a keyword"):
        WriteRefused("no", 409)
    for bad in (500, 200, "409", True):
        with pytest.raises(ValueError, match="WriteRefused status must be an int in 400-499"):
            WriteRefused("no", status=bad)
    assert AladdinError("down", status=503).status == 503
