"""A real HTTP and Socket.IO server for a test's app, in a thread of the test process: what a
browser or a Socket.IO client needs (a handshake, a websocket) and Flask's test client cannot give."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Iterator

from ..serving import listen_or_exit


@contextlib.contextmanager
def served(app) -> Iterator[str]:
    """``app`` served on a free loopback port (as ``aladdin serve`` serves it); yields its base
    URL, and stops the server and joins its thread on the way out."""
    server = listen_or_exit(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(30)


UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def upgrade_answer(url: str, path: str) -> bytes:
    """The status line and headers a served app answers a WebSocket handshake for ``path`` with,
    read off a raw socket (what an HTTP client library would hide: frames may follow them), and
    the connection closed."""
    host, port = url.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
                     + "".join(f"{k}: {v}\r\n" for k, v in UPGRADE.items()).encode() + b"\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
    return answer.split(b"\r\n\r\n", 1)[0]
