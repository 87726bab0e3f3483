"""The built-in server's connections: what ``serve`` accepts writes small frames at once."""

from __future__ import annotations

import socket

from core.serving import listen_or_exit


def test_accepted_connections_have_nagle_off():
    """A Socket.IO event with bytes (every Yjs update) goes out as two websocket frames; with
    Nagle on, the attachment waited for the client's delayed ACK, ~45 ms per keystroke."""
    server = listen_or_exit(lambda environ, start_response: [], "127.0.0.1", 0)
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10):
            conn, _ = server.get_request()  # the connection exactly as the server accepts it
            with conn:
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        server.server_close()
