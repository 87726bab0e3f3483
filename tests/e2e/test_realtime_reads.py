"""Admin read rules over Socket.IO (issue 11): room events about a document reach only the sockets
whose user may view it, and a Yjs document the user may not view is refused like a missing one.

Two real ``cli.py serve`` processes share Redis and storage; sockets are spread over both, and
some writes come from this test process (playing a worker). The rules are the issue's examples:
viewers never see scenes, only the owner sees documents whose ``content.secret`` is true."""

from __future__ import annotations

import pytest
import requests
from bson import ObjectId
from pycrdt import Doc, Map, Text, create_sync_message

from tests.e2e.realtime_support import (NOT_FOUND, awareness_update, Collab, Installation,
                                        installation_env, opened, serving_pair, until_refused,
                                        write_read_rules, YClient)
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def installation(tmp_path_factory, redis_server):
    tmp = tmp_path_factory.mktemp("realtime-reads")
    policy_dir = write_read_rules(tmp / "policies")
    inst = Installation(installation_env(tmp, redis_server, ALADDIN_POLICY_DIR=str(policy_dir)))
    inst.tmp = tmp
    yield inst
    inst.close()


@pytest.fixture(scope="module")
def servers(installation):
    yield from serving_pair(installation)


@pytest.fixture
def connect(installation, clients):
    def make(server, role: str, token: str | None = None) -> Collab:
        client = Collab(server.url, token or installation.token(role))
        clients.append(client)
        assert client.call("join", {"projectId": installation.pid})["ok"]
        return client

    return make


def ref(installation, doc_id: str, collection: str = "scenes") -> dict:
    return {"projectId": installation.pid, "collection": collection, "documentId": doc_id}


class Rest:
    def __init__(self, server, installation, role: str = "owner"):
        self.base = f"{server.url}/api/v1/projects/{installation.pid}/content"
        self.headers = {"Authorization": f"Bearer {installation.token(role)}"}

    def create(self, collection: str, **content) -> str:
        resp = requests.post(f"{self.base}/{collection}", json={"content": content}, headers=self.headers, timeout=60)
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]

    def patch(self, collection: str, doc_id: str, version: int, **content) -> dict:
        resp = requests.patch(f"{self.base}/{collection}/{doc_id}", json={"content": content, "baseVersion": version},
                              headers=self.headers, timeout=60)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def delete(self, collection: str, doc_id: str) -> None:
        resp = requests.delete(f"{self.base}/{collection}/{doc_id}", headers=self.headers, timeout=60)
        assert resp.status_code in (200, 204), resp.text


def changes(client: Collab, doc_id: str) -> list[dict]:
    return [d for d in client.received("content_change") if d["documentId"] == doc_id]


def updates(client: Collab, doc_id: str) -> list[dict]:
    return [d for d in changes(client, doc_id) if d["action"] == "updated"]


def barrier(watchers, marker: str) -> None:
    """Every watcher has the event about ``marker`` (visible to all), sent after the writes under
    test by the same publisher: the per-process bus and each socket are ordered, so an event a
    watcher was going to receive about those earlier writes has arrived by now."""
    for watcher in watchers:
        watcher.wait_for("content_change", lambda d: d["documentId"] == marker)


def open_as_new_editor(installation, clients, server, name: str):
    """A new editor of the project with a new scene open in Yjs on ``server``:
    ``(user, document ref, client)``."""
    from core.models import ApiToken, User
    from core.projects import add_member

    user = User(email=f"{name}-{ObjectId()}@example.com", name=name.title()).save()
    add_member(installation.app, installation.project, user, "editor", installation.users["owner"])
    document = ref(installation, installation.create_doc(collection="scenes", title="Backstage"))
    client = YClient(server.url, ApiToken.issue(user), document)
    clients.append(client)
    assert client.call("join", {"projectId": installation.pid})["ok"]
    client.sync()
    return user, document, client


def assert_refused_like_a_missing_document(client, document: dict) -> None:
    """The client's next Yjs frames on ``document`` come to be refused (the role change reaches
    the server's near-cache through Redis), exactly as frames on a missing document are."""
    missing = {**document, "documentId": str(ObjectId())}
    assert until_refused(client, document) == NOT_FOUND == \
        client.call("yjs", {**missing, "message": create_sync_message(client.doc)})


