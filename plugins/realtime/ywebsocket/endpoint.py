"""``/collab/yjs/<projectId>/<collection>/<documentId>``: one Yjs document over a plain WebSocket.

Why: a stock Yjs client -- y-websocket's ``WebsocketProvider``, which most editor bindings use --
edits an Aladdin document with nothing of ours, and a keystroke is one WebSocket message each
way. Over Socket.IO it is two (a header and a binary attachment) plus the Socket.IO and
Engine.IO layers on both sides: ``bench.yjs`` measured that transport alone at about 1.6 times
Hocuspocus's keystroke-to-peer time, whatever the server did.

The connection is a socket of the ``/collab`` namespace to the rest of the plugin: it connects
with the namespace's handshake (the token, re-checked on every frame), joins the document's
project, opens the document with its sync step 1, and its sync and awareness frames are the
namespace's ``yjs`` and ``awareness`` events -- the same authorization, storage, relaying and
refusals, by the same code. What the namespace sends it goes out through :class:`.wire.Wire`.
Refusals the handshake meets answer over HTTP (401, 403, 404); later, a refused frame is answered
with y-protocols' auth message ``permission-denied`` (reason ``too_large: ...``,
``forbidden: ...``, ``out_of_sync: ...``), and losing the document (deleted, hidden by a rule or a
role change, the member removed) closes the connection with 4404, a revoked token with 4401."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import parse_qs

from flask import Blueprint, Response, current_app, request
from socketio.exceptions import ConnectionRefusedError

from core.authz.scope import actor_scope
from core.compat.engineio import MAX_MESSAGE_BYTES, Oversized
from core.errors import AladdinError, AuthenticationFailed, Forbidden, NotFound

from ..awareness import echoed
from ..emitter import NAMESPACE
from ..validation import InvalidMessage
from . import frames
from .connection import Connection, handshake_key, raw_socket
from .wire import NOT_FOUND, RESYNC, UNAUTHENTICATED, Wire

log = logging.getLogger("aladdin.realtime")
PATH = "/collab/yjs/<project_id>/<collection>/<document_id>"


def blueprint() -> Blueprint:
    bp = Blueprint("ywebsocket", __name__)
    bp.add_url_rule(PATH, "document", serve, websocket=True)
    return bp


class Finished(Response):
    """The exchange became a WebSocket, now closed: the WSGI server must write nothing more.
    Werkzeug drops a connection whose application raises ``ConnectionError`` without a word,
    and Gunicorn one whose application raises ``StopIteration`` (as engine.io's transport ends)."""

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def __call__(self, environ, start_response):
        if self.mode == "gunicorn":
            raise StopIteration()
        raise ConnectionError("the WebSocket is closed")


def token_of(environ: dict) -> str | None:
    header = environ.get("HTTP_AUTHORIZATION", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return (parse_qs(environ.get("QUERY_STRING", "")).get("token") or [None])[0] or None


def serve(project_id: str, collection: str, document_id: str):
    """The route's view (see :mod:`.ahead` for the way most handshakes take)."""
    return open_and_serve(current_app._get_current_object(), request.environ, project_id, collection, document_id)


def open_and_serve(app, environ: dict, project_id: str, collection: str, document_id: str) -> "Finished":
    """The handshake answered and the connection served until it ends, in an app context; raises
    the HTTP refusal (an AladdinError) before the upgrade."""
    rt = app.extensions.get("realtime")
    sock, mode = raw_socket(environ)
    if rt is None or sock is None:
        raise AladdinError("this server cannot hand a request's socket to a WebSocket; use /collab "
                           "(Socket.IO) or serve with `aladdin serve` or Gunicorn", status=501)
    if not app.extensions["aladdin"].cors.socket_allows(environ.get("HTTP_ORIGIN"), environ):
        raise Forbidden("this origin may not connect")
    key = handshake_key(environ)
    if key is None:
        raise AladdinError("not a WebSocket handshake (RFC 6455, version 13)", status=400)
    connection = Connection(sock)
    link = Link(rt, environ, connection, {"projectId": project_id, "collection": collection,
                                          "documentId": document_id})
    try:
        opened = link.handshake(token_of(environ))
    except BaseException:  # refused: answered over HTTP (the socket is still the server's)
        link.close()
        raise
    connection.accept(key)
    try:
        link.answer(opened)  # a document the user may not view: a final close, not an HTTP error
        if opened.get("ok"):
            link.join_presence()
        link.serve()
    finally:
        # The socket is shut first: a client's close completes before the departure's bookkeeping
        # (round trips to Redis), not in the middle of its next connection's handshake (a reload).
        connection.finish()
        link.close()
    return Finished(mode)


class Link:
    """One plain-WebSocket connection as a ``/collab`` socket (see the module's docstring)."""

    def __init__(self, rt, environ: dict, connection: Connection, ref: dict):
        self.rt, self.environ, self.connection, self.ref = rt, environ, connection, ref
        self.server = rt.socketio.server
        self.eio_sid = f"ywebsocket-{uuid.uuid4().hex}"
        self.wire = Wire(self.eio_sid, ref["documentId"], self.server.packet_class, connection.write,
                         connection.close)
        self.sid: str | None = None
        self.session = None
        self.synced = False    # the document's state went out with the 101: the client's first step 1 is answered
        self.present = False   # the socket's presence in the project is joined

    def handshake(self, token: str | None) -> dict:
        """Connect, join and open the document (:meth:`open`, :meth:`open_document`) as one unit of
        work, as a REST request is: the token checked once and the user's role resolved once
        (``bench.yjs``, connect to synced). Returns the document's opening ack."""
        with actor_scope():
            try:
                self.open(token)
                return self.open_document()
            finally:
                if self.session is not None:
                    self.session.handshake = False

    def open(self, token: str | None) -> None:
        """Connect and join as ``/collab`` would (the namespace's own ``admit`` and ``enter``), or
        raise the HTTP refusal. No Socket.IO packet is built: python-socketio only registers the
        socket (its rooms), and keeps the environ it reads when it disconnects a socket itself."""
        if token is None:
            raise AuthenticationFailed("authentication required: ?token=... or Authorization: Bearer ...")
        server, collab = self.server, self.server.namespace_handlers[NAMESPACE]
        server.eio.sockets[self.eio_sid] = self.wire
        server._handle_eio_connect(self.eio_sid, self.environ)
        self.sid = server.manager.connect(self.eio_sid, NAMESPACE)
        try:
            self.session = session = collab.admit(self.sid, token, self.environ.get("REMOTE_ADDR"))
        except ConnectionRefusedError as exc:
            raise AuthenticationFailed(str(exc.error_args.get("message") or "connection refused"))
        session.handshake = True
        try:  # presence once synced: the handshake waits for nothing it does not need
            project = collab.enter(session, {"projectId": self.ref["projectId"]}, presence=False)[0]
        except InvalidMessage:
            raise NotFound("project not found")
        self.ref["projectId"] = str(project.id)  # the id, if the URL named the project by its slug
        self.key = (self.ref["projectId"], self.ref["collection"], self.ref["documentId"])
        session.closing = self.document_closed
        self.rt.plain[self.sid] = self.wire  # what is sent to this socket alone skips Socket.IO's encoding

    def event(self, name: str, data: dict) -> dict:
        """Run one ``/collab`` event for this socket, in this thread; its ack."""
        ack = self.server._trigger_event(name, NAMESPACE, self.sid, data)
        return ack if isinstance(ack, dict) else {"error": "internal", "message": "no answer"}

    def open_document(self) -> dict:
        """Open the document before the handshake is answered, as a client's sync step 1 from an
        empty Y.Doc would: the answer -- the document's state (sync step 2) -- leaves with the 101,
        and the client is synced without a round trip of its own (``bench.yjs``, connect to
        synced); the server's step 1 follows the client's first frame (``Session.held``). Its own
        step 1, which follows, asks for what it has been sent already: it is not answered again
        (updates since reach it as to any socket of the document). The ack: a refusal is answered
        once the connection is open (:meth:`answer`); a failure (say, Redis away) leaves the
        client's step 1 to open it."""
        ack = self.event("yjs", {**self.ref, "message": frames.STEP1_OF_NOTHING})
        self.synced = bool(ack.get("ok"))
        return ack if ack.get("error") in ("not_found", "unauthenticated") else {"ok": self.synced}

    def serve(self) -> None:
        """Each frame of the client, in order, until the connection ends. Updates of no changes
        (a stock client's answer to the server's step 1 when it has nothing the server lacks)
        change nothing anywhere and are not events."""
        for kind, message in self.connection.messages(MAX_MESSAGE_BYTES):
            if self.session.held:
                self.release_held()
            if kind == frames.SYNC:
                if message in frames.NOTHING:
                    continue
                if self.synced and message[1:2] == bytes([frames.STEP1]):
                    self.synced = False  # only the first: a later one (y-websocket's resync) is answered
                    continue
                self.answer(self.event("yjs", {**self.ref, "message": message}))
                if not self.present:
                    self.join_presence()
            elif kind == frames.AWARENESS:
                try:
                    update = message if isinstance(message, Oversized) else frames.awareness_update(message)
                except frames.Malformed as exc:
                    self.answer({"error": "invalid", "message": str(exc)})
                    continue
                if self.echo(update):
                    continue
                ack = self.event("awareness", {**self.ref, "message": update})
                if ack.get("ok"):  # back to the sender too, as y-websocket's server does: stock
                    self.connection.write(message)  # clients reconnect after 30 s without a message
                self.answer(ack)
            elif kind == frames.QUERY_AWARENESS:
                self.rt.answer_awareness(self.key, self.sid)
                self.rt.ask_awareness(self.key, self.sid)

    def release_held(self) -> None:
        """What the handshake held (``Session.held``: the server's sync step 1, the peers'
        awareness states), now that the client has read the 101 and the document's state: its
        first frame, the sync step 1 a stock provider sends as it opens, was sent after it read them."""
        held, self.session.held = self.session.held, []
        if self.rt.sessions.get(self.sid) is not self.session or self.key not in self.session.docs:
            return  # the document closed for it meanwhile (hidden, deleted, access lost): nothing of it goes
        for step in held:
            try:
                step()
            except Exception:  # states come with the next changes, a resync asks again; the document stays open
                log.exception("could not send what the handshake held to socket %s", self.sid)

    def echo(self, update) -> bool:
        """Is this awareness frame the client sending back what it received (stock y-websocket
        providers send back every change)? It changes nothing and goes nowhere: left out before
        the event, which would decide as much after a credentials check, the document's grant
        and a claim per entry (with two stock clients, three of a reconnect's five awareness
        frames are echoes: ``bench.yjs``, connect to synced)."""
        state = self.rt.hub.docs.get(self.key) if not isinstance(update, Oversized) else None
        if state is None or self.sid not in state.sids:
            return False
        with state.lock:
            return echoed(state.awareness, state.awareness_clients.get(self.sid, set()), update)

    def join_presence(self) -> None:
        """The socket's presence in the project, joined once the document is open for it."""
        self.present = True
        session = self.rt.sessions.get(self.sid)
        if session is not None and self.ref["projectId"] in session.projects:
            try:
                self.rt.join_presence(session, self.ref["projectId"])
            except Exception:  # Redis is away: presence waits for the next activity, the edit stands
                log.warning("could not join the presence of %s", self.ref["projectId"], exc_info=True)

    def answer(self, ack: dict) -> None:
        """A refused frame: the document gone for the socket closes the connection; any other
        refusal is y-protocols' ``permission-denied`` with the code and message. One that leaves
        the client's Y.Doc ahead of every other copy (``too_large``, ``out_of_sync``: ``resync``
        in the ack) then closes with RESYNC -- its later updates could never apply anywhere, and
        y-websocket does not reconnect on 44xx (it would send the refused update again): the
        application syncs a fresh Y.Doc. A viewer's refused edit leaves it watching."""
        code = ack.get("error")
        if code is None:
            return
        reason = f"{code}: {ack.get('message')}"
        if code in ("not_found", "unauthenticated"):
            self.connection.close(NOT_FOUND if code == "not_found" else UNAUTHENTICATED, reason)
            return
        self.connection.write(frames.permission_denied(reason))
        if ack.get("resync") and code != "forbidden":
            self.connection.close(RESYNC, reason)

    def document_closed(self, key: tuple) -> None:
        """The realtime plugin closed the document for this socket (``Realtime.close_doc``): hidden
        by a rule or a role change, deleted, or the member removed. When the socket is being
        disconnected (its credentials revoked) the ``access_revoked`` that follows says so."""
        session = self.rt.sessions.get(self.sid)
        if key[2] == self.ref["documentId"] and session is not None and key[0] in session.projects:
            self.connection.close(NOT_FOUND, "not_found: document not found")

    def close(self) -> None:
        """The socket leaves ``/collab`` as a disconnected one does (rooms, presence, its document)."""
        self.wire.closed = True
        server, sid = self.server, self.sid
        if sid is not None and server.manager.is_connected(sid, NAMESPACE):
            try:
                self.rt.disconnect(sid)  # what the namespace's disconnect handler does
            finally:
                server.manager.pre_disconnect(sid, NAMESPACE)
                server.manager.disconnect(sid, NAMESPACE, ignore_queue=True)
        # Known as a plain socket to the end: what reaches it meanwhile (its own departure's
        # awareness removal, typing relayed to the document) is dropped by its closed connection,
        # not encoded as a Socket.IO packet to be decoded again by its Wire.
        self.rt.plain.pop(sid, None)
        server.environ.pop(self.eio_sid, None)
        server.eio.sockets.pop(self.eio_sid, None)
