"""One WebSocket on the WSGI server's own socket: read by its request's thread, written by any.

Why not simple-websocket (which ``/socket.io`` uses): it reads every socket on a thread of its
own and hands each message to the request's thread, a thread switch per frame on the typing
path. Here the request's thread reads and handles the frames itself, in order, and a frame for
the connection leaves on the sending thread as far as the socket takes it at once (a send that
never waits); the rest waits in a backlog a writer thread drains. A client that does not read
never blocks a sender: senders relay typing to whole rooms, some under python-socketio's
per-server packet lock (``core.compat.socketio``), and one such wait once held every emit of the
process behind a client that had stopped reading. wsproto
(simple-websocket's own protocol engine) does the frames; the handshake is answered only
once the endpoint has accepted the connection, by this module itself (RFC 6455, section 4.2: a
header line to check and a digest to compute), not by wsproto's HTTP machinery, which cost a
tenth of a connection's server time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import socket
import struct
import threading
from typing import Iterator

from wsproto.connection import Connection as Frames, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from core.compat.engineio import Oversized

PING_EVERY = 25.0                       # seconds of silence before a ping; as long again unanswered: dead
MAX_BACKLOG_BYTES = 32 * 1024 * 1024    # a client this far behind is dropped, not buffered for


def raw_socket(environ: dict):
    """The client's socket from the WSGI server, and the server's kind (None: not a server whose
    socket we can take over)."""
    for key, mode in (("werkzeug.socket", "werkzeug"), ("gunicorn.socket", "gunicorn")):
        if environ.get(key) is not None:
            return environ[key], mode
    return None, None


GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's constant for Sec-WebSocket-Accept


def handshake_key(environ: dict) -> str | None:
    """The client's Sec-WebSocket-Key if the request is a WebSocket handshake we can answer."""
    tokens = {t.strip().lower() for t in environ.get("HTTP_CONNECTION", "").split(",")}
    key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "").strip()
    if (environ.get("REQUEST_METHOD") != "GET" or environ.get("HTTP_UPGRADE", "").lower() != "websocket"
            or "upgrade" not in tokens or environ.get("HTTP_SEC_WEBSOCKET_VERSION", "").strip() != "13"):
        return None
    try:
        return key if len(base64.b64decode(key, validate=True)) == 16 else None
    except (binascii.Error, ValueError):
        return None


class Connection:
    def __init__(self, sock):
        self.sock = sock
        self.ws = Frames(ConnectionType.SERVER)
        self.closed = False          # nothing more is read or written
        self._lock = threading.Condition()
        self._backlog: list[bytes] = []
        self._backlog_bytes = 0
        self._writing = False        # the writer thread is sending what it took from the backlog
        self._writer: threading.Thread | None = None
        self._early: list[bytes] | None = []  # frames written before the handshake is answered

    def accept(self, key: str) -> None:
        """Answer the handshake: no subprotocol, no extensions (keystroke-sized frames gain
        nothing from zlib). Frames written before it (the document's state, sent before the
        client asks: see the endpoint) leave with it, in one write."""
        digest = base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID).digest()).decode("ascii")
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Reads wake to ping, and a write stuck this long is a dead peer: timeouts the kernel keeps.
        # A Python socket timeout would poll before every recv and send, two system calls for
        # one (each a chance to lose the interpreter lock to another socket's thread).
        self.sock.settimeout(None)
        for option in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
            self.sock.setsockopt(socket.SOL_SOCKET, option, struct.pack("ll", int(PING_EVERY), 0))
        with self._lock:  # as any write: what the socket takes now, the rest on the writer thread
            early, self._early = self._early or [], None
            self._push(b"".join([b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + digest.encode("ascii")
                                 + b"\r\n\r\n", *early]))

    # --- reading ----------------------------------------------------------------------------

    def messages(self, limit: int) -> Iterator[tuple[int, bytes]]:
        """Each binary message as ``(first byte, message)`` until the connection ends; a message
        over ``limit`` bytes is not kept: an :class:`Oversized` stands in for it. Text messages are
        no part of the protocol and are skipped."""
        parts, size, first, pinged = [], 0, -1, False
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, BlockingIOError):  # SO_RCVTIMEO: silent for PING_EVERY
                if pinged or self.ws.state.name != "OPEN":  # silent since the ping, or never answered our close
                    return
                self._send(Ping(b"aladdin"))
                pinged = True
                continue
            except OSError:
                return
            if not data:
                return
            pinged = False
            try:
                self.ws.receive_data(data)
                events = list(self.ws.events())
            except RemoteProtocolError:
                return
            for event in events:
                if isinstance(event, Message):
                    if first < 0 and event.data:
                        first = event.data[0] if isinstance(event, BytesMessage) else -2
                    size += len(event.data)
                    if size <= limit:
                        parts.append(event.data)
                    if not event.message_finished:
                        continue
                    if not isinstance(event, TextMessage) and first >= 0:
                        yield first, (b"".join(parts) if size <= limit else Oversized(size))
                    parts, size, first = [], 0, -1
                elif isinstance(event, Ping):
                    self._send(event.response())
                elif isinstance(event, CloseConnection):
                    self._send(event.response())
                    return

    # --- writing ----------------------------------------------------------------------------

    def write(self, message: bytes) -> None:
        self._send(BytesMessage(message))

    def close(self, code: int, reason: str) -> None:
        """Send a close frame; the reader ends when the client answers (or a ping interval later)."""
        self._send(CloseConnection(code, reason[:120]))

    def finish(self) -> None:
        """The connection is over: the writer stops and the socket is shut."""
        with self._lock:
            self._abort()

    def _send(self, event) -> None:
        with self._lock:
            if self.closed:
                return
            try:
                out = self.ws.send(event)
            except LocalProtocolError:  # a close went out already: nothing follows it
                return
            if self._early is not None:  # the handshake is not answered yet: the frame follows it
                self._early.append(out)
                return
            self._push(out)

    def _push(self, out: bytes) -> None:
        """Under the lock: ``out`` to the socket, after whatever waits before it."""
        if not (self._backlog or self._writing):
            try:  # what the socket takes now, never a wait: senders may hold a room's emit
                sent = self.sock.send(out, socket.MSG_DONTWAIT)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._abort()
                return
            if sent == len(out):
                return
            out = out[sent:]  # the rest leaves on the writer thread, in order
        self._backlog.append(out)
        self._backlog_bytes += len(out)
        if self._backlog_bytes > MAX_BACKLOG_BYTES:
            self._abort()
            return
        if self._writer is None:
            self._writer = threading.Thread(target=self._drain, name="ywebsocket writer", daemon=True)
            self._writer.start()
        self._lock.notify_all()

    def _abort(self) -> None:
        """Under the lock: nothing more is read or written (the peer is gone or too slow, or the
        connection is over); the writer stops and the reader sees the socket shut."""
        self.closed = True
        self._backlog.clear()
        self._lock.notify_all()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _drain(self) -> None:
        while True:
            with self._lock:
                while not self._backlog and not self.closed:
                    self._lock.wait()
                if self.closed:
                    return
                out = b"".join(self._backlog)
                self._backlog.clear()
                self._backlog_bytes = 0
                self._writing = True
            try:
                self.sock.sendall(out)
            except OSError:
                with self._lock:
                    self._abort()
                return
            finally:
                with self._lock:
                    self._writing = False
