"""Exports obey the exporter's read rules (issue 11): over HTTP with real RQ jobs and FFmpeg.

Admin rules hide documents marked secret from everyone but the owner: an editor's export leaves
a secret scene out (checked on the rendered file), naming it in ``includeScenes`` is refused
exactly like an unknown id, the owner's export includes it, and the job re-applies the
requester's rules when it runs."""
from __future__ import annotations

import pytest
from bson import ObjectId

from core.content import SYSTEM
from core.models import JobRecord
from plugins.export.probe import probe
from tests.integration.test_export_helpers import add_scene, export_settings, local_path, run_jobs
from tests.media import make_scene

READ_RULES = '''
# viewers never see scenes
denied(actor: User, "content:view", doc: Content) if
    doc.collection = "scenes" and actor.role_in(doc.project) = "viewer";
# nobody but the owner sees documents marked secret
denied(actor: User, "content:view", doc: Content) if
    doc.content.secret = true and actor.role_in(doc.project) != "owner";
'''


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("policy-clips")
    return {
        "wide": make_scene(folder / "wide.mp4", 160, 90, 1.0, 25, audio=True),
        "silent": make_scene(folder / "silent.mp4", 120, 160, 1.0, 30, audio=False),
        "short": make_scene(folder / "short.mp4", 160, 90, 0.5, 25, audio=True, color="red"),
    }


@pytest.fixture
def policy_dir(tmp_path):
    d = tmp_path / "admin-policies"
    d.mkdir()
    (d / "reads.polar").write_text(READ_RULES)
    return d


@pytest.fixture
def settings(tmp_path, redis_server, policy_dir):
    return export_settings(tmp_path, redis_server, policy_dir=policy_dir)


def _mark_secret(app, project, collection, doc_id, owner):
    app.extensions["aladdin"].content.update(project, collection, str(doc_id), {"content.secret": True}, owner)


@pytest.fixture
def film(app, team, clips):
    """Scenes 1 and 2 (1 s each) are plain; scene 3 (0.5 s, completed) is secret."""
    project, owner = team["project"], team["owner"]
    first = add_scene(app, project, owner, clips["wide"], 1, title="Opening")
    second = add_scene(app, project, owner, clips["silent"], 2, title="Silent portrait")
    secret = add_scene(app, project, owner, clips["short"], 3, title="The twist")
    _mark_secret(app, project, "videos", secret["_id"], owner)
    return {"project": project, "scenes": [first, second], "secret": secret, "owner": owner,
            "base": f"/api/v1/projects/{project.slug}/exports", **team}


def _post(client, film, user, path="", **body):
    payload = {"preset": "mp4-good", **body} if not path else body
    return client.post(film["base"] + path, json=payload, headers=user.headers)


def _rendered_duration(app, client, body, name):
    out = app.extensions["aladdin"].settings.data_dir / name
    download = client.get(local_path(app, body["downloadUrl"]))
    assert download.status_code == 200
    out.write_bytes(download.data)
    return probe(out).duration


def test_editor_export_leaves_out_the_secret_scene_and_the_owner_export_has_it(app, client, film):
    editor, owner = film["editor"], film["owner"]
    mine = _post(client, film, editor, outputFilename="editor cut")
    theirs = _post(client, film, owner, outputFilename="owner cut")
    assert mine.status_code == 202 and theirs.status_code == 202, (mine.json, theirs.json)
    # Chosen when asked for, as the requester sees the project.
    visible = [str(s["_id"]) for s in film["scenes"]]
    assert JobRecord.objects(id=mine.json["jobId"]).first().params["sceneIds"] == visible
    assert JobRecord.objects(id=theirs.json["jobId"]).first().params["sceneIds"] == \
        visible + [str(film["secret"]["_id"])]

    run_jobs(app)

    edited = client.get(mine.json["statusUrl"], headers=editor.headers).json
    assert edited["status"] == "completed", edited["error"]
    assert edited["sceneCount"] == 2 and edited["duration"] == pytest.approx(2.0, abs=0.2)
    assert _rendered_duration(app, client, edited, "editor.mp4") == pytest.approx(2.0, abs=0.2)

    owned = client.get(theirs.json["statusUrl"], headers=owner.headers).json
    assert owned["status"] == "completed", owned["error"]
    assert owned["sceneCount"] == 3 and owned["duration"] == pytest.approx(2.5, abs=0.2)
    assert _rendered_duration(app, client, owned, "owner.mp4") == pytest.approx(2.5, abs=0.2)

    # The owner's render shows the secret scene: others see the job but get no download link,
    # in the job, the list and a batch alike; the editor's own export stays downloadable.
    assert client.get(theirs.json["statusUrl"], headers=editor.headers).json["downloadUrl"] is None
    assert client.get(theirs.json["statusUrl"], headers=film["viewer"].headers).json["downloadUrl"] is None
    listed = {j["id"]: j for j in client.get(film["base"], headers=editor.headers).json["items"]}
    assert listed[theirs.json["jobId"]]["downloadUrl"] is None and listed[mine.json["jobId"]]["downloadUrl"]
    assert client.get(mine.json["statusUrl"], headers=film["viewer"].headers).json["downloadUrl"]
    assert {j["id"]: j for j in client.get(film["base"], headers=owner.headers).json["items"]}[
        theirs.json["jobId"]]["downloadUrl"]


