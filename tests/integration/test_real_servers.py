"""A real MongoDB through ``ALADDIN_MONGODB_URI``: URI parsing, and the core API smoke against a
server: the one named by ``ALADDIN_TEST_MONGODB_URI``, else this test process's embedded wire
server (the default installation's), so the production path always runs."""

from __future__ import annotations

import os
import uuid

import mongoengine
import pytest
from mongoengine.connection import get_connection, get_db

from core.db import Database, connection_kwargs
from core.settings import Settings
from tests.conftest import docstore_uri
from tests.integration.test_read_policy import assert_ties_follow_the_sort

REAL_URI = os.environ.get("ALADDIN_TEST_MONGODB_URI")


# --- URI parsing: these run always ---------------------------------------------------------

@pytest.mark.parametrize("uri, host, db", [
    ("mongodb://db.example:27017/studio", "mongodb://db.example:27017/", "studio"),
    ("mongodb://u:p%40ss@db1:27017,db2:27017/studio?replicaSet=rs0&authSource=admin",
     "mongodb://u:p%40ss@db1:27017,db2:27017/?replicaSet=rs0&authSource=admin", "studio"),
    ("mongodb://db.example/?retryWrites=true", "mongodb://db.example/?retryWrites=true", None),
    ("mongodb://db.example", "mongodb://db.example/", None),
    ("mongodb+srv://u:p@cluster0.example.net/prod?w=majority", "mongodb+srv://u:p@cluster0.example.net/?w=majority",
     "prod"),
])
def test_mongodb_uri_database_path_names_only_the_platform_db(uri, host, db):
    kwargs, named = connection_kwargs(uri)
    # The path would force every alias onto one database; it is removed from the shared host.
    assert kwargs == {"host": host} and named == db


def test_embedded_and_test_schemes():
    with pytest.raises(ValueError, match="aladdin store import-litemongo"):
        connection_kwargs("litemongo:///var/lib/aladdin/mongo")  # the old default names its way out
    kwargs, named = connection_kwargs("mongomock://unit")
    assert kwargs["host"] == "mongodb://unit" and named is None


@pytest.mark.parametrize("uri", ["postgres://x/y", "redis://localhost", "", "localhost:27017"])
def test_unsupported_uri_is_a_clear_error(uri):
    with pytest.raises(ValueError, match="ALADDIN_MONGODB_URI must start with"):
        connection_kwargs(uri)


def test_settings_read_the_uri_unchanged(tmp_path):
    env = {"ALADDIN_DATA_DIR": str(tmp_path), "ALADDIN_SECRET_KEY": "s",
           "ALADDIN_MONGODB_URI": "mongodb://db.example:27017/studio?replicaSet=rs0"}
    assert Settings.from_env(env).mongodb_uri == "mongodb://db.example:27017/studio?replicaSet=rs0"
    default = Settings.from_env({"ALADDIN_DATA_DIR": str(tmp_path), "ALADDIN_SECRET_KEY": "s"})
    assert default.mongodb_uri == "" and default.embedded_mongo  # the embedded document server
    assert default.redis_url is None and default.embedded_redis and default.storage_url.startswith("file://")


def test_real_pymongo_client_aliases_share_one_client():
    """Against pymongo's own client class (no server needed: pymongo connects lazily)."""
    db = Database("mongodb://127.0.0.1:1/studio?serverSelectionTimeoutMS=200&connect=false", "ignored")
    try:
        assert db.platform_db_name == "studio" and db.platform().name == "studio"
        projects = [db.project(f"film-{n}") for n in range(50)]
        assert [p.name for p in projects] == [f"open_film-{n}" for n in range(50)]
        assert all(p.client is db.client for p in projects)
        assert type(db.client).__module__.startswith("pymongo")
        assert get_connection(db.project_alias("film-7")) is db.client
        assert get_db(db.project_alias("film-7")).name == "open_film-7"
    finally:
        db.close()
    with pytest.raises(mongoengine.connection.ConnectionFailure):
        get_connection(db.platform_alias)  # closed: its aliases are gone


# --- the core API against a real server ----------------------------------------------------

@pytest.fixture
def real_app(tmp_path, redis_server):
    from core.app import create_app
    from tests.conftest import make_settings

    platform = "aladdin_test_" + uuid.uuid4().hex[:8]
    settings = make_settings(tmp_path, redis_server, mongodb_uri=REAL_URI or docstore_uri(), platform_db=platform)
    app = create_app(settings, load_entry_points=False)
    app.testing = True
    ext = app.extensions["aladdin"]
    with app.app_context():
        yield app
        for name in ext.db.client.list_database_names():
            if name == ext.db.platform_db_name or name.startswith("open_rs-"):
                ext.db.client.drop_database(name)
    ext.db.close()


def test_core_api_on_a_real_mongodb(real_app):
    from core.models import ApiToken, User

    ext = real_app.extensions["aladdin"]
    client = real_app.test_client()
    assert type(ext.db.client).__module__.startswith("pymongo")
    users = {}
    for email in ("owner@example.com", "outsider@example.com"):
        user = User(email=email, name=email.split("@")[0]).save()
        users[email] = {"Authorization": f"Bearer {ApiToken.issue(user)}"}
    owner, outsider = users["owner@example.com"], users["outsider@example.com"]
    slug = "rs-" + uuid.uuid4().hex[:8]
    r = client.post("/api/v1/projects", json={"name": "Real", "slug": slug}, headers=owner)
    assert r.status_code == 201, r.json
    assert f"open_{slug}" in ext.db.client.list_database_names()
    base = f"/api/v1/projects/{slug}/content/scenes"
    doc = client.post(base, json={"content": {"title": "Opening"}}, headers=owner)
    assert doc.status_code == 201 and doc.json["version"] == 1
    doc_id = doc.json["id"]
    assert client.get(base, headers=owner).json["total"] == 1
    for title in ("Chase", "Finale"):
        assert client.post(base, json={"content": {"title": title}}, headers=owner).status_code == 201
    assert_ties_follow_the_sort(client, base, owner, ext.db.project(slug)["scenes"])
    for other in client.get(base, headers=owner).json["items"]:
        if other["id"] != doc_id:
            assert client.delete(f"{base}/{other['id']}", headers=owner).status_code == 204
    patched = client.patch(f"{base}/{doc_id}", json={"content": {"mood": "grey"}, "baseVersion": 1}, headers=owner)
    assert patched.status_code == 200 and patched.json["content"] == {"title": "Opening", "mood": "grey"}
    assert client.patch(f"{base}/{doc_id}", json={"content": {"x": 1}, "baseVersion": 1},
                        headers=owner).status_code == 409
    for method, url in (("get", f"/api/v1/projects/{slug}"), ("get", base), ("get", f"{base}/{doc_id}"),
                        ("patch", f"{base}/{doc_id}"), ("delete", f"{base}/{doc_id}"),
                        ("delete", f"/api/v1/projects/{slug}")):
        kwargs = {"json": {"content": {}}} if method == "patch" else {}
        assert getattr(client, method)(url, headers=outsider, **kwargs).status_code == 404, (method, url)
    assert client.delete(f"{base}/{doc_id}", headers=owner).status_code == 204
    assert client.get(f"{base}/{doc_id}", headers=owner).status_code == 404
    assert client.delete(f"/api/v1/projects/{slug}", headers=owner).status_code == 204
    assert f"open_{slug}" not in ext.db.client.list_database_names()
