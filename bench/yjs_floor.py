"""The transport alone: Aladdin's Socket.IO stack relaying Yjs frames with none of Aladdin's work.

``python -m bench.yjs_floor PORT`` serves ``/collab`` exactly as ``aladdin serve`` does -- Flask-
SocketIO in threading mode on Werkzeug, Nagle off, no per-message compression, whole binary
packets, direct sends (``core.compat``) -- but a ``join`` is simply acked and a ``yjs`` frame only
applied to one in-memory Y.Doc per document and relayed to the document's other sockets: no
authentication, authorization, storage, bus or presence. ``bench.yjs`` runs it beside Hocuspocus
and Aladdin, so the part of Aladdin's latency its transport costs, and the part its own work
costs, are measured in the same run. Not a product: it accepts any client and stores nothing.
"""

from __future__ import annotations

import sys
import threading

from flask import Flask, request
from flask_socketio import SocketIO
from pycrdt import Decoder, Doc, YSyncMessageType, create_sync_message, handle_sync_message

from core.compat.direct_send import send_directly
from core.compat.simple_websocket import decline_compression
from core.compat.socketio import send_packets_whole
from core.serving import listen_or_exit

NAMESPACE = "/collab"


def create_floor_app() -> tuple[Flask, SocketIO]:
    app = Flask(__name__)
    socketio = SocketIO(app, async_mode="threading")
    socketio.server.async_handlers = False  # as the realtime plugin: each socket's events in order
    send_packets_whole(socketio.server)
    decline_compression()
    send_directly(socketio.server.eio)
    docs: dict[str, Doc] = {}
    rooms: dict[str, set[str]] = {}
    lock = threading.Lock()

    @socketio.on("connect", namespace=NAMESPACE)
    def connect(auth=None):
        return True

    @socketio.on("disconnect", namespace=NAMESPACE)
    def disconnect(*_args):
        with lock:
            for sids in rooms.values():
                sids.discard(request.sid)

    @socketio.on("join", namespace=NAMESPACE)
    def join(_data):
        return {"ok": True}

    @socketio.on("yjs", namespace=NAMESPACE)
    def yjs(data):
        name, message = data["documentId"], data["message"]
        with lock:
            doc = docs.setdefault(name, Doc())
            rooms.setdefault(name, set()).add(request.sid)
            if message[1] == YSyncMessageType.SYNC_STEP1:
                frames = [handle_sync_message(message[1:], doc), create_sync_message(doc)]
            else:
                doc.apply_update(Decoder(message[2:]).read_message())
                frames = []
            others = [sid for sid in rooms[name] if sid != request.sid]
        for frame in frames:
            socketio.emit("yjs", {**data, "message": frame}, to=request.sid, namespace=NAMESPACE,
                          ignore_queue=True)
        if message[1] != YSyncMessageType.SYNC_STEP1 and others:
            socketio.emit("yjs", data, to=others, namespace=NAMESPACE, ignore_queue=True)
        return {"ok": True, "version": 0} if frames else {"ok": True}

    return app, socketio


def main(argv: list[str] | None = None) -> int:
    port = int((argv if argv is not None else sys.argv[1:])[0])
    app, _socketio = create_floor_app()
    server = listen_or_exit(app, "127.0.0.1", port)
    print(f"serving http://127.0.0.1:{server.port} ", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
