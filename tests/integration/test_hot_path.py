"""The authorized read path after its speed-ups: every security-relevant change still applies on the very next request."""

from __future__ import annotations

import dataclasses
import time

from core.api import ProjectRef, find_project_ref
from core.models import ApiToken, Project, User
from core.projects import cached_project_document, find_project, remove_member, set_role, shared_project_document


def _scene(app, team):
    ext = app.extensions["aladdin"]
    return ext.content.create(team["project"], "scenes", {"content": {"title": "Dawn"}}, team["owner"])


def test_project_ref_is_the_same_lookup_as_find_project(app, team):
    project = team["project"]
    for ref in (project.slug, str(project.id)):
        light, full = find_project_ref(ref), find_project(ref)
        assert isinstance(light, ProjectRef)
        assert (light.id, light.slug, light.ownerId, light.name) == (full.id, full.slug, full.ownerId, full.name)
        assert light.database_name == full.database_name


def test_a_shared_project_is_built_once_until_it_changes_and_a_writer_gets_its_own(app, team):
    """A realtime handshake reads one shared ``Project`` (building one was most of the lookup);
    a rename replaces it at once, and what writes or goes to plugins is a copy of its own."""
    project = team["project"]
    with app.app_context():
        shared = shared_project_document(project.slug)
        assert shared is shared_project_document(project.slug)
        own = cached_project_document(project.slug)
        assert own is not shared and own is not cached_project_document(project.slug)
        assert (own.id, own.name) == (shared.id, shared.name)
        renamed = Project.objects(id=project.id).first()
        renamed.name = "Renamed Film"
        renamed.save()
        assert shared_project_document(project.slug).name == "Renamed Film"
        assert shared.name != "Renamed Film"  # the old snapshot, unchanged under its readers


def test_reads_by_id_and_slug_and_unknown_projects(client, app, team):
    doc = _scene(app, team)
    viewer = team["viewer"]
    for ref in (team["project"].slug, str(team["project"].id)):
        got = client.get(f"/api/v1/projects/{ref}/content/scenes/{doc['_id']}", headers=viewer.headers)
        assert got.status_code == 200 and got.json["id"] == str(doc["_id"]) and got.headers["ETag"] == '"1"'
        listed = client.get(f"/api/v1/projects/{ref}/content/scenes", headers=viewer.headers)
        assert listed.status_code == 200 and listed.json["total"] == 1
    assert client.get(f"/api/v1/projects/no-such-film/content/scenes/{doc['_id']}",
                      headers=viewer.headers).status_code == 404
    assert client.get(f"/api/v1/projects/{team['project'].slug}/content/scenes/{doc['_id']}",
                      headers=team["outsider"].headers).status_code == 404


def test_a_revoked_token_fails_on_the_next_request(client, app, team):
    doc = _scene(app, team)
    url = f"/api/v1/projects/{team['project'].slug}/content/scenes/{doc['_id']}"
    editor = team["editor"]
    for _ in range(2):  # the second request is answered from the process's near cache
        assert client.get(url, headers=editor.headers).status_code == 200
    assert ApiToken.revoke(editor) == 1
    r = client.get(url, headers=editor.headers)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get(f"/api/v1/projects/{team['project'].slug}/content/scenes", headers=editor.headers).status_code == 401
    assert client.get(url, headers=team["viewer"].headers).status_code == 200  # nobody else is affected


def test_revocation_and_deletion_apply_in_a_second_app_instance_at_once(app, team, settings):
    """Two app instances on one Redis and one database stand for two server processes."""
    from core.app import create_app

    doc = _scene(app, team)
    url = f"/api/v1/projects/{team['project'].slug}/content/scenes/{doc['_id']}"
    other = create_app(settings, load_entry_points=False)
    try:
        second = other.test_client()
        editor, viewer = team["editor"], team["viewer"]
        for _ in range(2):
            assert second.get(url, headers=editor.headers).status_code == 200
            assert second.get(url, headers=viewer.headers).status_code == 200
        ApiToken.revoke(editor)            # in the first instance
        assert second.get(url, headers=editor.headers).status_code == 401
        User.objects(id=viewer.id).first().delete()
        assert second.get(url, headers=viewer.headers).status_code == 401
    finally:
        other.extensions["aladdin"].near_cache.close()
        other.extensions["aladdin"].db.close()