def test_rest_and_worker_writes_reach_only_sockets_whose_user_may_view(installation, servers, connect):
    one, two = servers
    watchers = {(role, n): connect(server, role) for n, server in enumerate(servers)
                for role in ("owner", "editor", "viewer")}
    viewers = [watchers["viewer", n] for n in (0, 1)]
    editors = [watchers["editor", n] for n in (0, 1)]
    owners = [watchers["owner", n] for n in (0, 1)]
    rest_one, rest_two = Rest(one, installation), Rest(two, installation)

    scene = rest_one.create("scenes", title="Hidden from viewers")
    rest_two.patch("scenes", scene, 1, mood="dark")
    secret = rest_one.create("characters", name="Mole", secret=True)
    rest_one.patch("characters", secret, 1, alias="The Gardener")
    worker_scene = installation.create_doc(collection="scenes", title="From a worker")
    worker_secret = installation.create_doc(collection="characters", name="Sleeper", secret=True)
    # Made secret by an update: the update itself (which carries the document) is hidden too.
    spy = rest_one.create("characters", name="Spy")
    rest_one.patch("characters", spy, 1, secret=True)
    rest_two.delete("characters", secret)  # deleted: decided by the document before deletion
    rest_two.delete("scenes", scene)
    marker = rest_one.create("characters", name="Everyone sees me")
    barrier(watchers.values(), marker)

    for viewer in viewers:  # no scene, no secret: not the bodies, not even the ids
        seen = {d["documentId"] for d in viewer.received("content_change")}
        assert seen.isdisjoint({scene, worker_scene, secret, worker_secret}), seen
        assert [d["action"] for d in changes(viewer, spy)] == ["created"]
        assert all(d.get("document", {}).get("content", {}).get("secret") is not True
                   for d in viewer.received("content_change"))
    for editor in editors:
        assert [(d["action"], d["version"]) for d in changes(editor, scene)] == [
            ("created", 1), ("updated", 2), ("deleted", 2)]
        assert changes(editor, scene)[1]["document"]["content"] == {"title": "Hidden from viewers", "mood": "dark"}
        assert [d["action"] for d in changes(editor, worker_scene)] == ["created"]
        assert changes(editor, secret) == [] and changes(editor, worker_secret) == []
        assert [d["action"] for d in changes(editor, spy)] == ["created"]
    for owner in owners:  # the owner sees everything
        assert [d["action"] for d in changes(owner, secret)] == ["created", "updated", "deleted"]
        assert changes(owner, secret)[1]["document"]["content"]["alias"] == "The Gardener"
        assert [d["action"] for d in changes(owner, worker_secret)] == ["created"]
        assert [d["action"] for d in changes(owner, spy)] == ["created", "updated"]
        assert [d["action"] for d in changes(owner, scene)] == ["created", "updated", "deleted"]


def test_socket_writes_reach_only_sockets_whose_user_may_view(installation, servers, connect, clients):
    one, two = servers
    editor_a, editor_b = connect(one, "editor"), connect(two, "editor")
    viewer_a, viewer_b = connect(one, "viewer"), connect(two, "viewer")
    owner_a, owner_b = connect(one, "owner"), connect(two, "owner")
    scene = installation.create_doc(collection="scenes", title="Night")
    secret = installation.create_doc(collection="characters", name="Mole", secret=True)
    public = installation.create_doc(collection="characters", name="Hero")

    ack = editor_a.call("content_change", {**ref(installation, scene), "patch": {"content.mood": "tense"},
                                           "baseVersion": 1})
    assert ack["ok"] and ack["version"] == 2
    # A Yjs commit is a socket write too.
    y = YClient(one.url, installation.token("editor"), ref(installation, scene))
    clients.append(y)
    assert y.call("join", {"projectId": installation.pid})["ok"]
    y.sync()
    assert y.edit(lambda d: d.get("content", type=Map).__setitem__("weather", "rain")) == {"ok": True}
    committed = y.call("yjs_commit", {**ref(installation, scene), "baseVersion": 2})
    assert committed["ok"] and committed["version"] == 3
    ack = owner_a.call("content_change", {**ref(installation, secret, "characters"),
                                          "patch": {"content.alias": "The Gardener"}, "baseVersion": 1})
    assert ack["ok"] and ack["version"] == 2
    ack = editor_b.call("content_change", {**ref(installation, public, "characters"),
                                           "patch": {"content.title": "seen by all"}, "baseVersion": 1})
    assert ack["ok"]
    for watcher in (viewer_a, viewer_b, owner_a, owner_b, editor_a):  # the viewers do get events
        assert watcher.wait_for("content_change", lambda d: d["documentId"] == public and d["version"] == 2)["patch"] == {
            "content.title": "seen by all"}
    barrier((editor_a, editor_b, viewer_a, viewer_b, owner_a, owner_b, y),
            installation.create_doc(collection="characters", name="Marker"))

    for viewer in (viewer_a, viewer_b):
        assert changes(viewer, scene) == [] and changes(viewer, secret) == []
    for watcher in (editor_b, owner_a, owner_b):
        got = updates(watcher, scene)
        assert [(d["version"], d["patch"]) for d in got] == [(2, {"content.mood": "tense"}),
                                                           (3, {"content.weather": "rain"})]
        assert got[1]["source"] == "yjs" and got[0]["userId"] == str(installation.users["editor"].id)
    # Never echoed to the sending socket (the same user's other socket gets the other's write).
    assert [d["version"] for d in updates(editor_a, scene)] == [3]
    assert updates(y, scene) == []  # joined after version 2; version 3 is its own
    assert [d["patch"] for d in updates(owner_b, secret)] == [{"content.alias": "The Gardener"}]
    assert updates(owner_a, secret) == []  # the sender
    for editor in (editor_a, editor_b):
        assert changes(editor, secret) == []


