"""One Socket.IO packet at a time per socket: python-socketio's ``Server._send_packet`` and
``Server._send_eio_packet`` (5.x).

Why: an event carrying bytes (a Yjs frame) is one Socket.IO packet sent as several Engine.IO
packets (a header, then each attachment), queued by separate calls. The realtime plugin emits
from request threads, the bus listener and the Redis manager's thread at once, so another emit
to the same socket could land between a header and its attachment: the client then reads an
attachment as a packet ("invalid literal for int() with base 10: b'\\x01'"), drops the event
and may stall its sync (seen under load). Two paths send the parts: ``_send_packet`` (acks and
callbacks) loops over them itself, and the manager's room emit encodes once and calls
``_send_eio_packet`` part by part. No public hook wraps either, so a lock per socket is held
for a whole packet on both: around ``_send_packet``, and on the second path from a binary
header until its last attachment (the header says how many follow).

Per socket, not per server: with one lock for the whole server, every thread relaying to any
room waited for every other, and each hand-over of the lock waited for the GIL (up to Python's
5 ms switch interval while the releasing thread ran on). Under a burst of connections (the plain
WebSocket's ``bench.yjs`` connects) request threads piled up by the hundred behind it, their
sockets' departures waiting too, so each room grew and each emit took longer still."""

from __future__ import annotations

import re
import threading

_BINARY_HEADER = re.compile(r"[56](\d+)-")  # BINARY_EVENT / BINARY_ACK with N attachments


def send_packets_whole(server) -> None:
    """Make ``server`` (a ``socketio.Server``) queue each packet's parts without interleaving."""
    send_packet, send_eio_packet = server._send_packet, server._send_eio_packet
    if getattr(send_packet, "_aladdin_whole", False):
        return
    locks: dict = {}                # eio_sid -> the lock of that socket's packets
    guard = threading.Lock()
    owed = threading.local()  # the lock and the attachments this thread still has to send under it

    def lock_for(eio_sid) -> threading.RLock:
        lock = locks.get(eio_sid)
        if lock is None:
            with guard:
                alive = getattr(server.eio, "sockets", {})
                if len(locks) > 2 * len(alive) + 64:  # forget the sockets that are gone
                    for gone in [sid for sid in locks if sid not in alive]:
                        del locks[gone]
                lock = locks.setdefault(eio_sid, threading.RLock())
        return lock

    def whole(eio_sid, pkt):
        with lock_for(eio_sid):
            return send_packet(eio_sid, pkt)

    def part(eio_sid, eio_pkt):
        pending = getattr(owed, "n", 0)
        if pending:
            held = owed.lock
            try:
                return send_eio_packet(eio_sid, eio_pkt)
            except BaseException:
                owed.n = 0  # the sender stops here: the rest of this packet never comes
                held.release()
                raise
            finally:
                if owed.n:
                    owed.n -= 1
                    if owed.n == 0:
                        held.release()
        data = getattr(eio_pkt, "data", None)
        header = _BINARY_HEADER.match(data) if isinstance(data, str) else None
        lock = lock_for(eio_sid)
        if header is None or int(header.group(1)) == 0:
            with lock:
                return send_eio_packet(eio_sid, eio_pkt)
        lock.acquire()  # held until this packet's last attachment is queued
        try:
            send_eio_packet(eio_sid, eio_pkt)
        except BaseException:
            lock.release()
            raise
        owed.lock, owed.n = lock, int(header.group(1))

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
