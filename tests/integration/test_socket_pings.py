"""A ``/collab`` websocket stays open while the client answers the server's pings, however quiet
it is. engine.io's writer closes a websocket it had nothing to send for ``ping_interval +
ping_timeout``; with packets (the pings among them) written directly by their senders
(``core.compat.direct_send``) it saw none, and every socket was closed 45 seconds after its last
queued packet: a page left open on a scene lost its presence and reconnected, over and over."""

from __future__ import annotations

import threading

import socketio

from core.testing.actors import Actors
from core.testing.serving import served

NS = "/collab"


def test_a_quiet_websocket_outlives_the_writers_deadline(make_app):
    app = make_app()
    eio = app.extensions["aladdin"].socketio.server.eio
    # Seconds rather than minutes: a ping every second, the writer's deadline every four.
    eio.ping_interval, eio.ping_timeout = 1, 3
    actors = Actors(app)
    owner = actors.user("owner@pings.example")
    project = actors.project(owner, "Ping Film", "ping-film")
    client = socketio.Client(reconnection=False)
    closed = threading.Event()
    client.on("disconnect", lambda *args: closed.set(), namespace=NS)
    with served(app) as url:
        client.connect(url, namespaces=[NS], auth={"token": owner.token}, transports=["websocket"],
                       wait_timeout=60)
        try:
            assert client.call("join", {"projectId": str(project.id)}, namespace=NS, timeout=60)["ok"]
            sid = client.get_sid(NS)
            # Nothing but pings for over two of the writer's deadlines.
            assert not closed.wait(9), "the server closed a websocket that answered every ping"
            assert client.call("presence", {"projectId": str(project.id)}, namespace=NS, timeout=60)["ok"]
            assert client.connected and client.get_sid(NS) == sid
        finally:
            client.disconnect()
