"""How ``/collab`` frames travel: what a server sends to one of its own sockets goes straight to
it, not published on the Socket.IO message queue (a Redis round trip, and a message every
process decodes, for nothing), and websockets carry plain frames, never permessage-deflate."""

from __future__ import annotations

import json
import socket

import pytest
from pycrdt import Map

from core.app import socketio_channel
from tests.e2e.realtime_support import NS, Collab, Server, YClient, close_all, installed
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def installation(tmp_path_factory, redis_server):
    yield from installed(tmp_path_factory, redis_server, "realtime-local-emit")


def test_a_sync_reply_to_a_local_socket_never_crosses_the_message_queue(installation):
    ext = installation.app.extensions["aladdin"]
    queue = ext.jobs.redis.pubsub(ignore_subscribe_messages=False)
    queue.subscribe(socketio_channel(ext.settings))
    wait_for(lambda: (queue.get_message(timeout=0.1) or {}).get("type") == "subscribe", 30,
             "the test to listen on the Socket.IO queue")
    server = Server(installation.env, installation.tmp).start()
    doc_id = installation.create_doc(title="Storm")
    clients = []
    seen: list[dict] = []
    try:
        editor = YClient(server.url, installation.token("editor"),
                         {"projectId": installation.pid, "collection": "scenes", "documentId": doc_id})
        clients.append(editor)
        assert editor.call("join", {"projectId": installation.pid})["ok"]
        editor.sync()  # the server's sync step 2 reached the editor
        assert str(editor.doc.get("content", type=Map)["title"]) == "Storm"
        # Positive control, ordered after the sync: another user's arrival is announced to the
        # project room, which does go through the queue (other processes' sockets may be in it).
        owner_id = str(installation.users["owner"].id)
        owner = Collab(server.url, installation.token("owner"))
        clients.append(owner)
        assert owner.call("join", {"projectId": installation.pid})["ok"]

        def control_seen() -> bool:
            message = queue.get_message(timeout=0.1)
            if message and message["type"] == "message":
                seen.append(json.loads(message["data"]))
            return any(m.get("event") == "user_joined" and m["data"][0]["userId"] == owner_id for m in seen)

        wait_for(control_seen, 30, lambda: f"the owner's user_joined on the Socket.IO queue; saw {seen}")
        sid = editor.client.get_sid(NS)
        assert [(m["event"], m["room"]) for m in seen if m.get("room") == sid] == []
    finally:
        close_all(clients)
        queue.close()
        server.stop()


def test_websockets_decline_per_message_compression(installation):
    """Browsers and Node clients offer permessage-deflate on every connection; the server answers
    the upgrade without it, so keystroke-sized frames are never deflated on either side."""
    server = Server(installation.env, installation.tmp).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
            conn.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                          f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n").encode())
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = conn.recv(4096)
                assert chunk, f"the server closed the upgrade: {answer!r}"
                answer += chunk
        head = answer.split(b"\r\n\r\n")[0].decode().lower()
        assert head.startswith("http/1.1 101"), head
        assert "permessage-deflate" not in head, head
    finally:
        server.stop()
