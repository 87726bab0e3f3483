"""Issue 13 over HTTP (Flask test client): slugs, hostile JSON, content keys, server paths in
errors, export names and the rate limit, truncated sources, URLs in export answers and webhooks."""

from __future__ import annotations

import json
import subprocess

import pytest

from core.models import JobRecord
from plugins.export.ffmpeg import ffmpeg_exe
from tests.integration.test_export_helpers import add_scene, export_settings, local_path, run_jobs
from tests.media import make_scene


def _projects(client, user, **body):
    return client.post("/api/v1/projects", json={"name": "Film", **body}, headers=user.headers)


# --- 3. slugs -------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["alpha\n", "alpha\r\n", "al\npha", "alpha ", "Alpha", "-alpha", "al--pha"])
def test_malformed_slugs_are_refused(client, actors, slug):
    owner = actors.user("slugs@example.com")
    r = _projects(client, owner, slug=slug)
    assert r.status_code in (400, 422), (slug, r.json)
    assert client.get("/api/v1/projects", headers=owner.headers).json["total"] == 0


def test_slugs_that_look_like_ids_are_422_and_lookups_are_unambiguous(app, client, actors):
    owner = actors.user("ids@example.com")
    first = _projects(client, owner, slug="first-film").json
    for slug in (first["id"], "0123456789abcdef01234567"):
        r = _projects(client, owner, slug=slug)
        assert r.status_code == 422 and "project id" in r.json["message"], r.json
    assert client.get(f"/api/v1/projects/{first['id']}", headers=owner.headers).json["slug"] == "first-film"
    assert client.get("/api/v1/projects/first-film", headers=owner.headers).status_code == 200
    # Neither a slug with a newline nor an id with one reaches a project.
    assert client.get("/api/v1/projects/first-film%0A", headers=owner.headers).status_code == 404
    assert client.get(f"/api/v1/projects/{first['id']}%0A", headers=owner.headers).status_code == 404
    assert client.get("/api/v1/projects/first-film/content/scenes%0A", headers=owner.headers).status_code == 404



def test_a_project_from_before_the_rule_keeps_its_id_shaped_slug_without_shadowing(app, client, actors):
    """Stored before slugs were checked: still reachable by its slug, never in place of the
    project that really has that id."""
    from bson import ObjectId

    from core.models import Project
    from core.projects import add_member

    owner = actors.user("legacy@example.com")
    real = _projects(client, owner, slug="real-film").json
    legacy_slug, shadowing_slug = "0123456789abcdef01234567", real["id"]
    for slug in (legacy_slug, shadowing_slug):  # as an older release stored them (no validation)
        Project._get_collection().insert_one({"_id": ObjectId(), "slug": slug, "name": f"Old {slug}",
                                              "description": "", "ownerId": str(ObjectId())})
        add_member(app, Project.objects.get(slug=slug), owner, "editor")
    legacy = client.get(f"/api/v1/projects/{legacy_slug}", headers=owner.headers)
    assert legacy.status_code == 200 and legacy.json["slug"] == legacy_slug
    assert client.get(f"/api/v1/projects/{real['id']}", headers=owner.headers).json["slug"] == "real-film"

# --- 4. hostile JSON --------------------------------------------------------------------------


def _scenes(team):
    return f"/api/v1/projects/{team['project'].slug}/content/scenes"


@pytest.mark.parametrize("levels", [65, 500, 10_000, 100_000])
def test_bodies_nested_deeper_than_64_are_422(client, team, levels):
    owner = team["owner"]
    for body in ('{"content": {"x": ' + "[" * levels + "]" * levels + "}}",
                 '{"content": ' + '{"a": ' * levels + "1" + "}" * levels + "}"):
        r = client.post(_scenes(team), data=body, content_type="application/json", headers=owner.headers)
        assert r.status_code == 422 and "64" in r.json["message"], r.json
    created = client.post(_scenes(team), json={"content": {"x": json.loads("[" * 60 + "]" * 60)}},
                          headers=owner.headers)
    assert created.status_code == 201, created.json
    doc = created.json["id"]
    deep = '{"content": {"y": ' + "[" * levels + "]" * levels + "}}"
    r = client.patch(f"{_scenes(team)}/{doc}", data=deep, content_type="application/json", headers=owner.headers)
    assert r.status_code == 422
    # Brackets inside strings are not nesting.
    r = client.post(_scenes(team), json={"content": {"text": "[" * 1000}}, headers=owner.headers)
    assert r.status_code == 201


