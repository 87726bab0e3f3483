"""A WebSocket message over the Socket.IO message limit is answered, not fatal (python-engineio 4.x).

Why: engine.io closes the connection when a received message is over ``max_http_buffer_size``;
a client whose paste is too large then reconnects and sends it again, forever, and never learns
why. By the time engine.io checks, simple-websocket has read the whole message, so closing saves
nothing. Here a message over the limit is replaced by a small stand-in before engine.io sees it:
a binary attachment by :class:`Oversized` (empty bytes that know the real size), an event packet
by the same event with its argument replaced by ``{OVERSIZED: size}``. The event's handler then
refuses it in its ack (``too_large``), like any payload over the limit, and the socket stays.
No public hook wraps what a transport reads; the engine.io server's WebSocket class is per server
(``server._async``), so one app's limit never touches another's."""

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
