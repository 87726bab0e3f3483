"""The acting user's role is resolved once per request, once per socket event and once per plain
WebSocket handshake (issue 23).

A counting plugin wraps ``aladdin_resolve_role``: every lookup passes through it, whether the
team plugin's role cache answers or the membership is read."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import socketio as python_socketio
from pycrdt import Doc, Map, create_sync_message, create_update_message

from core.app import create_app
from core.content import SYSTEM
from core.hookspecs import hookimpl
from core.projects import add_member, create_project
from core.testing.serving import served, upgrade_answer
from tests.conftest import Actors, make_settings
from tests.waiting import wait_for

NAMESPACE = "/collab"


class CountingRoles:
    """Counts role lookups by ``(user_id, project_id)`` made on the test's thread (the requests
    and socket events under test run there; the realtime bus delivers earlier events to the
    room on its own thread, whenever they arrive); answers nothing itself."""

    __name__ = "counting-roles"

    def __init__(self):
        self.calls: Counter = Counter()
        self.authentications = 0
        self.thread = threading.get_ident()  # None: every thread's (a served app's)

    def counts(self) -> bool:
        return self.thread is None or threading.get_ident() == self.thread

    @hookimpl(wrapper=True)
    def aladdin_resolve_role(self, app, user_id, project_id):
        if self.counts():
            self.calls[(user_id, project_id)] += 1
        return (yield)

    @hookimpl(wrapper=True)
    def aladdin_authenticate(self, app, request):
        if self.counts():
            self.authentications += 1
        return (yield)


@pytest.fixture
def counted(tmp_path, redis_server):
    counter = CountingRoles()
    app = create_app(make_settings(tmp_path, redis_server), plugins=(counter,), load_entry_points=False)
    app.testing = True
    with app.app_context():
        actors = Actors(app)
        owner = actors.user("owner@example.com")
        project = create_project(app, owner, "Counted Film", "counted-film")
        editor = actors.user("editor@example.com")
        add_member(app, project, editor, "editor", owner)
        scene = app.extensions["aladdin"].content.create(project, "scenes", {"content": {"title": "one"}}, owner)
        yield app, counter, project, editor, scene
    app.extensions["aladdin"].stopping.set()  # the realtime threads stop quietly
    app.extensions["aladdin"].near_cache.close()
    app.extensions["aladdin"].db.close()


def lookups(counter: CountingRoles, user, project, action) -> int:
    """How many times ``action()`` resolved ``user``'s role in ``project``."""
    counter.calls.clear()
    action()
    return counter.calls[(str(user.id), str(project.id))]


def test_one_lookup_per_http_request(counted):
    app, counter, project, editor, scene = counted
    client = app.test_client()
    url = f"/api/v1/projects/{project.id}/content/scenes"
    item = f"{url}/{scene['_id']}"

    def get():
        assert client.get(item, headers=editor.headers).status_code == 200

    def patch():
        response = client.patch(item, json={"content": {"title": "two"}}, headers=editor.headers)
        assert response.status_code == 200, response.json

    def listing():
        assert client.get(url, headers=editor.headers).status_code == 200

    def delete():
        assert client.delete(item, headers=editor.headers).status_code == 204

    def post():  # the project's create check, then the new document's: one actor, one lookup
        assert client.post(url, json={"content": {"title": "three"}}, headers=editor.headers).status_code == 201

    assert lookups(counter, editor, project, post) == 1
    assert lookups(counter, editor, project, get) == 1
    assert lookups(counter, editor, project, patch) == 1
    assert lookups(counter, editor, project, listing) == 1
    assert lookups(counter, editor, project, delete) == 1
    # and the next request looks again (nothing outlives its request)
    assert lookups(counter, editor, project, listing) == 1


def socket_client(app, user):
    """Flask-SocketIO's in-process client, on an in-process manager (it refuses a Redis queue)."""
    socketio = app.extensions["aladdin"].socketio
    server = socketio.server
    if not server.manager_initialized:
        server.manager = python_socketio.Manager()
        server.manager.set_server(server)
    return socketio.test_client(app, namespace=NAMESPACE, auth={"token": user.token})


def test_one_lookup_per_socket_event(counted):
    app, counter, project, editor, scene = counted
    collab = socket_client(app, editor)
    ref = {"projectId": str(project.id), "collection": "scenes", "documentId": str(scene["_id"])}

    def emit(event, data):
        def send():
            ack = collab.emit(event, data, namespace=NAMESPACE, callback=True)
            assert "error" not in ack, ack
            emit.ack = ack
        return send

    try:
        assert lookups(counter, editor, project, emit("join", {"projectId": str(project.id)})) == 1
        change = {**ref, "patch": {"content.title": "socket"}, "baseVersion": 1}
        assert lookups(counter, editor, project, emit("content_change", change)) == 1
        assert emit.ack["version"] == 2
        doc = Doc()
        assert lookups(counter, editor, project, emit("yjs", {**ref, "message": create_sync_message(doc)})) == 1
        doc["content"] = content = Map()
        updates = []
        doc.observe(lambda event: updates.append(event.update))
        content["title"] = "yjs"
        update = create_update_message(updates[-1])
        # What the socket may do was decided when it opened the document (remembered for the
        # document's version, a second at most): none here, one if that second has passed.
        assert lookups(counter, editor, project, emit("yjs", {**ref, "message": update})) <= 1
        assert lookups(counter, editor, project, emit("yjs_commit", {**ref, "baseVersion": 2})) == 1
    finally:
        collab.disconnect(namespace=NAMESPACE)
    # the platform's own read asks no one's role
    assert lookups(counter, editor, project,
                   lambda: app.extensions["aladdin"].content.get(project, "scenes", str(scene["_id"]),
                                                                 reader=SYSTEM)) == 0


def test_one_lookup_and_one_credentials_check_per_plain_websocket_handshake(counted):
    """A page load over the plain WebSocket -- connect, join the project, open the document --
    is one unit of work, as a request is: the token checked once, the role resolved once."""
    app, counter, project, editor, scene = counted
    rt = app.extensions["realtime"]
    counter.thread = None  # the handshake runs on the server's thread
    path = f"/collab/yjs/{project.id}/scenes/{scene['_id']}?token={editor.token}"
    with served(app) as url:
        counter.calls.clear()
        assert upgrade_answer(url, path).startswith(b"HTTP/1.1 101 ")
        wait_for(lambda: not rt.sessions, message="the socket's departure")
    assert counter.calls[(str(editor.id), str(project.id))] == 1
    assert counter.authentications == 1