@pytest.mark.parametrize("body", [
    '{"content": {"title": "\\ud800"}}', '{"content": {"\\udfff": 1}}', '{"content": {"a\\u0000b": 1}}',
    '{"content": {"title": "nul \\u0000 here"}}', '{"content": {"list": [{"deep": "\\ud83d"}]}}',
    '{"name": "\\ud800"}',
])
def test_lone_surrogates_and_nul_anywhere_are_422(client, team, body):
    owner = team["owner"]
    for url in (_scenes(team), "/api/v1/projects"):
        r = client.post(url, data=body, content_type="application/json", headers=owner.headers)
        assert r.status_code == 422, (url, r.json)
        assert "NUL" in r.json["message"] or "surrogate" in r.json["message"]
    doc = client.post(_scenes(team), json={"content": {"title": "ok"}}, headers=owner.headers).json["id"]
    r = client.patch(f"{_scenes(team)}/{doc}", data=body, content_type="application/json", headers=owner.headers)
    assert r.status_code == 422


@pytest.mark.parametrize("content", [
    {"$where": "1"}, {"a.b": 1}, {"nested": {"$gt": 1}}, {"nested": {"x.y": 1}}, {"list": [{"$set": 1}]},
])
def test_operator_and_dotted_content_keys_are_refused_alike_by_post_and_patch(client, team, content):
    owner = team["owner"]
    post = client.post(_scenes(team), json={"content": content}, headers=owner.headers)
    doc = client.post(_scenes(team), json={"content": {"title": "ok"}}, headers=owner.headers).json["id"]
    patch = client.patch(f"{_scenes(team)}/{doc}", json={"content": content}, headers=owner.headers)
    assert post.status_code == patch.status_code == 422, (post.json, patch.json)
    assert post.json["message"] == patch.json["message"] and "not allowed" in post.json["message"]
    assert client.get(f"{_scenes(team)}/{doc}", headers=owner.headers).json["version"] == 1


def test_unicode_content_keys_and_values_still_work(client, team):
    r = client.post(_scenes(team), json={"content": {"título": "東京物語 🎬", "emoji": "\U0001f3ac"}},
                    headers=team["owner"].headers)
    assert r.status_code == 201 and r.json["content"]["título"] == "東京物語 🎬"


# --- 7. no server paths in answers ------------------------------------------------------------


def test_a_failed_clone_names_no_server_path(app, client, team, monkeypatch):
    from tests.integration.test_roles_matrix import _png

    owner, project = team["owner"], team["project"]
    from core.projects import create_project

    target = create_project(app, owner, "Target", "target-film")
    media = client.post(f"/api/v1/projects/{project.slug}/media", headers=owner.headers,
                        content_type="multipart/form-data",
                        data={"file": (__import__("io").BytesIO(_png()), "dot.png", "image/png")}).json
    scene = client.post(_scenes(team), json={"content": {"title": "s", "imageId": media["id"]}},
                        headers=owner.headers).json
    storage = app.extensions["aladdin"].storage
    secret_dir = str(app.extensions["aladdin"].settings.data_dir)

    def broken_copy(src, dst):
        raise PermissionError(13, "Permission denied", f"{secret_dir}/storage/{dst}")

    monkeypatch.setattr(storage, "copy", broken_copy)
    r = client.post(f"/api/v1/projects/{project.slug}/clone", headers=owner.headers,
                    json={"targetProjectId": str(target.id), "contentType": "scenes", "documentId": scene["id"]})
    assert r.status_code == 500, r.json
    assert "Permission denied" in r.json["message"]
    assert secret_dir not in r.json["message"] and "/storage/" not in r.json["message"]


# --- 8 and 9. exports ---------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path, redis_server):
    return export_settings(tmp_path, redis_server)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_scene(tmp_path_factory.mktemp("hardening-clips") / "clip.mp4", 64, 48, 1.0, 10, audio=True)


@pytest.fixture
def scene(app, team, clip):
    return add_scene(app, team["project"], team["owner"], clip, 1, title="Opening")


