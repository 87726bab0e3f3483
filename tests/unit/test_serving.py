"""The built-in server's connections: what ``serve`` accepts writes small frames at once, and its
threads serve one connection after another."""

from __future__ import annotations

import socket
import threading

import requests

from core.serving import listen_or_exit
from tests.waiting import wait_for


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


def test_a_connections_thread_serves_the_next_one_and_ends_with_the_server():
    """A thread that finished its connection waits for the next one (starting a thread was a tenth
    of a page's connect to synced: ``bench.yjs``), and closing the server ends it."""
    threads: list = []

    def app(environ, start_response):
        threads.append(threading.current_thread())
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    server = listen_or_exit(app, "127.0.0.1", 0)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        url = f"http://127.0.0.1:{server.port}/"
        assert requests.get(url, headers={"Connection": "close"}, timeout=10).text == "ok"
        wait_for(lambda: server._idle, message="the thread to wait for the next connection")
        assert requests.get(url, headers={"Connection": "close"}, timeout=10).text == "ok"
        assert threads[0] is threads[1]
    finally:
        server.shutdown()
        server.server_close()
        serving.join(10)
    threads[0].join(10)
    assert not threads[0].is_alive()
