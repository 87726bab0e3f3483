"""The transport floor of ``bench.yjs``: Aladdin's two Yjs transports with none of Aladdin's work.

``python -m bench.yjs --floor PORT`` serves, as ``aladdin serve`` does (Werkzeug's threaded
server, Nagle off, no per-message compression), ``/collab`` on Flask-SocketIO with the settings
of ``core.compat`` and ``/collab/yjs/<project>/<collection>/<document>`` on the plain WebSocket's
own connection class (``plugins.realtime.ywebsocket.connection``). A ``join`` is simply acked; a
sync frame is applied to one in-memory Y.Doc per document and relayed to the document's other
connections, of either transport. No authorization, storage, bus or presence: what is left is the
transport's own cost. Not a product: it accepts any client."""

from __future__ import annotations

import sys
import threading

from . import ROOT


def serve_floor(port: int) -> int:
    sys.path.insert(0, str(ROOT))
    from flask import Flask, request
    from flask_socketio import SocketIO
    from pycrdt import Decoder, Doc, YSyncMessageType, create_sync_message, handle_sync_message

    from core.compat.direct_send import send_directly
    from core.compat.simple_websocket import decline_compression
    from core.compat.socketio import send_packets_whole
    from core.serving import listen_or_exit
    from plugins.realtime.ywebsocket.connection import Connection, handshake_key, raw_socket
    from plugins.realtime.ywebsocket.endpoint import Finished

    app, ns = Flask(__name__), "/collab"
    socketio = SocketIO(app, async_mode="threading")
    socketio.server.async_handlers = False  # as the realtime plugin: each socket's events in order
    send_packets_whole(socketio.server)
    decline_compression()
    send_directly(socketio.server.eio)
    docs, rooms, lock = {}, {}, threading.Lock()  # document -> Y.Doc; document -> {sid or Connection}

    def apply(document_id: str, member, message: bytes) -> tuple[list[bytes], list]:
        """Frames for the sender, and the other members of the document's room to relay to."""
        with lock:
            doc = docs.setdefault(document_id, Doc())
            members = rooms.setdefault(document_id, set())
            members.add(member)
            if message[1] == YSyncMessageType.SYNC_STEP1:
                return [handle_sync_message(message[1:], doc), create_sync_message(doc)], []
            doc.apply_update(Decoder(message[2:]).read_message())
            return [], [m for m in members if m != member]

    def relay(document_id: str, others: list, message: bytes) -> None:
        for plain in [m for m in others if isinstance(m, Connection)]:
            plain.write(message)
        sids = [m for m in others if not isinstance(m, Connection)]
        if sids:
            socketio.emit("yjs", {"documentId": document_id, "message": message}, to=sids, namespace=ns,
                          ignore_queue=True)

    def leave(member) -> None:
        with lock:
            for members in rooms.values():
                members.discard(member)

    socketio.on_event("connect", lambda auth=None: True, namespace=ns)
    socketio.on_event("join", lambda data: {"ok": True}, namespace=ns)
    socketio.on_event("disconnect", lambda *_args: leave(request.sid), namespace=ns)

    @socketio.on("yjs", namespace=ns)
    def yjs(data):
        frames, others = apply(data["documentId"], request.sid, data["message"])
        for frame in frames:
            socketio.emit("yjs", {**data, "message": frame}, to=request.sid, namespace=ns, ignore_queue=True)
        relay(data["documentId"], others, data["message"])
        return {"ok": True, "version": 0} if frames else {"ok": True}

    @app.route("/collab/yjs/<project_id>/<collection>/<document_id>", websocket=True)
    def plain(project_id, collection, document_id):
        sock, mode = raw_socket(request.environ)
        connection = Connection(sock)
        connection.accept(handshake_key(request.environ))
        try:
            for kind, message in connection.messages(1024 * 1024):
                if kind == 0:
                    frames, others = apply(document_id, connection, message)
                    for frame in frames:
                        connection.write(frame)
                    relay(document_id, others, message)
        finally:
            leave(connection)
            connection.finish()
        return Finished(mode)

    server = listen_or_exit(app, "127.0.0.1", port)
    print(f"serving http://127.0.0.1:{server.port} ", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
