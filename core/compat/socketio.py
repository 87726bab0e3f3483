"""One Socket.IO packet at a time per server: python-socketio's ``Server._send_packet`` and
``Server._send_eio_packet`` (5.x).

Why: an event carrying bytes (a Yjs frame) is one Socket.IO packet sent as several Engine.IO
packets (a header, then each attachment), queued by separate calls. The realtime plugin emits
from request threads, the bus listener and the Redis manager's thread at once, so another emit
to the same socket could land between a header and its attachment: the client then reads an
attachment as a packet ("invalid literal for int() with base 10: b'\\x01'"), drops the event
and may stall its sync (seen under load). Two paths send the parts: ``_send_packet`` (acks and
callbacks) loops over them itself, and the manager's room emit encodes once and calls
``_send_eio_packet`` part by part. No public hook wraps either, so one lock per server is held
for a whole packet on both: around ``_send_packet``, and on the second path from a binary
header until its last attachment (the header says how many follow). Sends only queue, so the
lock is held for microseconds."""

from __future__ import annotations

import re
import threading

_BINARY_HEADER = re.compile(r"[56](\d+)-")  # BINARY_EVENT / BINARY_ACK with N attachments


def send_packets_whole(server) -> None:
    """Make ``server`` (a ``socketio.Server``) queue each packet's parts without interleaving."""
    send_packet, send_eio_packet = server._send_packet, server._send_eio_packet
    if getattr(send_packet, "_aladdin_whole", False):
        return
    lock = threading.RLock()
    owed = threading.local()  # attachments this thread still has to send under the lock

    def whole(eio_sid, pkt):
        with lock:
            return send_packet(eio_sid, pkt)

    def part(eio_sid, eio_pkt):
        pending = getattr(owed, "n", 0)
        if pending:
            try:
                return send_eio_packet(eio_sid, eio_pkt)
            except BaseException:
                owed.n = 0  # the sender stops here: the rest of this packet never comes
                lock.release()
                raise
            finally:
                if owed.n:
                    owed.n -= 1
                    if owed.n == 0:
                        lock.release()
        data = getattr(eio_pkt, "data", None)
        header = _BINARY_HEADER.match(data) if isinstance(data, str) else None
        if header is None or int(header.group(1)) == 0:
            with lock:
                return send_eio_packet(eio_sid, eio_pkt)
        lock.acquire()  # held until this packet's last attachment is queued
        try:
            send_eio_packet(eio_sid, eio_pkt)
        except BaseException:
            lock.release()
            raise
        owed.n = int(header.group(1))

    whole._aladdin_whole = True
    server._send_packet = whole
    server._send_eio_packet = part


def in_arrival_order(client) -> None:
    """Make ``client`` (a python-socketio ``Client``) decode received messages one by one, in the
    order they arrived: python-engineio's threaded client hands every message to a new thread
    (``Client._trigger_event(..., run_async=True)``), so a binary event's attachment can be
    decoded before its header ("invalid literal for int() with base 10: b'\\x01'") and the event
    is lost. The Python clients of the tests and benchmarks use it; their handlers only record."""
    trigger = client.eio._trigger_event
    if getattr(trigger, "_aladdin_in_order", False):
        return

    def in_order(event, *args, **kwargs):
        if event == "message":
            kwargs["run_async"] = False
        return trigger(event, *args, **kwargs)

    in_order._aladdin_in_order = True
    client.eio._trigger_event = in_order
