"""Over HTTP long-polling too, a message over the limit is answered ``too_large`` in its ack and
the connection stays (engine.io used to refuse the whole POST and drop the session)."""

from __future__ import annotations

import socketio
from pycrdt import Doc, create_sync_message, create_update_message

from core.compat.engineio import MAX_MESSAGE_BYTES
from core.compat.socketio import in_arrival_order
from core.testing.actors import Actors
from core.testing.serving import served

NS = "/collab"


def test_long_polling_answers_oversized_messages_and_keeps_the_connection(make_app):
    app = make_app()
    actors = Actors(app)
    owner = actors.user("owner@polling.example")
    project = actors.project(owner, "Polling Film", "polling-film")
    scene = str(actors.content(project, "scenes", {"content": {"title": "x"}}, owner)["_id"])
    pid = str(project.id)
    ref = {"projectId": pid, "collection": "scenes", "documentId": scene}
    client = socketio.Client(reconnection=False)
    in_arrival_order(client)
    disconnects: list = []
    client.on("disconnect", lambda *args: disconnects.append(args), namespace=NS)
    with served(app) as url:
        client.connect(url, namespaces=[NS], auth={"token": owner.token}, transports=["polling"], wait_timeout=60)
        try:
            sid = client.get_sid(NS)
            assert client.call("join", {"projectId": pid}, namespace=NS, timeout=60)["ok"]
            synced = client.call("yjs", {**ref, "message": create_sync_message(Doc())}, namespace=NS, timeout=60)
            assert synced["ok"], synced
            # A binary attachment over the limit (a paste) and a text event over it.
            paste = create_update_message(b"\x01" * (MAX_MESSAGE_BYTES + 200_000))
            ack = client.call("yjs", {**ref, "message": paste}, namespace=NS, timeout=60)
            assert ack["error"] == "too_large" and ack["resync"] is True, ack
            ack = client.call("cursor_move", {"projectId": pid, "documentId": scene,
                                              "position": "x" * (MAX_MESSAGE_BYTES + 1000)}, namespace=NS, timeout=60)
            assert ack["error"] == "too_large", ack
            # The same session goes on, still over long-polling.
            assert client.call("presence", {"projectId": pid}, namespace=NS, timeout=60)["ok"]
            assert client.connected and client.get_sid(NS) == sid and client.transport() == "polling"
            assert disconnects == []
        finally:
            client.disconnect()