def _export(client, team, **body):
    return client.post(f"/api/v1/projects/{team['project'].slug}/exports",
                       json={"preset": "mp4-good", **body}, headers=team["owner"].headers)


@pytest.mark.parametrize("name", ["東京物語", "Фильм", "Café Müller", "a" * 150])
def test_export_names_keep_their_letters_and_keys_their_extension(app, client, team, scene, name):
    import av

    r = _export(client, team, outputFilename=name + ".mp4")
    assert r.status_code == 202, r.json
    run_jobs(app)
    body = client.get(r.json["statusUrl"], headers=team["owner"].headers).json
    assert body["status"] == "completed", body["error"]
    expected = name[:100]
    assert body["outputFilename"] == expected and body["downloadName"] == expected + ".mp4"
    key = JobRecord.objects(id=body["id"]).first().result["storageKey"]
    assert key.endswith(".mp4") and key.isascii() and len(key.rsplit("/", 1)[1]) <= 100
    download = client.get(local_path(app, body["downloadUrl"]))
    assert download.status_code == 200
    assert "filename*=UTF-8''" in download.headers["Content-Disposition"]
    from urllib.parse import unquote

    assert unquote(download.headers["Content-Disposition"].split("UTF-8''")[1]) == expected + ".mp4"
    out = app.extensions["aladdin"].settings.data_dir / "named.mp4"
    out.write_bytes(download.data)
    with av.open(str(out)) as container:
        assert container.metadata.get("title") == expected


def test_refused_export_requests_do_not_use_up_the_rate_limit(app, client, team, scene):
    for _ in range(8):
        assert _export(client, team, preset="no-such-preset").status_code == 400
        assert _export(client, team, includeScenes=["0123456789abcdef01234567"]).status_code == 422
        assert _export(client, team, preset=7).status_code == 422
    accepted = [_export(client, team).status_code for _ in range(5)]
    assert accepted == [202] * 5
    limited = _export(client, team)
    assert limited.status_code == 429


def _truncated_faststart_mp4(path, fraction=0.6) -> str:
    full = path.with_name("full-" + path.name)
    subprocess.run([ffmpeg_exe(), "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=3",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(full)], check=True, timeout=120)
    data = full.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])
    return str(path)


def test_a_truncated_source_fails_the_export_naming_the_scene(app, client, team, scene, tmp_path):
    cut = _truncated_faststart_mp4(tmp_path / "cut.mp4")
    broken = add_scene(app, team["project"], team["owner"], cut, 2, title="The storm")
    r = _export(client, team)
    assert r.status_code == 202, r.json
    run_jobs(app)
    body = client.get(r.json["statusUrl"], headers=team["owner"].headers).json
    assert body["status"] == "failed" and body["downloadUrl"] is None
    assert "scene 2 'The storm'" in body["error"] and str(broken["_id"]) in body["error"]
    assert "truncated" in body["error"]
    data_dir = str(app.extensions["aladdin"].settings.data_dir)
    assert data_dir not in body["error"] and "/tmp/" not in body["error"] and "/exports/" not in body["error"]
    assert JobRecord.objects(id=body["id"]).first().attempts == 1  # permanent: no retries


# --- 6. URLs in export answers and webhook payloads ----------------------------------------------


def test_export_urls_and_webhook_links_ignore_the_host_header(app, client, team, scene):
    from core.events import Event
    from plugins.export.webhooks import payload_for

    r = _export(client, team)
    run_jobs(app)
    headers = {**team["owner"].headers, "Host": "evil.example"}
    body = client.get(r.json["statusUrl"], headers=headers).json
    assert body["status"] == "completed", body["error"]
    assert body["downloadUrl"].startswith("http://127.0.0.1:5000/api/v1/files/")
    listed = client.get(f"/api/v1/projects/{team['project'].slug}/exports", headers=headers).json
    assert "evil.example" not in json.dumps(listed)
    app.extensions["aladdin"].settings.public_url = "https://cms.example/"
    body = client.get(r.json["statusUrl"], headers=headers).json
    assert body["downloadUrl"].startswith("https://cms.example/api/v1/files/")
    payload = payload_for(Event("export.completed", project_id=str(team["project"].id), resource_id=body["id"]), app)
    assert payload["statusUrl"] == f"https://cms.example/api/v1/projects/{team['project'].id}/exports/{body['id']}"