def test_hidden_documents_are_refused_exactly_like_missing_ones(installation, servers, clients):
    one, _two = servers
    scene = installation.create_doc(collection="scenes", title="Hidden")
    secret = installation.create_doc(collection="characters", name="Mole", secret=True)
    missing = str(ObjectId())

    def attempts(client: Collab, doc_id: str, collection: str) -> list:
        document = ref(installation, doc_id, collection)
        return [client.call("yjs", {**document, "message": create_sync_message(Doc())}),
                client.call("awareness", {**document, "message": awareness_update(7, {"user": "x"})}),
                client.call("yjs_commit", {**document, "baseVersion": 1}),
                client.call("content_change", {**document, "patch": {"content.title": "x"}, "baseVersion": 1})]

    viewer = Collab(one.url, installation.token("viewer"))
    editor = Collab(one.url, installation.token("editor"))
    owner = Collab(one.url, installation.token("owner"))
    clients.extend([viewer, editor, owner])
    for client in (viewer, editor, owner):
        assert client.call("join", {"projectId": installation.pid})["ok"]
    assert attempts(viewer, scene, "scenes") == attempts(viewer, missing, "scenes") == [NOT_FOUND] * 4
    assert attempts(editor, secret, "characters") == attempts(editor, missing, "characters") == [NOT_FOUND] * 4
    # Nothing was opened, stored or changed for them; those who may view still can.
    assert installation.get_doc(scene)["version"] == 1
    assert installation.get_doc(secret, "characters")["version"] == 1
    assert owner.call("yjs", {**ref(installation, secret, "characters"), "message": create_sync_message(Doc())}) == \
        {"ok": True, "version": 1}
    assert editor.call("yjs", {**ref(installation, scene), "message": create_sync_message(Doc())}) == \
        {"ok": True, "version": 1}


def test_an_open_document_that_becomes_hidden_is_refused_and_stops_syncing(installation, servers, clients):
    one, two = servers
    character = installation.create_doc(collection="characters", name="Double agent")
    document = ref(installation, character, "characters")

    def peer(server, role):
        return opened(server, installation.token(role), document, clients)

    editor, watcher, writer = peer(one, "editor"), peer(one, "owner"), peer(two, "owner")
    assert writer.edit(lambda d: d.get("text", type=Text).insert(0, "cover ")) == {"ok": True}
    wait_for(lambda: editor.text() == "cover ", message="the writer's text on the editor")
    # The owner marks it secret over REST: the editor's server drops its subscription at once.
    Rest(two, installation).patch("characters", character, 1, secret=True)
    watcher.wait_for("content_change", lambda d: d["documentId"] == character and d["version"] == 2)
    frames_before = len(editor.received("yjs"))
    assert writer.edit(lambda d: d.get("text", type=Text).insert(6, "blown")) == {"ok": True}
    wait_for(lambda: watcher.text() == "cover blown", message="the writer's text on the watcher")
    assert editor.call("yjs", {**document, "message": create_sync_message(editor.doc)}) == NOT_FOUND
    assert editor.call("yjs_commit", {**document, "baseVersion": 2}) == NOT_FOUND
    assert len(editor.received("yjs")) == frames_before and editor.text() == "cover "
    assert changes(editor, character) == []


