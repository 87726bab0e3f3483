"""redis-py's connection socket, so a pub/sub subscription can be polled without its parser (redis-py 7.4.1).

Why no public API serves: ``PubSub.get_message(timeout=0)`` and ``Connection.can_read()`` answer
"is anything waiting?" through the parser and its buffer, on every near-cache read; one
poll(2) on the socket answers the common case. A new socket object also tells that redis-py
reconnected (and re-subscribed) inside a read, losing what was published meanwhile."""

from __future__ import annotations

import socket


def subscription_socket(pubsub) -> socket.socket | None:
    """The socket ``pubsub`` reads its messages from (``Connection._sock``), None while unconnected."""
    return getattr(getattr(pubsub, "connection", None), "_sock", None)
