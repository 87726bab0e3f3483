"""Realtime plugin end to end: a real ``cli.py serve`` process and python-socketio clients."""

from __future__ import annotations

import time

import pytest
import socketio

from core.compat.socketio import in_arrival_order
from tests.e2e.realtime_support import (close_all, Collab, installed, Server)

@pytest.fixture(scope="module")
def installation(tmp_path_factory, redis_server):
    yield from installed(tmp_path_factory, redis_server, "realtime", ALADDIN_REALTIME_CURSOR_INTERVAL_MS="200")


@pytest.fixture(scope="module")
def server(installation):
    srv = Server(installation.env, installation.tmp).start()
    yield srv
    srv.stop()


@pytest.fixture
def connect(server, installation):
    clients = []

    def make(role: str, join: bool = True):
        client = Collab(server.url, installation.token(role))
        clients.append(client)
        if join:
            ack = client.call("join", {"projectId": installation.pid})
            assert ack["ok"], ack
            client.join_ack = ack
        return client

    yield make
    close_all(clients)


# --- connection and presence --------------------------------------------------------------


def test_bad_token_refuses_connection(server):
    for auth in ({"token": "ald_not-a-token"}, None, {"token": 42}):
        client = socketio.Client(reconnection=False)
        in_arrival_order(client)
        with pytest.raises(socketio.exceptions.ConnectionError):
            client.connect(server.url, namespaces=["/collab"], auth=auth, transports=["websocket"], wait_timeout=5)
        client.disconnect()
    assert server.alive()


def test_join_lists_present_users_and_announces_joins_and_leaves(connect, installation):
    owner = connect("owner")
    assert [u["userId"] for u in owner.join_ack["users"]] == [str(installation.users["owner"].id)]
    assert owner.join_ack["role"] == "owner"
    editor = connect("editor")
    present = {u["userId"]: u for u in editor.join_ack["users"]}
    assert set(present) == {str(installation.users["owner"].id), str(installation.users["editor"].id)}
    record = present[str(installation.users["owner"].id)]
    assert record["userName"] == "Owner" and record["status"] == "active"
    assert set(record) == {"userId", "userName", "status", "cursor", "lastActivity"}
    joined = owner.wait_for("user_joined", lambda d: d["userId"] == str(installation.users["editor"].id))
    assert joined["projectId"] == installation.pid
    assert editor.call("leave", {"projectId": installation.pid}) == {"ok": True}
    left = owner.wait_for("user_left", lambda d: d["userId"] == str(installation.users["editor"].id))
    assert left["projectId"] == installation.pid


def test_user_with_two_tabs_leaves_only_with_the_last_socket(connect, installation):
    import uuid

    from core.projects import add_member, create_project

    # A second project that only the first tab joins (after the film): the server leaves a closed
    # socket's projects in the order it joined them, so the user leaving the second project is
    # the sign that the first tab's departure from the film has been handled.
    owner, collaborator = installation.users["owner"], installation.users["collaborator"]
    other = create_project(installation.app, owner, "Side Film", f"side-{uuid.uuid4().hex[:6]}")
    add_member(installation.app, other, collaborator, "collaborator", owner)
    watcher = connect("owner")
    tab1 = connect("collaborator")
    tab2 = connect("collaborator")
    for client in (watcher, tab1):
        assert client.call("join", {"projectId": str(other.id)})["ok"]
    collab_id = str(collaborator.id)
    in_film = lambda d: d["userId"] == collab_id and d["projectId"] == installation.pid  # noqa: E731
    watcher.wait_for("user_joined", in_film)
    tab1.close()
    watcher.wait_for("user_left", lambda d: d["userId"] == collab_id and d["projectId"] == str(other.id))
    # The second tab still counts: a presence query lists the user and no user_left came.
    users = watcher.call("presence", {"projectId": installation.pid})["users"]
    assert collab_id in [u["userId"] for u in users]
    assert not [d for d in watcher.received("user_left") if in_film(d)]
    tab2.close()
    watcher.wait_for("user_left", in_film)
    users = watcher.call("presence", {"projectId": installation.pid})["users"]
    assert collab_id not in [u["userId"] for u in users]
    assert len([d for d in watcher.received("user_joined") if in_film(d)]) == 1


