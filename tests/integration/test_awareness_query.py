"""A socket opening a document asks the other processes for their awareness states only when
this process's copy may lack some (Realtime.ask_awareness, Targets.greet): a round trip on every
connect to synced otherwise (``bench.yjs``)."""

from __future__ import annotations

import socketio as python_socketio
from pycrdt import Doc, create_sync_message

from plugins.realtime import bus
from plugins.realtime.revisit import after_bus_gap
from tests.waiting import wait_for

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


def test_awareness_goes_on_the_bus_only_while_another_process_listens(app, monkeypatch):
    """A process alone on the bus publishes no awareness update (nobody would receive it); a
    count at the sweep, or any message from another process, says someone listens again."""
    rt = app.extensions["realtime"]
    rt.ensure_started()
    sent, publish = [], bus.publish
    monkeypatch.setattr(bus, "publish", lambda redis, settings, message: (
        sent.append(message.kind), publish(redis, settings, message))[1])
    key, update = ("p" * 24, "scenes", "d" * 24), b"\x00"
    assert rt.ask_awareness(key, "sid-1")  # only this process listened: alone
    rt.publish(bus.Awareness(key, update))
    assert sent == ["awareness_query"]
    elsewhere = rt.redis.pubsub()  # another process subscribes ...
    elsewhere.subscribe(bus.bus_channel(rt.ext.settings))
    rt.sweep()                      # ... and the sweeper counts it
    rt.publish(bus.Awareness(key, update))
    assert sent[-1] == "awareness"
    elsewhere.close()
    rt.sweep()
    rt.publish(bus.Awareness(key, update))
    assert sent[-1] == "awareness" and len(sent) == 2  # alone again: not published
    # A message from another process: it listens (it asks before its sockets see any state).
    publish(rt.redis, rt.ext.settings, bus.AwarenessQuery(key, "sid-9", origin="another-process"))
    wait_for(lambda: not rt.listeners.alone, message="the other process's question to arrive")
    rt.publish(bus.Awareness(key, update))
    assert len(sent) == 3 and sent[-1] == "awareness"
