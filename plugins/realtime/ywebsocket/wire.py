"""What ``/collab`` sends a plain-WebSocket connection, as y-websocket frames.

The realtime plugin reaches its sockets only through python-socketio (rooms, ``emit_to``,
``disconnect``), which hands each socket's Engine.IO packets to that socket's object in the
Engine.IO server's table. A plain-WebSocket connection puts a :class:`Wire` there: it decodes
the Socket.IO packets as a client would and writes what y-websocket has a message for (``yjs``
and ``awareness`` of the connection's document); everything else (presence, cursors, content
events) has no frame in that protocol and is dropped. So every rule that holds for a Socket.IO
socket -- who receives typing, revocations, the bus between processes -- holds here unchanged."""

from __future__ import annotations

import threading
from typing import Callable

from socketio import packet as sio

from . import frames

# Close codes, in the 4400-4499 range y-websocket (3.x) takes as final: it does not reconnect.
UNAUTHENTICATED, NOT_FOUND, RESYNC = 4401, 4404, 4409


class Wire:
    """A plain-WebSocket connection's stand-in for an Engine.IO socket (``sockets[eio_sid]``):
    the attributes the Engine.IO server reads (``sid``, ``closed``, ``closing``,
    ``check_ping_timeout``, ``send``, ``close``)."""

    def __init__(self, eio_sid: str, document_id: str, packet_class, write: Callable[[bytes], None],
                 close: Callable[[int, str], None]):
        self.sid = eio_sid
        self.closed = False
        self.closing = False
        self.document_id = document_id
        self.packet_class = packet_class
        self.write, self._close = write, close
        self._partial: sio.Packet | None = None  # a binary packet waiting for its attachments
        self._lock = threading.Lock()

    def check_ping_timeout(self) -> bool:
        return not self.closed  # the connection's own pings find a dead peer (see ``connection``)

    def close(self, wait: bool = True, abort: bool = False, reason=None) -> None:
        self._close(1000, "closed by the server")

    def send(self, eio_packet) -> None:
        """One Engine.IO packet for this connection: a Socket.IO packet or one of its attachments."""
        data = eio_packet.data
        with self._lock:  # a binary packet's parts come in order (see core.compat.socketio)
            if isinstance(data, (bytes, bytearray)):
                pkt, self._partial = self._partial, None
                if pkt is None or not pkt.add_attachment(bytes(data)):
                    self._partial = pkt
                    return
            else:
                pkt = self.packet_class(encoded_packet=data)
                if pkt.attachment_count:
                    self._partial = pkt
                    return
        self.deliver(pkt)

    def deliver(self, pkt) -> None:
        kind = pkt.packet_type
        if kind == sio.DISCONNECT:
            self._close(UNAUTHENTICATED, "disconnected by the server")
        elif kind in (sio.EVENT, sio.BINARY_EVENT) and isinstance(pkt.data, list) and len(pkt.data) > 1:
            self.event(pkt.data[0], pkt.data[1])

    def event(self, name: str, data) -> None:
        if not isinstance(data, dict):
            return
        if name == "access_revoked":  # its credentials revoked, or removed from the project: then,
            if data.get("reason") == "credentials":  # as for anyone without a role, not found
                self._close(UNAUTHENTICATED, f"unauthenticated: {data.get('message')}")
            else:
                self._close(NOT_FOUND, "not_found: project not found")
        elif data.get("documentId") != self.document_id or not isinstance(data.get("message"), bytes):
            return
        elif name == "yjs":
            self.write(data["message"])
        elif name == "awareness":
            self.write(frames.awareness_frame(data["message"]))
