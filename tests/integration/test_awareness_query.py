"""A socket opening a document asks the other processes for their awareness states only when
this process's copy may lack some (Realtime.ask_awareness, Targets.greet): a round trip on every
connect to synced otherwise (``bench.yjs``)."""

from __future__ import annotations

import socketio as python_socketio
from pycrdt import Doc, create_sync_message

from plugins.realtime import bus
from plugins.realtime.revisit import after_bus_gap

NAMESPACE = "/collab"


def opener(app, project, users, clients):
    """Open a scene on a fresh socket of one of ``users`` (in turn): ``open(scene_id)``."""
    socketio = app.extensions["aladdin"].socketio
    server = socketio.server
    if not server.manager_initialized:  # Flask-SocketIO's test client refuses a Redis queue
        server.manager = python_socketio.Manager()
        server.manager.set_server(server)

    def open_scene(scene_id: str) -> None:
        user = users[len(clients) % len(users)]
        client = socketio.test_client(app, namespace=NAMESPACE, auth={"token": user.token})
        clients.append(client)
        assert client.emit("join", {"projectId": str(project.id)}, namespace=NAMESPACE, callback=True)["ok"]
        ref = {"projectId": str(project.id), "collection": "scenes", "documentId": scene_id}
        ack = client.emit("yjs", {**ref, "message": create_sync_message(Doc())}, namespace=NAMESPACE, callback=True)
        assert ack["ok"], ack
    return open_scene


def test_a_copy_opened_with_no_other_process_listening_asks_nobody_until_the_bus_loses_messages(app, actors, team):
    project, users = team["project"], (team["owner"], team["editor"])
    scene, other_scene = (actors.content(project, "scenes", {"content": {"title": t}})["id"] for t in "ab")
    rt = app.extensions["realtime"]
    rt.ensure_started()
    asked, publish = [], rt.publish
    rt.publish = lambda message: (asked.append(message.key) if isinstance(message, bus.AwarenessQuery) else None,
                                  publish(message))[1]
    clients: list = []
    open_scene = opener(app, project, users, clients)
    try:
        open_scene(scene)
        open_scene(scene)
        open_scene(scene)
        assert len(asked) == 1  # the first socket asked; nobody else listened: the copy has every state since
        after_bus_gap(rt)  # messages lost: states other processes sent meanwhile may be missing
        open_scene(scene)
        assert len(asked) == 2
        open_scene(scene)
        assert len(asked) == 2
        # Another process listening: each socket asks (its sockets' states predate this copy).
        elsewhere = rt.redis.pubsub()
        elsewhere.subscribe(bus.bus_channel(rt.ext.settings))
        try:
            open_scene(other_scene)
            open_scene(other_scene)
            assert len(asked) == 4
        finally:
            elsewhere.close()
    finally:
        for client in clients:
            client.disconnect(namespace=NAMESPACE)