def test_a_bulk_database_edit_is_bounded_by_the_near_cache_ttl(client, app, team, settings):
    """Edits that bypass MongoEngine documents send no signal: ALADDIN_NEAR_CACHE_TTL bounds them,
    and 0 turns the cache off so they apply at once."""
    from core.app import create_app

    doc = _scene(app, team)
    url = f"/api/v1/projects/{team['project'].slug}/content/scenes/{doc['_id']}"
    editor, viewer = team["editor"], team["viewer"]
    uncached = create_app(dataclasses.replace(settings, near_cache_ttl=0), load_entry_points=False)
    short = create_app(dataclasses.replace(settings, near_cache_ttl=0.2), load_entry_points=False)
    try:
        assert uncached.test_client().get(url, headers=editor.headers).status_code == 200
        assert short.test_client().get(url, headers=viewer.headers).status_code == 200
        ApiToken.objects(user__in=[editor, viewer]).update(set__revoked=True)  # no signal
        assert uncached.test_client().get(url, headers=editor.headers).status_code == 401
        time.sleep(0.3)  # what is tested: the 0.2 s TTL lapses (nothing announces this edit)
        assert short.test_client().get(url, headers=viewer.headers).status_code == 401
    finally:
        for extra in (uncached, short):
            extra.extensions["aladdin"].near_cache.close()
            extra.extensions["aladdin"].db.close()


def test_membership_changes_apply_on_the_next_read(client, app, team):
    doc = _scene(app, team)
    project, viewer, owner = team["project"], team["viewer"], team["owner"]
    url = f"/api/v1/projects/{project.slug}/content/scenes/{doc['_id']}"
    assert client.get(url, headers=viewer.headers).status_code == 200     # cached as viewer now
    remove_member(app, project, str(viewer.id), owner)
    assert client.get(url, headers=viewer.headers).status_code == 404
    outsider = team["outsider"]
    assert client.get(url, headers=outsider.headers).status_code == 404   # "no role" cached too
    from core.projects import add_member

    add_member(app, project, outsider, "viewer", owner)
    assert client.get(url, headers=outsider.headers).status_code == 200
    set_role(app, project, str(outsider.id), "editor", owner)
    patched = client.patch(url, json={"content": {"title": "Dusk"}}, headers=outsider.headers)
    assert patched.status_code == 200


def test_a_deleted_project_is_gone_on_the_next_read(client, app, team):
    doc = _scene(app, team)
    url = f"/api/v1/projects/{team['project'].slug}/content/scenes/{doc['_id']}"
    assert client.get(url, headers=team["owner"].headers).status_code == 200
    Project.objects(id=team["project"].id).delete()
    assert client.get(url, headers=team["owner"].headers).status_code == 404


def test_collection_handles_are_reused_until_the_connection_changes(app, team):
    from core.models import hot_collection
    from core.models import User

    first = hot_collection(User)
    assert hot_collection(User) is first
    app.extensions["aladdin"].db.reset_after_fork()   # what an RQ worker does after forking
    fresh = hot_collection(User)
    assert fresh is not first and hot_collection(User) is fresh
    # (mongomock's data lives in the dropped client, so the new handle is checked by identity only)


def test_a_cached_project_changes_and_goes_in_a_second_app_instance_at_once(app, team, settings):
    """The project behind a URL is near-cached per process: an ownership transfer and a deletion
    made in one instance apply on the very next request of another (two processes, one Redis)."""
    from core.app import create_app
    from core.projects import delete_project, transfer_ownership

    doc = _scene(app, team)
    project, owner, editor = team["project"], team["owner"], team["editor"]
    url = f"/api/v1/projects/{project.slug}/content/scenes/{doc['_id']}"
    other = create_app(settings, load_entry_points=False)
    try:
        second = other.test_client()
        with other.app_context():
            for _ in range(2):  # the second lookup is the cached one
                assert find_project_ref(project.slug).ownerId == str(owner.id)
        assert second.get(url, headers=owner.headers).status_code == 200
        transfer_ownership(app, Project.objects(id=project.id).first(), str(editor.id), owner)
        with other.app_context():
            assert find_project_ref(project.slug).ownerId == str(editor.id)
            assert find_project_ref(str(project.id)).ownerId == str(editor.id)
        delete_project(app, Project.objects(id=project.id).first(), editor)
        assert second.get(url, headers=editor.headers).status_code == 404
        assert second.get(f"/api/v1/projects/{project.id}/content/scenes", headers=editor.headers).status_code == 404
    finally:
        other.extensions["aladdin"].near_cache.close()
        other.extensions["aladdin"].db.close()