def test_include_scenes_naming_a_secret_scene_is_refused_like_an_unknown_id(app, client, film):
    editor, owner = film["editor"], film["owner"]
    secret_id, unknown_id = str(film["secret"]["_id"]), str(ObjectId())
    plain = str(film["scenes"][0]["_id"])

    def shape(response, scene_id):
        return response.status_code, _replace(response.json, scene_id, "<id>")

    for path, body in (("", {}), ("/batch", {"presets": ["mp4-good", "webm-good"]})):
        hidden = _post(client, film, editor, path, includeScenes=[plain, secret_id], **body)
        missing = _post(client, film, editor, path, includeScenes=[plain, unknown_id], **body)
        assert hidden.status_code == 422 and hidden.json["unknownScenes"] == [secret_id]
        assert shape(hidden, secret_id) == shape(missing, unknown_id)
        assert "do not exist" in hidden.json["message"]
    assert JobRecord.objects(kind="export").count() == 0

    allowed = _post(client, film, owner, includeScenes=[secret_id])
    assert allowed.status_code == 202, allowed.json
    run_jobs(app)
    body = client.get(allowed.json["statusUrl"], headers=owner.headers).json
    assert body["status"] == "completed" and body["sceneCount"] == 1
    assert body["duration"] == pytest.approx(0.5, abs=0.2)


def _replace(value, old, new):
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, old, new) for k, v in value.items()}
    return value


def test_nothing_visible_to_export_answers_like_an_empty_project(app, client, film, actors):
    from core.projects import create_project

    editor, owner = film["editor"], film["owner"]
    for scene in film["scenes"]:
        _mark_secret(app, film["project"], "videos", scene["_id"], owner)
    hidden = _post(client, film, editor)
    solo = actors.user("solo@example.com")
    empty = create_project(app, solo, "Empty", "empty-film")
    nothing = client.post(f"/api/v1/projects/{empty.slug}/exports", json={"preset": "mp4-good"},
                          headers=solo.headers)
    assert hidden.status_code == nothing.status_code == 422
    assert hidden.json == nothing.json and "no completed scene" in hidden.json["message"]
    batch = _post(client, film, editor, "/batch", presets=["mp4-good"])
    assert batch.status_code == 422 and batch.json == nothing.json
    assert JobRecord.objects(kind="export").count() == 0
    assert _post(client, film, owner).status_code == 202  # the owner still sees all three


def test_a_scene_whose_media_is_hidden_is_refused_like_missing_media(app, client, film):
    editor, owner, project = film["editor"], film["owner"], film["project"]
    scene = film["scenes"][0]
    media_id = scene["content"]["mediaId"]
    _mark_secret(app, project, "media", media_id, owner)
    r = _post(client, film, editor, includeScenes=[str(scene["_id"])])
    assert r.status_code == 422 and r.json["message"].endswith(f"its media file {media_id} does not exist")
    assert _post(client, film, owner, includeScenes=[str(scene["_id"])]).status_code == 202


def test_the_job_applies_the_requesters_rules_when_it_runs(app, client, film):
    """A scene hidden from the requester after the request fails the job exactly like a scene
    deleted after the request; the owner's export of the same scenes still renders."""
    editor, owner, project = film["editor"], film["owner"], film["project"]
    content = app.extensions["aladdin"].content
    first, second = (str(s["_id"]) for s in film["scenes"])
    doomed = content.create(project, "videos", {"sceneNumber": 9, "status": "completed",
                                                "content": dict(film["scenes"][1]["content"])}, owner)
    hidden = _post(client, film, editor, includeScenes=[first, second]).json["jobId"]
    deleted = _post(client, film, editor, includeScenes=[str(doomed["_id"])]).json["jobId"]
    owned = _post(client, film, owner, includeScenes=[first, second]).json["jobId"]
    _mark_secret(app, project, "videos", first, owner)
    content.delete(project, "videos", str(doomed["_id"]), owner)

    run_jobs(app)

    failed_hidden = client.get(f"{film['base']}/{hidden}", headers=editor.headers).json
    failed_deleted = client.get(f"{film['base']}/{deleted}", headers=editor.headers).json
    assert failed_hidden["status"] == failed_deleted["status"] == "failed"
    assert failed_hidden["error"] == f"scene video {first} was deleted before the export ran"
    assert failed_deleted["error"] == f"scene video {doomed['_id']} was deleted before the export ran"
    done = client.get(f"{film['base']}/{owned}", headers=owner.headers).json
    assert done["status"] == "completed" and done["sceneCount"] == 2, done["error"]
    assert content.get(project, "videos", first, reader=SYSTEM)["content"]["secret"] is True


def test_a_job_whose_requester_is_gone_renders_nothing(app, client, film):
    from core.models import User

    editor = film["editor"]
    job_id = _post(client, film, editor).json["jobId"]
    User.objects(id=editor.id).delete()
    run_jobs(app)
    record = JobRecord.objects(id=job_id).first()
    assert record.status == "failed" and record.attempts == 1
    assert "requested the export no longer exists" in record.error
    assert app.extensions["aladdin"].storage.list(f"projects/{film['project'].slug}/exports/") == []