def test_status_set_by_client_reaches_the_room(connect, installation):
    owner = connect("owner")
    viewer = connect("viewer")
    assert viewer.call("presence", {"projectId": installation.pid, "status": "away"})["ok"]
    update = owner.wait_for("presence", lambda d: d["userId"] == str(installation.users["viewer"].id))
    assert update["status"] == "away"
    bad = viewer.call("presence", {"projectId": installation.pid, "status": "sleeping"})
    assert bad["error"] == "invalid"


def test_outsider_join_is_refused_and_reveals_nothing(connect, installation):
    outsider = connect("outsider", join=False)
    owner = connect("owner")
    ack = outsider.call("join", {"projectId": installation.pid})
    assert ack == {"error": "not_found", "message": "project not found"}
    missing = outsider.call("join", {"projectId": "0" * 24})
    assert missing == ack  # indistinguishable from a project that does not exist
    doc_id = installation.create_doc()
    # Not in the room: room traffic never reaches it, and room events are refused.
    owner.emit("typing_start", {"projectId": installation.pid, "documentId": doc_id})
    assert outsider.call("cursor_move", {"projectId": installation.pid, "documentId": doc_id,
                                         "position": 1})["error"] == "not_joined"
    owner.call("presence", {"projectId": installation.pid})
    assert outsider.received("typing_start") == [] and outsider.received("user_joined") == []


# --- cursors and typing ---------------------------------------------------------------------


def test_cursor_and_typing_are_stamped_by_the_server(connect, installation):
    owner = connect("owner")
    editor = connect("editor")
    doc_id = installation.create_doc()
    ack = editor.call("cursor_move", {"projectId": installation.pid, "documentId": doc_id,
                                      "collection": "scenes", "position": {"index": 4},
                                      "userId": str(installation.users["owner"].id), "timestamp": 1})
    assert ack == {"ok": True}
    cursor = owner.wait_for("cursor_move")
    assert cursor["userId"] == str(installation.users["editor"].id)  # not the spoofed owner id
    assert cursor["position"] == {"index": 4} and cursor["documentId"] == doc_id
    assert cursor["timestamp"] > 1_600_000_000_000
    editor.emit("typing_start", {"projectId": installation.pid, "documentId": doc_id, "userId": "x"})
    typing = owner.wait_for("typing_start")
    assert typing["userId"] == str(installation.users["editor"].id) and typing["documentId"] == doc_id
    editor.emit("typing_stop", {"projectId": installation.pid, "documentId": doc_id})
    assert owner.wait_for("typing_stop")["userId"] == str(installation.users["editor"].id)
    assert editor.received("cursor_move") == [] and editor.received("typing_start") == []  # not to the sender
    users = {u["userId"]: u for u in owner.call("presence", {"projectId": installation.pid})["users"]}
    assert users[str(installation.users["editor"].id)]["cursor"] == {"documentId": doc_id, "collection": "scenes",
                                                             "position": {"index": 4}}


def test_cursor_floods_are_coalesced_to_the_latest_position(connect, installation):
    owner = connect("owner")
    editor = connect("editor")
    doc_id = installation.create_doc()
    for i in range(60):
        editor.emit("cursor_move", {"projectId": installation.pid, "documentId": doc_id, "position": i})
    owner.wait_for("cursor_move", lambda d: d["position"] == 59)
    editor.call("presence", {"projectId": installation.pid})  # a round trip after the flood
    assert len(owner.received("cursor_move")) < 60


# --- versioned edits ------------------------------------------------------------------------


