"""A packet for an idle websocket is written by the thread that sends it (python-engineio 4.x, threading).

Why: engine.io hands every outgoing packet to the socket's writer thread through a queue. A Yjs
keystroke relayed to the other editors therefore waited for each recipient's writer thread to
wake and take the GIL -- which the relaying handler held, busy storing the update it had just
relayed. ``bench.yjs`` measured the relay call to the frame leaving at 0.6 ms of a 3 ms
keystroke-to-peer. Here, when a socket's writer is idle (blocked on an empty queue) and the
socket can take the bytes now, the sending thread writes the frame itself; otherwise the packet
is queued as before, so a slow client still never blocks a sender.

Order is kept: a packet goes direct only when nothing is queued and the writer holds nothing it
dequeued; while one goes direct, later packets queue, and the writer's own send waits on the
websocket's send lock until the direct one is out. A packet sent directly counts for the writer's
wait as a queued one would: engine.io closes a websocket whose writer waited ``ping_interval +
ping_timeout`` for nothing (see ``DirectQueue.get``). Long-polling sockets never go direct (no
websocket is attached to their queue). No public hook: the queue and websocket classes are the
engine.io server's own (``server._async``), so one app's server never changes another's."""

from __future__ import annotations

import queue
import re
import select
import socket
import threading
import time

from wsproto.events import TextMessage

DIRECT_MAX_BYTES = 64 * 1024  # larger frames always go through the writer (they may block on the socket)
# An engine.io message (4) holding a Socket.IO binary event or ack (5, 6) with attachments to follow.
_BINARY_HEADER = re.compile(r"4[56]\d+-")


class DirectQueue(queue.Queue):
    """An engine.io socket's outgoing queue that sends directly when its writer is idle."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.websocket = None   # the socket's websocket once its writer runs on it (see ``attach``)
        self._idle = False      # the writer is blocked on this queue, holding nothing
        self._direct = False    # a sender is writing a packet itself right now
        self._sent_at: float | None = None  # when the last packet went direct (time.monotonic)

    def attach(self, websocket) -> None:
        with self.mutex:
            self.websocket = websocket

    def get(self, block=True, timeout=None):
        """As ``queue.Queue.get``; a timed wait also ends ``timeout`` after the last packet sent
        directly, not ``timeout`` after it began. engine.io's writer waits ``ping_interval +
        ping_timeout`` and closes the websocket when nothing came: a socket whose packets (the
        server's pings among them) all went direct was closed every 45 seconds."""
        if block:
            with self.mutex:
                self._idle = not self.queue
        try:
            if not block or timeout is None:
                return super().get(block, timeout)
            deadline = time.monotonic() + timeout
            while True:
                try:
                    return super().get(True, max(deadline - time.monotonic(), 0))
                except queue.Empty:
                    with self.mutex:
                        sent = self._sent_at
                    if sent is None or sent + timeout <= time.monotonic():
                        raise
                    deadline = sent + timeout
        finally:
            with self.mutex:
                self._idle = False

    def _get(self):
        self._idle = False  # under the mutex, as the packet leaves the queue: the writer holds it now
        return super()._get()

    def put(self, item, block=True, timeout=None):
        websocket = self._claim(item)
        if websocket is None:
            return super().put(item, block, timeout)
        try:
            data = item.encode()
            if len(data) > DIRECT_MAX_BYTES or not websocket.writable():
                return super().put(item, block, timeout)
            websocket.send(data)
            with self.mutex:
                self._sent_at = time.monotonic()
        except Exception:  # closed meanwhile: the writer finds out, and ends the socket, as before
            return super().put(item, block, timeout)
        finally:
            with self.mutex:
                self._direct = False

    def _claim(self, item):
        """The websocket to write ``item`` to now, or None to queue it."""
        if item is None:  # the writer's stop signal
            return None
        with self.mutex:
            if self.websocket is None or not self._idle or self.queue or self._direct:
                return None
            self._direct = True
            return self.websocket


def send_directly(eio_server) -> None:
    """Make ``eio_server`` (an ``engineio.Server`` in threading mode) write packets for idle
    websockets on the sender's thread (see the module docstring)."""
    base = eio_server._async["websocket"]
    if getattr(base, "_aladdin_direct", False):
        return

    class LockedWebSocket(base):
        """One frame at a time on the connection (the writer thread and direct senders share it);
        attaches itself to its socket's queue once the socket is upgraded and its writer runs."""

        _aladdin_direct = True

        def __call__(self, environ, start_response):
            self._send_lock = threading.Lock()
            self._attached = False
            return super().__call__(environ, start_response)

        def send(self, message):
            with self._send_lock:
                if isinstance(message, str) and _BINARY_HEADER.match(message):
                    return self._send_corked(message)
                return super().send(message)

        def _send_corked(self, header: str) -> None:
            """A binary event's header frame, held in the kernel (``MSG_MORE``) until its attachment
            follows: the two frames leave as one segment, one wake-up of the receiver instead of two
            (each loopback send cost about 0.1 ms). Linux lets corked data go after 200 ms at most."""
            ws = self.ws
            if not ws.connected:
                raise OSError("the websocket is closed")
            ws.sock.send(ws.ws.send(TextMessage(data=header)), socket.MSG_MORE)

        def wait(self):
            if not self._attached:
                eio_socket = getattr(self.app, "__self__", None)
                # Upgraded (and not upgrading): engine.io started the writer before this wait.
                if eio_socket is not None and eio_socket.upgraded and not eio_socket.upgrading:
                    self._attached = True
                    if isinstance(eio_socket.queue, DirectQueue):
                        eio_socket.queue.attach(self)
            return super().wait()

        def writable(self) -> bool:
            """Can the connection take a small frame now without blocking?"""
            sock = getattr(self.ws, "sock", None)
            if sock is None or not self.ws.connected:
                return False
            try:
                return bool(select.select([], [sock], [], 0)[1])
            except (OSError, ValueError):
                return False

    eio_server._async = {**eio_server._async, "websocket": LockedWebSocket, "queue": DirectQueue}
