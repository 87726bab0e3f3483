"""One Socket.IO packet at a time per server: python-socketio's ``Server._send_packet`` (5.x).

Why: an event carrying bytes (a Yjs frame) is one Socket.IO packet sent as several Engine.IO
packets (a header, then each attachment), queued by separate ``eio.send`` calls. The realtime
plugin emits from request threads, the bus listener and the Redis manager's thread at once, so
another emit to the same socket could land between a header and its attachment: the client then
reads an attachment as a packet ("invalid literal for int() with base 10: b'\\x01'"), drops the
event and may stall its sync (seen under load). No public hook wraps a packet's sends; holding
one lock around ``_send_packet`` keeps each packet's parts together (``eio.send`` only queues,
so the lock is held for microseconds)."""

from __future__ import annotations

import threading


def send_packets_whole(server) -> None:
    """Make ``server`` (a ``socketio.Server``) queue each packet's parts without interleaving."""
    send_packet = server._send_packet
    if getattr(send_packet, "_aladdin_whole", False):
        return
    lock = threading.Lock()

    def whole(eio_sid, pkt):
        with lock:
            return send_packet(eio_sid, pkt)

    whole._aladdin_whole = True
    server._send_packet = whole