def test_content_change_applies_broadcasts_and_refuses_stale_versions(connect, installation):
    owner = connect("owner")
    editor = connect("editor")
    doc_id = installation.create_doc(title="Opening", mood="calm")
    ack = editor.call("content_change", {"projectId": installation.pid, "collection": "scenes",
                                         "documentId": doc_id, "patch": {"content.mood": "tense"},
                                         "baseVersion": 1})
    assert ack["ok"] and ack["version"] == 2 and ack["document"]["content"]["mood"] == "tense"
    change = owner.wait_for("content_change", lambda d: d["documentId"] == doc_id and d["version"] == 2)
    assert change == {**change, "documentId": doc_id, "patch": {"content.mood": "tense"}, "version": 2,
                      "userId": str(installation.users["editor"].id), "collection": "scenes", "action": "updated"}
    # The owner edits from version 1 too: conflict, with what it needs to rebase.
    stale = owner.call("content_change", {"projectId": installation.pid, "collection": "scenes",
                                          "documentId": doc_id, "patch": {"content.title": "Dawn"},
                                          "baseVersion": 1})
    assert stale["error"] == "conflict" and stale["version"] == 2
    assert stale["document"]["content"] == {"title": "Opening", "mood": "tense"}
    rebased = owner.call("content_change", {"projectId": installation.pid, "collection": "scenes",
                                            "documentId": doc_id, "patch": {"content.title": "Dawn"},
                                            "baseVersion": stale["version"]})
    assert rebased["version"] == 3
    stored = installation.get_doc(doc_id)
    assert stored["content"] == {"title": "Dawn", "mood": "tense"} and stored["version"] == 3
    # The write went through the core path: activity/events saw it like a REST write.
    assert stored["updatedAt"] > stored["createdAt"]


def test_writes_made_outside_the_rooms_reach_them(connect, installation, server):
    """REST writes on the server, and writes by another process (this test's), are announced
    once each, with the whole document; a socket edit is not announced twice."""
    import requests

    viewer = connect("viewer")
    editor = connect("editor")
    headers = {"Authorization": f"Bearer {installation.token('owner')}"}
    base = f"{server.url}/api/v1/projects/{installation.pid}/content/scenes"
    created = requests.post(base, json={"content": {"title": "From REST"}}, headers=headers, timeout=60)
    assert created.status_code == 201, created.text
    doc_id = created.json()["id"]
    seen = viewer.wait_for("content_change", lambda d: d["documentId"] == doc_id)
    assert seen == {**seen, "action": "created", "source": "api", "version": 1, "collection": "scenes",
                    "userId": str(installation.users["owner"].id)}
    assert seen["document"]["content"] == {"title": "From REST"}
    patched = requests.patch(f"{base}/{doc_id}", json={"content": {"title": "Patched"}, "baseVersion": 1},
                             headers=headers, timeout=60)
    assert patched.status_code == 200, patched.text
    seen = viewer.wait_for("content_change", lambda d: d["documentId"] == doc_id and d["version"] == 2)
    assert seen["action"] == "updated" and seen["document"]["content"]["title"] == "Patched"
    # Another process (this one) writes: the server's rooms hear it through Redis.
    other = installation.create_doc(title="From a worker")
    seen = editor.wait_for("content_change", lambda d: d["documentId"] == other)
    assert seen["action"] == "created" and seen["source"] == "api"
    # A socket edit: peers get the handler's own event (with the patch) and nothing else.
    ack = editor.call("content_change", {"projectId": installation.pid, "collection": "scenes",
                                         "documentId": doc_id, "patch": {"content.mood": "calm"},
                                         "baseVersion": 2})
    assert ack["version"] == 3
    viewer.wait_for("content_change", lambda d: d["documentId"] == doc_id and d["version"] == 3)
    deleted = requests.delete(f"{base}/{doc_id}", headers=headers, timeout=60)
    assert deleted.status_code in (200, 204), deleted.text
    seen = viewer.wait_for("content_change", lambda d: d["documentId"] == doc_id and d["action"] == "deleted")
    assert "document" not in seen
    version_3 = [d for d in viewer.received("content_change")
                 if d["documentId"] == doc_id and d["version"] == 3 and d["action"] == "updated"]
    assert len(version_3) == 1 and version_3[0]["patch"] == {"content.mood": "calm"} and "source" not in version_3[0]
    # no echo of its own edit (the delete's event, also version 3, may well have arrived)
    assert not [d for d in editor.received("content_change")
                if d["documentId"] == doc_id and d["version"] == 3 and d["action"] == "updated"]


