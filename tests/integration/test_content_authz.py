"""The content service authorizes every write for the acting user (issue 23): plugins and socket
handlers calling it get the answers REST gives, and the platform's own writes say so (SYSTEM)."""

from __future__ import annotations

import pytest

from core.content import SYSTEM
from core.errors import Forbidden, NotFound
from core.hookspecs import hookimpl


@pytest.fixture
def service(app):
    return app.extensions["aladdin"].content


@pytest.fixture
def scene(service, team):
    return service.create(team["project"], "scenes", {"content": {"title": "Dawn"}}, team["owner"])


def test_a_viewer_may_not_write_through_the_service(service, team, scene):
    project, viewer, doc_id = team["project"], team["viewer"], str(scene["_id"])
    with pytest.raises(Forbidden):
        service.create(project, "scenes", {"content": {"title": "No"}}, viewer)
    with pytest.raises(Forbidden):
        service.update(project, "scenes", doc_id, {"content.title": "No"}, viewer)
    with pytest.raises(Forbidden):
        service.delete(project, "scenes", doc_id, viewer)
    assert service.get(project, "scenes", doc_id, reader=SYSTEM)["version"] == 1


def test_an_outsider_learns_nothing(service, team, scene):
    for write in (lambda: service.update(team["project"], "scenes", str(scene["_id"]), {"content.title": "x"},
                                         team["outsider"]),
                  lambda: service.delete(team["project"], "scenes", str(scene["_id"]), team["outsider"]),
                  lambda: service.create(team["project"], "scenes", {}, team["outsider"])):
        with pytest.raises(NotFound) as refused:
            write()
        assert refused.value.message == "project not found"


def test_ownership_rules_hold_for_service_callers(service, team, scene):
    collaborator = team["collaborator"]
    with pytest.raises(Forbidden):  # edits only what it created
        service.update(team["project"], "scenes", str(scene["_id"]), {"content.title": "x"}, collaborator)
    own = service.create(team["project"], "scenes", {"content": {"title": "Mine"}}, collaborator)
    assert service.update(team["project"], "scenes", str(own["_id"]), {"content.title": "Still mine"},
                          collaborator)["version"] == 2
    with pytest.raises(Forbidden):  # deletes only what it created, too
        service.delete(team["project"], "scenes", str(scene["_id"]), collaborator)
    service.delete(team["project"], "scenes", str(own["_id"]), collaborator)


def test_a_media_document_needs_media_permissions(service, team, monkeypatch):
    media = service.create(team["project"], "media", {"content": {"title": "still"}, "storageKey": "none/still.png"},
                           team["owner"])
    checked = []
    authz = service._ext.authz
    original = authz.authorize

    def recording(user, action, *args, **kwargs):
        checked.append(action)
        return original(user, action, *args, **kwargs)

    monkeypatch.setattr(authz, "authorize", recording)
    service.delete(team["project"], "media", str(media["_id"]), team["editor"])
    assert "content:delete" in checked and "media:delete" in checked


def test_system_writes_are_explicit(app, service, team):
    seen = []

    class Watcher:
        @hookimpl
        def aladdin_before_content_write(self, app, project, collection, action, document, previous, user):
            seen.append(user)

    app.extensions["aladdin"].pm.register(Watcher(), name="watcher")
    doc = service.create(team["project"], "scenes", {"content": {"title": "Imported"}}, SYSTEM)
    assert doc["createdBy"] is None and seen == [None]
    service.update(team["project"], "scenes", str(doc["_id"]), {"content.title": "Re-imported"}, SYSTEM)
    with pytest.raises(TypeError, match="SYSTEM"):
        service.create(team["project"], "scenes", {}, None)
