"""core.compat.direct_send: a packet for an idle websocket leaves on the sender's thread, and
nothing is ever reordered, lost or sent twice, whoever sends it."""

from __future__ import annotations

import queue
import threading

from core.compat.direct_send import DIRECT_MAX_BYTES, DirectQueue


class Packet:
    def __init__(self, data):
        self.data = data

    def encode(self):
        return self.data


class Wire:
    """Stands in for engine.io's websocket wrapper: records who sent what, in order."""

    def __init__(self, writable=True):
        self.lock = threading.Lock()
        self.sent: list[tuple[str, object]] = []
        self.can_write = writable

    def send(self, data):
        with self.lock:
            self.sent.append((threading.current_thread().name, data))

    def writable(self):
        return self.can_write


def writer(q: DirectQueue, wire: Wire) -> threading.Thread:
    """engine.io's writer loop (``Socket.poll`` then one ``ws.send`` per packet)."""

    def run():
        while True:
            packets = [q.get(timeout=10)]
            while True:
                try:
                    packets.append(q.get(block=False))
                except queue.Empty:
                    break
            for packet in packets:
                if packet is None:
                    return
                wire.send(packet.encode())

    thread = threading.Thread(target=run, name="writer", daemon=True)
    thread.start()
    return thread


def wait_idle(q: DirectQueue) -> None:
    for _ in range(1000):
        with q.mutex:
            if q._idle:
                return
        threading.Event().wait(0.001)
    raise AssertionError("the writer never went idle")


def one_packet(wire: Wire, data: str) -> list:
    """Who sent ``data``, put on an idle writer's queue attached to ``wire``."""
    q = DirectQueue()
    q.attach(wire)
    thread = writer(q, wire)
    wait_idle(q)
    q.put(Packet(data))
    q.put(None)
    thread.join(5)
    return wire.sent


def test_an_idle_writers_packet_is_sent_by_the_senders_thread():
    assert one_packet(Wire(), "one") == [("MainThread", "one")]


def test_many_senders_at_once_lose_nothing_and_keep_each_senders_order():
    q, wire = DirectQueue(), Wire()
    q.attach(wire)
    thread = writer(q, wire)
    per_sender = 400

    def send(name):
        for i in range(per_sender):
            q.put(Packet(f"{name}:{i}"))

    senders = [threading.Thread(target=send, args=(f"s{n}",), name=f"s{n}") for n in range(4)]
    wait_idle(q)  # the first packet at least goes direct
    for s in senders:
        s.start()
    for s in senders:
        s.join(30)
    q.put(None)
    thread.join(10)
    received = [data for _, data in wire.sent]
    assert len(received) == len(set(received)) == 4 * per_sender
    for n in range(4):
        mine = [int(d.split(":")[1]) for d in received if d.startswith(f"s{n}:")]
        assert mine == list(range(per_sender))
    assert wire.sent[0][0].startswith("s")  # sent by its sender's own thread


def test_without_a_websocket_a_slow_socket_or_a_large_frame_the_writer_sends():
    # Not attached (long-polling, or before the upgrade).
    q, wire = DirectQueue(), Wire()
    thread = writer(q, wire)
    q.put(Packet("polling"))
    q.put(None)
    thread.join(5)
    assert wire.sent == [("writer", "polling")]
    # A connection that cannot take bytes now, and a frame over the direct limit.
    q, wire = DirectQueue(), Wire(writable=False)
    q.attach(wire)
    thread = writer(q, wire)
    wait_idle(q)
    q.put(Packet("slow"))
    wait_idle(q)
    wire.can_write = True
    big = "x" * (DIRECT_MAX_BYTES + 1)
    q.put(Packet(big))
    q.put(None)
    thread.join(5)
    assert wire.sent == [("writer", "slow"), ("writer", big)]


def test_a_send_that_fails_is_left_to_the_writer():
    class Broken(Wire):
        def send(self, data):
            if threading.current_thread().name != "writer":
                raise OSError("closed")
            super().send(data)

    assert one_packet(Broken(), "after a failure") == [("writer", "after a failure")]


def test_packets_sent_directly_keep_the_writer_waiting_as_queued_ones_would():
    """engine.io's writer waits ``ping_interval + ping_timeout`` for a packet and closes the
    websocket when none came. Packets that went direct (the server's pings among them) count:
    the wait ends that long after the last of them, not after it began."""
    q, wire = DirectQueue(), Wire()
    q.attach(wire)
    outcome = []

    def run():
        try:
            outcome.append(q.get(timeout=1.0))
        except queue.Empty:
            outcome.append("gave up")

    thread = threading.Thread(target=run, name="writer", daemon=True)
    thread.start()
    wait_idle(q)
    for i in range(50):  # 2.5 s of direct sends, each well within a second of the one before
        q.put(Packet(f"{i}"))
        threading.Event().wait(0.05)
    assert outcome == [], "the writer gave up while packets were going out"
    assert wire.sent == [("MainThread", f"{i}") for i in range(50)]
    thread.join(10)
    assert outcome == ["gave up"]  # nothing at all for the timeout: it gives up, as engine.io's does