def test_content_change_respects_roles(connect, installation):
    viewer = connect("viewer")
    collaborator = connect("collaborator")
    owners_doc = installation.create_doc("owner")
    own_doc = installation.create_doc("collaborator")
    refused = viewer.call("content_change", {"projectId": installation.pid, "collection": "scenes",
                                             "documentId": owners_doc, "patch": {"content.title": "x"},
                                             "baseVersion": 1})
    assert refused["error"] == "forbidden"
    refused = collaborator.call("content_change", {"projectId": installation.pid, "collection": "scenes",
                                                   "documentId": owners_doc, "patch": {"content.title": "x"},
                                                   "baseVersion": 1})
    assert refused["error"] == "forbidden"
    ok = collaborator.call("content_change", {"projectId": installation.pid, "collection": "scenes",
                                              "documentId": own_doc, "patch": {"content.title": "mine"},
                                              "baseVersion": 1})
    assert ok["version"] == 2
    assert installation.get_doc(owners_doc)["version"] == 1


def test_removed_member_is_refused_and_kicked_at_once(connect, installation):
    from core.models import ApiToken, User
    from core.projects import add_member, remove_member

    temp = User(email=f"temp{time.time_ns()}@example.com", name="Temp").save()
    token = ApiToken.issue(temp)
    add_member(installation.app, installation.project, temp, "editor", installation.users["owner"])
    owner = connect("owner")
    client = Collab(owner.client.connection_url, token)
    try:
        assert client.call("join", {"projectId": installation.pid})["ok"]
        owner.wait_for("user_joined", lambda d: d["userId"] == str(temp.id))
        remove_member(installation.app, installation.project, str(temp.id), installation.users["owner"])
        revoked = client.wait_for("access_revoked")
        assert revoked == {"projectId": installation.pid}
        owner.wait_for("user_left", lambda d: d["userId"] == str(temp.id))
        doc_id = installation.create_doc()
        refused = client.call("cursor_move", {"projectId": installation.pid, "documentId": doc_id, "position": 0})
        assert refused["error"] in ("not_joined", "not_found")
        assert client.call("join", {"projectId": installation.pid})["error"] == "not_found"
        owner.emit("typing_start", {"projectId": installation.pid, "documentId": doc_id})
        owner.call("presence", {"projectId": installation.pid})
        assert client.received("typing_start") == []
    finally:
        client.close()


# --- job progress from other processes ----------------------------------------------------


def test_progress_events_from_another_process_reach_the_room(connect, installation):
    from core.events import emit
    from plugins.realtime.emitter import Emitter

    owner = connect("owner")
    outsider = connect("outsider", join=False)
    # The test process plays the RQ worker: the event sink uses the write-only emitter.
    emit(installation.app, "export.progress", project_id=installation.pid, resource_type="export",
         resource_id="job-1", progress=42.0, status="processing")
    progress = owner.wait_for("export_progress")
    assert progress["jobId"] == "job-1" and progress["progress"] == 42.0 and progress["projectId"] == installation.pid
    emit(installation.app, "clone.completed", project_id=installation.pid, resource_type="clone",
         resource_id="job-2", jobId="job-2", progress=100)
    assert owner.wait_for("clone_progress")["event"] == "clone.completed"
    Emitter(installation.app).to_project(installation.pid, "export_progress", {"jobId": "job-3", "progress": 7})
    assert owner.wait_for("export_progress", lambda d: d["jobId"] == "job-3")["progress"] == 7
    owner.call("presence", {"projectId": installation.pid})
    assert outsider.received("export_progress") == []