def test_an_open_document_is_rechecked_when_the_role_changes(installation, servers, clients):
    """No write announces a role change: each Yjs frame re-checks the stored document."""
    from core.projects import set_role

    one, _two = servers
    temp, document, client = open_as_new_editor(installation, clients, one, "demoted")
    assert client.call("awareness", {**document, "message": awareness_update(9, {"user": "d"})}) == {"ok": True}
    set_role(installation.app, installation.project, str(temp.id), "viewer", installation.users["owner"])
    assert_refused_like_a_missing_document(client, document)
    assert client.call("awareness", {**document, "message": awareness_update(9, {"user": "d"}, 2)}) == NOT_FOUND


def test_an_open_secret_document_is_rechecked_against_its_stored_fields(installation, servers, clients):
    """Ownership moves away while the old owner has a secret document open: its next frames are
    refused, which only a check of the stored ``content.secret`` (not an id stub) can decide."""
    from core.models import ApiToken, User
    from core.projects import add_member, create_project, transfer_ownership

    one, _two = servers
    stamp = str(ObjectId())[-8:]
    old_owner = User(email=f"old-owner-{stamp}@example.com", name="Old owner").save()
    new_owner = User(email=f"new-owner-{stamp}@example.com", name="New owner").save()
    project = create_project(installation.app, old_owner, "Secret Film", f"secret-film-{stamp}")
    add_member(installation.app, project, new_owner, "editor", old_owner)
    secret = str(installation.app.extensions["aladdin"].content.create(
        project, "characters", {"content": {"name": "Mole", "secret": True}}, old_owner)["_id"])
    document = {"projectId": str(project.id), "collection": "characters", "documentId": secret}
    client = YClient(one.url, ApiToken.issue(old_owner), document)
    clients.append(client)
    assert client.call("join", {"projectId": str(project.id)})["ok"]
    client.sync()
    assert client.edit(lambda d: d.get("text", type=Text).insert(0, "notes")) == {"ok": True}
    transfer_ownership(installation.app, project, str(new_owner.id), old_owner)
    assert_refused_like_a_missing_document(client, document)
    assert client.call("awareness", {**document, "message": awareness_update(3, {"user": "o"})}) == NOT_FOUND
    assert client.call("yjs_commit", {**document, "baseVersion": 1}) == NOT_FOUND


def test_cursors_typing_and_presence_cursors_reach_only_viewers(installation, servers, connect):
    """A cursor or typing event names a document: the sender must be able to view it, and only
    sockets whose user may view it learn of it, in the event or in a presence record."""
    one, two = servers
    editor = connect(one, "editor")
    owners = [connect(one, "owner"), connect(two, "owner")]
    viewers = [connect(one, "viewer"), connect(two, "viewer")]
    scene = installation.create_doc(collection="scenes", title="Hidden from viewers")
    public = installation.create_doc(collection="characters", name="Hero")
    hidden = {"projectId": installation.pid, "documentId": scene}

    # The collection is optional: the server finds the document and says which it is.
    assert editor.call("cursor_move", {**hidden, "position": {"index": 2}}) == {"ok": True}
    assert editor.call("typing_start", {**hidden, "collection": "scenes"}) == {"ok": True}
    for owner in owners:
        cursor = owner.wait_for("cursor_move", lambda d: d["documentId"] == scene)
        assert cursor["collection"] == "scenes" and cursor["position"] == {"index": 2}
        assert owner.wait_for("typing_start", lambda d: d["documentId"] == scene)["userId"] == str(
            installation.users["editor"].id)
    # A viewer pointing at the hidden scene is refused exactly like a missing document.
    missing = {"projectId": installation.pid, "documentId": str(ObjectId())}
    assert viewers[0].call("cursor_move", {**hidden, "position": 1}) == NOT_FOUND == viewers[0].call(
        "cursor_move", {**missing, "position": 1})
    assert viewers[1].call("typing_start", hidden) == NOT_FOUND == viewers[1].call("typing_stop", missing)
    # The editor's status change carries its presence record (its cursor on the scene) to the room.
    assert editor.call("presence", {"projectId": installation.pid, "status": "away"})["ok"]
    # Barrier: sent after all of the above, seen by everyone.
    assert owners[1].call("cursor_move", {"projectId": installation.pid, "documentId": public,
                                          "position": 0}) == {"ok": True}
    for viewer in viewers:
        viewer.wait_for("cursor_move", lambda d: d["documentId"] == public)
        for event in ("cursor_move", "typing_start"):
            assert [d for d in viewer.received(event) if d["documentId"] == scene] == [], event
        status = viewer.wait_for("presence", lambda d: d["userId"] == str(installation.users["editor"].id))
        assert status["status"] == "away" and status["cursor"] is None
        listed = {u["userId"]: u for u in viewer.call("presence", {"projectId": installation.pid})["users"]}
        assert listed[str(installation.users["editor"].id)]["cursor"] is None
        assert listed[str(installation.users["owner"].id)]["cursor"]["documentId"] == public
    expected = {"documentId": scene, "collection": "scenes", "position": {"index": 2}}
    for owner in owners:
        status = owner.wait_for("presence", lambda d: d["userId"] == str(installation.users["editor"].id))
        assert status["cursor"] == expected
        listed = {u["userId"]: u for u in owner.call("presence", {"projectId": installation.pid})["users"]}
        assert listed[str(installation.users["editor"].id)]["cursor"] == expected
    # A late joiner sees the same: the viewer nothing, the owner the cursor.
    late_viewer, late_owner = connect(two, "viewer"), connect(one, "owner")
    for client, cursor in ((late_viewer, None), (late_owner, expected)):
        users = {u["userId"]: u for u in client.call("join", {"projectId": installation.pid})["users"]}
        assert users[str(installation.users["editor"].id)]["cursor"] == cursor


