"""A real HTTP and Socket.IO server for a test's app, in a thread of the test process: what a
browser or a Socket.IO client needs (a handshake, a websocket) and Flask's test client cannot give."""

from __future__ import annotations

import contextlib
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
