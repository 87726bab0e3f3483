"""One MongoDB client serves every project alias; each project's content lives only in ``open_<slug>``."""

from __future__ import annotations

import pytest

from core.app import create_app
from core.content import SYSTEM
from core.projects import create_project
from tests.conftest import Actors, make_settings

PROJECTS = 50


@pytest.fixture(params=["mongomock", "server"])
def any_app(request, tmp_path, redis_server):
    """mongomock (pure-function tests) and a server: the embedded default every installation runs."""
    overrides = {"mongodb_uri": "mongomock://aliases"} if request.param == "mongomock" else {}
    app = create_app(make_settings(tmp_path, redis_server, **overrides), load_entry_points=False)
    app.testing = True
    with app.app_context():
        yield app
    app.extensions["aladdin"].db.close()


def test_one_client_serves_fifty_project_aliases(any_app):
    ext = any_app.extensions["aladdin"]
    owner = Actors(any_app).user("many@example.com")
    slugs = [create_project(any_app, owner, f"Film {n}", f"film-{n:02d}").slug for n in range(PROJECTS)]
    client = ext.db.client
    aliases = {ext.db.project_alias(slug) for slug in slugs}
    assert len(aliases) == PROJECTS
    for slug in slugs:
        db = ext.db.project(slug)
        assert db.name == f"open_{slug}"
        assert db.client is client, slug
    # Registering the aliases opened no second client: the alias table all points at one object.
    from mongoengine.connection import get_connection

    assert {id(get_connection(alias)) for alias in aliases} == {id(client)}


def test_content_lives_only_in_its_project_database(any_app):
    ext = any_app.extensions["aladdin"]
    owner = Actors(any_app).user("many@example.com")
    projects = [create_project(any_app, owner, f"Film {n}", f"film-{n:02d}") for n in range(PROJECTS)]
    for project in projects:
        ext.content.create(project, "characters", {"content": {"name": f"lead of {project.slug}"}}, owner)
    names = set(ext.db.client.list_database_names())
    assert {f"open_{p.slug}" for p in projects} <= names
    for project in projects:
        docs = list(ext.db.project(project.slug)["characters"].find({}))
        assert [d["content"]["name"] for d in docs] == [f"lead of {project.slug}"]
        assert docs[0]["projectId"] == str(project.id)
        # Reads through the service see only this project's document, whatever the filter.
        listed, total = ext.content.list(project, "characters", reader=SYSTEM)
        assert total == 1 and listed[0]["_id"] == docs[0]["_id"]
    assert "characters" not in ext.db.platform().list_collection_names()
    # Dropping one project removes its database and nothing else.
    ext.db.drop_project(projects[0].slug)
    remaining = set(ext.db.client.list_database_names())
    assert f"open_{projects[0].slug}" not in remaining
    assert {f"open_{p.slug}" for p in projects[1:]} <= remaining
