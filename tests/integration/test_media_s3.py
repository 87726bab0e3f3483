"""Media through the HTTP API on S3 (moto in server mode, over real HTTP) and on local storage:
round trip via presigned ``downloadUrl``, tampered and expired links refused, size and type limits."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from urllib.parse import urlsplit

import pytest
import requests

from core.app import create_app
from core.projects import create_project
from core.storage import S3Storage
from tests.conftest import Actors, make_settings
from tests.fixtures.s3 import REGION, s3_server  # noqa: F401  (the session fixture)
from tests.media import make_image, make_scene


def _app(settings):
    app = create_app(settings, load_entry_points=False)
    app.testing = True
    return app


@pytest.fixture
def s3_app(tmp_path, redis_server, s3_server):  # noqa: F811
    bucket = f"aladdin-media-{uuid.uuid4().hex[:12]}"
    S3Storage(bucket, endpoint_url=s3_server, region=REGION).ensure_bucket()
    app = _app(make_settings(tmp_path, redis_server, storage_url=f"s3://{bucket}", s3_endpoint_url=s3_server))
    with app.app_context():
        yield app
    storage = app.extensions["aladdin"].storage
    storage.delete_prefix("")
    storage.client.delete_bucket(Bucket=bucket)
    app.extensions["aladdin"].db.close()


def _owner_and_project(app):
    owner = Actors(app).user("owner@example.com")
    project = create_project(app, owner, "Media Film", "media-film")
    return owner, project


def _upload(client, pid, headers, data: bytes, name: str, mimetype: str):
    return client.post(f"/api/v1/projects/{pid}/media", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), name, mimetype)})


def _tamper(url: str) -> str:
    """Change one character of the signature."""
    head, sig = url.rsplit("X-Amz-Signature=", 1)
    return f"{head}X-Amz-Signature={('0' if sig[0] != '0' else '1')}{sig[1:]}"


def test_s3_round_trip_through_presigned_urls(s3_app, tmp_path, s3_server):  # noqa: F811
    client = s3_app.test_client()
    owner, project = _owner_and_project(s3_app)
    video = open(make_scene(tmp_path / "shot.mp4", seconds=0.5), "rb").read()
    r = _upload(client, project.slug, owner.headers, video, "shot.mp4", "video/mp4")
    assert r.status_code == 201, r.json
    assert r.json["contentType"] == "video/mp4" and r.json["size"] == len(video) and r.json["id"]
    url = r.json["downloadUrl"]
    assert url.startswith(s3_server) and "X-Amz-Signature=" in url  # S3 serves the bytes itself
    got = requests.get(url, timeout=30)
    assert got.status_code == 200 and got.content == video
    assert "shot.mp4" in got.headers.get("Content-Disposition", "")
    # The object really is in the bucket, under the project's prefix.
    storage = s3_app.extensions["aladdin"].storage
    key = f"projects/{project.slug}/media/{r.json['id']}/shot.mp4"
    assert storage.exists(key) and storage.get(key) == video
    # Reading the media document signs a fresh URL that works too.
    again = client.get(f"/api/v1/projects/{project.slug}/media/{r.json['id']}", headers=owner.headers).json
    assert requests.get(again["downloadUrl"], timeout=30).content == video

    assert requests.get(_tamper(url), timeout=30).status_code == 403
    other_key = url.replace("shot.mp4", "other.mp4")  # a signature does not transfer to another object
    assert requests.get(other_key, timeout=30).status_code == 403

    assert client.delete(f"/api/v1/projects/{project.slug}/media/{r.json['id']}",
                         headers=owner.headers).status_code == 204
    assert not storage.exists(key)


def test_s3_expired_presigned_url_is_403(s3_app, tmp_path, monkeypatch):
    client = s3_app.test_client()
    owner, project = _owner_and_project(s3_app)
    png = open(make_image(tmp_path / "still.png"), "rb").read()
    media = _upload(client, project.slug, owner.headers, png, "still.png", "image/png").json
    ttl = s3_app.extensions["aladdin"].settings.signed_url_ttl
    issued = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(seconds=ttl + 60)
    import botocore.auth

    # The URL is signed as if issued longer ago than its lifetime: it has expired.
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: issued)
    stale = client.get(f"/api/v1/projects/{project.slug}/media/{media['id']}", headers=owner.headers).json
    monkeypatch.undo()
    response = requests.get(stale["downloadUrl"], timeout=30)
    assert response.status_code == 403 and b"expired" in response.content
    assert requests.get(media["downloadUrl"], timeout=30).status_code == 200


@pytest.fixture
def local_app(tmp_path, redis_server):
    app = _app(make_settings(tmp_path, redis_server, max_upload_bytes=64 * 1024))
    with app.app_context():
        yield app
    app.extensions["aladdin"].db.close()


def test_local_expired_and_tampered_urls_are_403(local_app, tmp_path, monkeypatch):
    import core.storage

    client = local_app.test_client()
    owner, project = _owner_and_project(local_app)
    png = open(make_image(tmp_path / "still.png"), "rb").read()
    media = _upload(client, project.slug, owner.headers, png, "still.png", "image/png").json
    parts = urlsplit(media["downloadUrl"])
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    assert client.get(path).data == png
    # Tamper with the signature's first character: its last one also carries padding bits, so
    # changing it can leave the decoded signature as it was (and the URL valid).
    head, _, signature = parts.path.rpartition(".")
    tampered = head + "." + ("A" if signature[0] != "A" else "B") + signature[1:] + path[len(parts.path):]
    assert client.get(tampered).status_code == 403
    ttl = local_app.extensions["aladdin"].settings.signed_url_ttl
    real_time = core.storage.signing.time.time
    monkeypatch.setattr(core.storage.signing.time, "time", lambda: real_time() + ttl + 1)
    expired = client.get(path)
    assert expired.status_code == 403 and "expired" in expired.json["message"]


def test_upload_limits_and_types(local_app, tmp_path):
    client = local_app.test_client()
    owner, project = _owner_and_project(local_app)
    png = open(make_image(tmp_path / "still.png"), "rb").read()
    big = png + b"\0" * (64 * 1024)
    r = _upload(client, project.slug, owner.headers, big, "big.png", "image/png")
    assert r.status_code == 413 and "limit" in r.json["message"]
    r = _upload(client, project.slug, owner.headers, b"just some notes\n", "notes.txt", "text/plain")
    assert r.status_code == 415 and "unsupported" in r.json["message"]
    r = _upload(client, project.slug, owner.headers, b"MZ\x90\x00" + b"\0" * 200, "tool.exe", "application/x-msdownload")
    assert r.status_code == 415
    r = _upload(client, project.slug, owner.headers, png, "still.mp4", "video/mp4")  # lies about its type
    assert r.status_code == 415
    r = _upload(client, project.slug, owner.headers, b"", "empty.png", "image/png")
    assert r.status_code in (400, 415)
    # Nothing half-written: no media documents, no stored files.
    listed = client.get(f"/api/v1/projects/{project.slug}/media", headers=owner.headers).json
    assert listed["total"] == 0
    assert local_app.extensions["aladdin"].storage.list(f"projects/{project.slug}/") == []
    ok = _upload(client, project.slug, owner.headers, png, "still.png", "image/png")
    assert ok.status_code == 201
