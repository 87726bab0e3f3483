"""A WebSocket message over the Socket.IO message limit is answered, not fatal (python-engineio 4.x).

Why: engine.io closes the connection when a received message is over ``max_http_buffer_size``;
a client whose paste is too large then reconnects and sends it again, forever, and never learns
why. By the time engine.io checks, simple-websocket has read the whole message, so closing saves
nothing. Here a message over the limit is replaced by a small stand-in before engine.io sees it:
a binary attachment by :class:`Oversized` (empty bytes that know the real size), an event packet
by the same event with its argument replaced by ``{OVERSIZED: size}``. The event's handler then
refuses it in its ack (``too_large``), like any payload over the limit, and the socket stays.
No public hook wraps what a transport reads; the engine.io server's WebSocket class is per server
(``server._async``), so one app's limit never touches another's. Long-polling bodies get the
same stand-ins (see ``_answer_oversized_posts``)."""

from __future__ import annotations

import re

MAX_MESSAGE_BYTES = 1024 * 1024  # the one limit: each message on the wire and each decoded payload
OVERSIZED = "__oversized__"

# An engine.io message (4) holding a Socket.IO event (2) or binary event (5): attachments,
# namespace and ack id, then the event's name (at most 200 characters: a longer one is not
# worth answering and closes the connection as before).
_EVENT = re.compile(r'4([25])(\d+-)?(/[^,\[]{0,200},)?(\d*)\["((?:[^"\\]|\\.){0,200})"')


class Oversized(bytes):
    """Stands in for a binary attachment over the limit: empty, and ``size`` bytes long on the wire."""

    size: int

    def __new__(cls, size: int) -> "Oversized":
        stand_in = super().__new__(cls, b"")
        stand_in.size = size
        return stand_in


def stand_in(data, limit: int = MAX_MESSAGE_BYTES):
    """``data`` (one received engine.io message), or its small stand-in when it is over ``limit``."""
    if data is None or len(data) <= limit:
        return data
    if isinstance(data, (bytes, bytearray)):
        return Oversized(len(data))
    found = _EVENT.match(data)
    if found is None:
        return data  # not an event: nothing to answer, engine.io closes as before
    kind, attachments, namespace, ack_id, event = found.groups()
    return f'4{kind}{attachments or ""}{namespace or ""}{ack_id}["{event}",{{"{OVERSIZED}":{len(data)}}}]'


def answer_oversized(eio_server, limit: int = MAX_MESSAGE_BYTES) -> None:
    """Make ``eio_server`` (an ``engineio.Server`` in threading mode) pass messages over ``limit``
    on as stand-ins; its own limit stays ``limit`` for what it checks itself (polling bodies)."""
    base = eio_server._async["websocket"]
    if getattr(base, "_aladdin_limit", None) is not None:
        return

    class AnsweringWebSocket(base):
        _aladdin_limit = limit

        def wait(self):
            return stand_in(super().wait(), limit)

    eio_server._async = {**eio_server._async, "websocket": AnsweringWebSocket}
    eio_server.max_http_buffer_size = limit
    eio_server._aladdin_limit = limit
    _answer_oversized_posts()


POLLING_READ_MAX = 16 * MAX_MESSAGE_BYTES  # a long-polling body over this is refused unread, as before


def polling_packets(body: str, limit: int) -> list:
    """The engine.io packets of a long-polling POST body, each over ``limit`` as its stand-in."""
    from engineio import packet

    packets = []
    for encoded in body.split("\x1e"):
        if len(encoded) <= limit:
            packets.append(packet.Packet(encoded_packet=encoded))
        elif encoded.startswith("b"):  # a base64 binary attachment: its decoded size
            packets.append(packet.Packet(packet.MESSAGE, data=Oversized(len(encoded[1:]) * 3 // 4)))
        else:
            packets.append(packet.Packet(encoded_packet=stand_in(encoded, limit)))
    return packets


def _answer_oversized_posts() -> None:
    """Long-polling gets the same answer as WebSocket: engine.io refuses a POST body over its
    limit with HTTP 400 and drops the session, so a client whose paste went out over long-polling
    reconnected instead of hearing ``too_large``. Engine.io builds its sockets from its own module
    (no per-server class), so its POST handler is wrapped once per process; it acts only for
    servers :func:`answer_oversized` set up, and takes a body only when some message in it is over
    the limit (or the messages together are), passing each message as it would over WebSocket."""
    from engineio import exceptions, socket as eio_socket

    original = eio_socket.Socket.handle_post_request
    if getattr(original, "_aladdin_oversized", False):
        return

    def handle_post_request(self, environ):
        limit = getattr(self.server, "_aladdin_limit", None)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if limit is None or length <= self.server.max_http_buffer_size:
            return original(self, environ)
        if length > POLLING_READ_MAX:
            raise exceptions.ContentTooLongError()
        for pkt in polling_packets(environ["wsgi.input"].read(length).decode("utf-8"), limit):
            self.receive(pkt)

    handle_post_request._aladdin_oversized = True
    eio_socket.Socket.handle_post_request = handle_post_request
