"""The plain WebSocket's parts on their own: y-websocket's frame encodings, a connection that never
blocks a sender on a client that does not read, and Socket.IO packet locks held per socket (a
slow socket never holds up the others' packets)."""

from __future__ import annotations

import socket
import threading

from wsproto.connection import Connection as Frames, ConnectionType
from wsproto.events import BytesMessage

from plugins.realtime.ywebsocket import frames
from plugins.realtime.ywebsocket.connection import Connection, handshake_key

HANG = 60  # seconds: catches a hang, measures nothing


def test_frames_round_trip_lib0_encodings():
    for value in (0, 1, 127, 128, 300, 2**21 + 5):
        assert frames.read_var_uint(frames.var_uint(value)) == (value, len(frames.var_uint(value)))
    update = bytes(range(200))
    assert frames.awareness_update(frames.awareness_frame(update)) == update
    assert frames.permission_denied("too_large: é") == bytes([2, 0, 13]) + "too_large: é".encode()


def test_malformed_frames_are_refused_not_misread():
    for bad in (bytes([1]), bytes([1, 5, 1, 2]), bytes([1, 0x80])):
        try:
            frames.awareness_update(bad)
        except frames.Malformed:
            continue
        raise AssertionError(f"{bad!r} was read")


def test_only_a_version_13_upgrade_with_a_16_byte_key_is_a_handshake():
    good = {"REQUEST_METHOD": "GET", "HTTP_UPGRADE": "websocket", "HTTP_CONNECTION": "keep-alive, Upgrade",
            "HTTP_SEC_WEBSOCKET_VERSION": "13", "HTTP_SEC_WEBSOCKET_KEY": "dGhlIHNhbXBsZSBub25jZQ=="}
    assert handshake_key(good) == "dGhlIHNhbXBsZSBub25jZQ=="
    for change in ({"REQUEST_METHOD": "POST"}, {"HTTP_UPGRADE": "h2c"}, {"HTTP_CONNECTION": "keep-alive"},
                   {"HTTP_SEC_WEBSOCKET_VERSION": "8"}, {"HTTP_SEC_WEBSOCKET_KEY": "c2hvcnQ="},
                   {"HTTP_SEC_WEBSOCKET_KEY": "not base64!"}):
        assert handshake_key({**good, **change}) is None, change


def test_a_client_that_does_not_read_never_blocks_a_sender():
    listener = socket.create_server(("127.0.0.1", 0))
    client_side = socket.create_connection(listener.getsockname())
    server_side, _ = listener.accept()
    listener.close()
    connection = Connection(server_side)
    connection.write(b"\xff")  # before the handshake is answered: it waits, and leaves right after the 101
    connection.accept("dGhlIHNhbXBsZSBub25jZQ==")
    chunk = bytes(range(256)) * 200  # 50 KiB frames: the socket buffers fill after a few
    done = threading.Event()

    def send():
        for n in range(200):  # 10 MiB, far past what loopback TCP buffers
            connection.write(bytes([n]) + chunk)
        done.set()

    threading.Thread(target=send, daemon=True).start()
    assert done.wait(HANG), "a write waited for a client that is not reading"
    # Reading now, the client gets every frame whole and in order (the rest left on the writer).
    client = Frames(ConnectionType.CLIENT)
    received, parts = [], []
    client_side.settimeout(HANG)
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += client_side.recv(1 << 20)
    head, rest = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101 ") and b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
    client.receive_data(rest)
    while True:
        for event in client.events():
            assert isinstance(event, BytesMessage)
            parts.append(event.data)
            if event.message_finished:
                received.append(b"".join(parts))
                parts = []
        if len(received) == 201:
            break
        client.receive_data(client_side.recv(1 << 20))
    assert received[0] == b"\xff"  # the frame written before the handshake came first
    received = received[1:]
    assert [m[0] for m in received] == list(range(200)) and all(m[1:] == chunk for m in received)
    connection.finish()
    client_side.close()


def test_a_socket_whose_packet_is_stuck_does_not_hold_up_another_sockets_packets():
    import socketio

    from core.compat.socketio import send_packets_whole

    server = socketio.Server(async_mode="threading")
    release, stuck = threading.Event(), threading.Event()
    sent: list = []

    class Queues:
        sockets: dict = {}
        ids = iter(range(1000))

        def generate_id(self):
            return f"sid-{next(self.ids)}"

        def send_packet(self, eio_sid, eio_pkt):
            if eio_sid == "slow":
                stuck.set()
                release.wait(HANG)
            sent.append((eio_sid, eio_pkt.data))

    server.eio = Queues()
    send_packets_whole(server)
    server.manager.connect("slow", "/collab")
    fast = server.manager.connect("fast", "/collab")
    slow = server.manager.sid_from_eio_sid("slow", "/collab")
    threading.Thread(target=lambda: server.manager.emit("yjs", {"message": b"1"}, namespace="/collab", to=slow),
                     daemon=True).start()
    assert stuck.wait(HANG)
    done = threading.Event()
    threading.Thread(target=lambda: (server.manager.emit("yjs", {"message": b"2"}, namespace="/collab", to=fast),
                                     done.set()), daemon=True).start()
    assert done.wait(HANG), "the fast socket's packet waited for the slow socket's"
    assert [sid for sid, _ in sent] == ["fast", "fast"]  # its header and its attachment
    release.set()