def test_a_role_change_closes_open_documents_without_waiting_for_a_frame(installation, servers, clients):
    """Demoted to viewer while a scene is open in Yjs and silent: its socket stops receiving the
    scene's updates (and cursors on it) at once, in whichever process it is connected to."""
    from core.projects import set_role

    one, two = servers
    temp, document, silent = open_as_new_editor(installation, clients, one, "silent")
    scene = document["documentId"]
    writer = YClient(two.url, installation.token("editor"), document)
    clients.append(writer)
    assert writer.call("join", {"projectId": installation.pid})["ok"]
    writer.sync()
    assert writer.edit(lambda d: d.get("text", type=Text).insert(0, "before ")) == {"ok": True}
    wait_for(lambda: silent.text() == "before ", message="the writer's text on the silent editor")

    set_role(installation.app, installation.project, str(temp.id), "viewer", installation.users["owner"])
    barrier([silent], installation.create_doc(collection="characters", name="After the demotion"))
    frames = len(silent.received("yjs"))
    assert writer.edit(lambda d: d.get("text", type=Text).insert(7, "after")) == {"ok": True}
    assert writer.call("cursor_move", {"projectId": installation.pid, "documentId": scene, "position": 3}) == {"ok": True}
    barrier([silent], installation.create_doc(collection="characters", name="After the edit"))
    assert len(silent.received("yjs")) == frames and silent.text() == "before "
    assert [d for d in silent.received("cursor_move") if d["documentId"] == scene] == []
    assert silent.call("yjs", {**document, "message": create_sync_message(silent.doc)}) == NOT_FOUND


def test_a_clone_outcome_names_its_documents_only_to_who_may_view_them(installation, servers, connect):
    """``clone.completed`` carries the root's id and the new root's: a viewer (no scenes) gets the
    event without them; the owner, on the other process, gets both."""
    one, two = servers
    owner, viewer = connect(one, "owner"), connect(two, "viewer")
    scene = installation.create_doc(collection="scenes", title="To be cloned")
    resp = requests.post(f"{two.url}/api/v1/projects/{installation.pid}/clone",
                         json={"targetProjectId": installation.pid, "contentType": "scenes", "documentId": scene},
                         headers={"Authorization": f"Bearer {installation.token('owner')}"}, timeout=30)
    assert resp.status_code == 201, resp.text
    new_root = resp.json()["newRootId"]
    done = owner.wait_for("clone_progress", lambda d: d["event"] == "clone.completed" and d.get("rootId") == scene)
    assert done["newRootId"] == new_root and done["clonedCount"] >= 1
    seen = viewer.wait_for("clone_progress", lambda d: d["event"] == "clone.completed" and d["jobId"] == done["jobId"])
    assert "rootId" not in seen and "newRootId" not in seen and seen["clonedCount"] == done["clonedCount"]
    assert all(scene not in str(d) and new_root not in str(d) for d in viewer.received("clone_progress"))
