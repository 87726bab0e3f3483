"""The ``/collab`` namespace: one :class:`Collab` method per client event (``on_<event>``).

Every event is checked against the sender's credentials as they are now (its token still
authenticates its user), validated, and re-authorized against the sender's current role; what a
client may not do is answered with an error ack (``{"error", "message"}``), never a crash."""

from __future__ import annotations

import functools
import logging
from typing import Any

from flask import current_app, has_app_context, request
from flask_socketio import Namespace
from pycrdt import YSyncMessageType
from socketio.exceptions import ConnectionRefusedError

from core.authz.scope import actor_scope
from core.content import serialize
from core.errors import AladdinError, AuthenticationFailed, Conflict, Forbidden, NotFound
from core.projects import cached_project_document, shared_project_document

from .. import credentials, pointers
from .. import validation as v
from .. import ycommit
from ..announce import socket_write
from ..emitter import NAMESPACE, announce_content, project_room
from ..service import Realtime
from ..session import Session, now_ms
from .targets import EDIT, Refused, Targets

log = logging.getLogger("aladdin.realtime")


def error(code: str, message: str, **extra: Any) -> dict:
    return {"error": code, "message": message, **extra}


# A refused Yjs update leaves the sender's document ahead of every other copy: its later
# updates build on it and could never apply anywhere. These refusals tell it to resync (see the
# README's "Refused updates": drop the local document, sync a fresh one).
RESYNC = ("too_large", "forbidden", "out_of_sync")


def guarded(method=None, *, resync: tuple[str, ...] = ()):
    """An event method's frame: find the session, re-check its credentials, validate the
    payload, resolve the role once, and translate refusals to error acks (with ``resync: true``
    for the codes in ``resync``). The method gets ``(session, payload)``."""
    if method is None:
        return functools.partial(guarded, resync=resync)

    def refuse(code: str, message: str, **extra: Any) -> dict:
        return error(code, message, **extra, **({"resync": True} if code in resync else {}))

    @functools.wraps(method)
    def handler(self: "Collab", sid: str, data=None, *_ignored):
        rt = self.rt
        session = rt.sessions.get(sid)
        if session is None:
            return error("unauthenticated", "connection is not authenticated")
        if not session.handshake and credentials.current_user(self.app, session) is None:
            # Revoked since connect (the bus drops such sockets too; this closes the window
            # before its message arrives): nothing this socket sends is accepted any more.
            credentials.drop(rt, session, delay=0.2)
            return error("unauthenticated", credentials.REVOKED_MESSAGE)
        try:
            # The sender's role is resolved once for the whole event (for the whole handshake).
            with actor_scope(join=session.handshake):
                return method(self, session, v.check_payload(data))
        except v.InvalidMessage as exc:
            return refuse(exc.code, exc.message)
        except Refused as exc:
            return refuse(exc.code, exc.message, **exc.extra)
        except Conflict as exc:
            return refuse("conflict", exc.message, **exc.extra)
        except NotFound as exc:
            return refuse("not_found", exc.message)
        except (Forbidden, PermissionError) as exc:
            return refuse("forbidden", getattr(exc, "message", None) or str(exc))
        except AladdinError as exc:
            return refuse("invalid", exc.message, **exc.extra)

    return handler


class Collab(Targets, Namespace):
    """The ``/collab`` namespace of one app. Flask-SocketIO calls ``on_<event>`` for each event
    with the sender's sid (see ``trigger_event``); an event with no method is answered
    ``unknown_event``. Helpers have no ``on_`` prefix, so a client can never call them."""

    def __init__(self, app, rt: Realtime):
        super().__init__(NAMESPACE)
        self.app, self.rt = app, rt
        self.ext = app.extensions["aladdin"]
        self.authz = self.ext.authz
        rt.grants.decide = self.grant

    def trigger_event(self, event, *args):
        """Connecting and disconnecting run in Flask-SocketIO's request context (the handshake's
        address and headers). Every other event runs in an app context only: it is called with the
        sender's sid and reads nothing of the handshake request, and Flask-SocketIO's per-event
        request context (a Flask session opened, URL adapters built) was a third of a keystroke's
        time to the other editors (``bench.yjs``). An event the server runs for a socket within
        this app's context already (a plain WebSocket's) runs in it."""
        if event in ("connect", "disconnect"):
            return super().trigger_event(event, *args)
        method = getattr(self, f"on_{event}", None)
        if method is None:
            return error("unknown_event", f"unknown event {str(event)[:64]!r}")
        try:
            if has_app_context() and current_app._get_current_object() is self.app:
                return method(*args)
            with self.app.app_context():
                return method(*args)
        except Exception as exc:
            return self.error(exc)

    def error(self, exc: Exception) -> dict:
        """Any other failure of an event: logged, answered ``internal``; the socket stays. A
        refused connection is not a failure: python-socketio answers it with ``connect_error``."""
        if isinstance(exc, ConnectionRefusedError):
            raise exc
        log.error("realtime handler failed: %s", exc, exc_info=exc)
        return error("internal", "internal error; the server log has the details")

    # --- connection -------------------------------------------------------------------------

    def on_connect(self, auth=None):
        token = v.auth_token(auth)
        if token is None:
            raise ConnectionRefusedError("authentication required: connect with auth={'token': ...}")
        self.admit(request.sid, token, request.remote_addr)
        return True

    def admit(self, sid: str, token: str, remote_addr: str | None) -> Session:
        """The session of socket ``sid``, whose handshake carried ``token`` (every transport's
        connect: Socket.IO's and the plain WebSocket's); ConnectionRefusedError if it does not
        authenticate."""
        try:
            user = self.ext.pm.hook.aladdin_authenticate(
                app=self.app, request=credentials.HandshakeRequest(token, remote_addr))
        except AuthenticationFailed as exc:
            raise ConnectionRefusedError(exc.message)
        if user is None:
            raise ConnectionRefusedError("invalid or revoked API token")
        self.rt.ensure_started()
        # The token stays with the session: every event re-checks it (see ``guarded``).
        session = Session(sid=sid, user=user, user_id=str(user.id), user_name=user.name or user.email,
                          token=token, remote_addr=remote_addr)
        self.rt.sessions[sid] = session
        return session

    def on_disconnect(self, *_args):
        self.rt.disconnect(request.sid)

    # --- rooms and presence -----------------------------------------------------------------

    @guarded
    def on_join(self, session: Session, data: dict):
        try:
            project, role, you, listed = self.enter(session, data)
        except NotFound:
            return error("not_found", "project not found")
        you, *users = pointers.visible_to(self.ext, session.user, project, [you, *listed])
        return {"ok": True, "projectId": str(project.id), "role": role, "you": you, "users": users}

    def enter(self, session: Session, data: dict, *, presence: bool = True) -> tuple:
        """Join the project ``data`` names (NotFound unless the user may view it): its room and,
        with ``presence``, its presence (else the caller joins it later: ``Realtime.join_presence``).
        Returns the project, the role, the socket's presence record and the list."""
        try:
            # From the near cache: each connection joins, and the lookup was half a join's time.
            # The session only reads it (what writes takes its own: see ``own_project``).
            project = shared_project_document(v.project_ref(data))
            role = self.authz.authorize(session.user, "project:view", project)
        except (NotFound, Forbidden):
            raise NotFound("project not found")
        pid = str(project.id)
        session.projects[pid] = project
        self.rt.enter(session.sid, project_room(pid))
        you, listed = self.rt.join_presence(session, pid) if presence else (None, [])
        return project, role, you, listed

    @guarded
    def on_leave(self, session: Session, data: dict):
        project = self.joined_project(session, data)
        self.rt.leave_project(session, str(project.id))
        return {"ok": True}

    @guarded
    def on_presence(self, session: Session, data: dict):
        rt = self.rt
        project = self.joined_project(session, data)
        pid = str(project.id)
        status = v.status(data)
        if status is not None:
            record = rt.presence.touch(pid, session.user_id, status=status)
            if record is None:
                rt.join_presence(session, pid)
                record = rt.presence.touch(pid, session.user_id, status=status)
            if record is not None:
                pointers.announce_presence(rt, pid, "presence", rt.presence.public(record), skip_sid=session.sid)
        return {"ok": True, "users": pointers.visible_to(self.ext, session.user, project, rt.presence.list(pid))}

    @guarded
    def on_cursor_move(self, session: Session, data: dict):
        project, collection, document = self.pointed(session, data)
        pid, position = str(project.id), v.position(data)
        payload = stamp(session, pid, documentId=str(document["_id"]), position=position, collection=collection)

        def send():
            announce_content(self.app, pid, collection, document, payload, skip_sid=session.sid, event="cursor_move")
            # The presence record keeps the last cursor that went out (joiners who may view the
            # document see it).
            self.rt.activity(session, pid, force=True, cursor=pointers.cursor_of(collection, document, position))

        self.rt.cursors.submit((session.sid, payload["documentId"]), send)
        return {"ok": True}

    @guarded
    def on_typing_start(self, session: Session, data: dict):
        return self.typing("typing_start", session, data)

    @guarded
    def on_typing_stop(self, session: Session, data: dict):
        return self.typing("typing_stop", session, data)

    def typing(self, event: str, session: Session, data: dict) -> dict:
        project, collection, document = self.pointed(session, data)
        pid = str(project.id)
        announce_content(self.app, pid, collection, document,
                         stamp(session, pid, documentId=str(document["_id"]), collection=collection),
                         skip_sid=session.sid, event=event)
        self.rt.activity(session, pid)
        return {"ok": True}

    # --- versioned edits --------------------------------------------------------------------

    @guarded
    def on_content_change(self, session: Session, data: dict):
        project = self.joined_project(session, data)
        pid = str(project.id)
        collection, document_id = v.collection_name(data), v.document_id(data)
        patch, base = v.patch(data), v.base_version(data)
        with socket_write():  # the service loads the document the sender may view and authorizes the edit
            document = self.ext.content.update(own_project(project), collection, document_id, patch, session.user,
                                               base)
        # Only to the room's sockets whose user may view the changed document, never the sender.
        announce_content(self.app, pid, collection, document,
                         stamp(session, pid, collection=collection, documentId=document_id,
                               action="updated", patch=patch, version=document["version"]),
                         skip_sid=session.sid)
        self.rt.activity(session, pid)
        return {"ok": True, "version": document["version"], "document": serialize(document)}

    # --- Yjs --------------------------------------------------------------------------------

    @guarded(resync=RESYNC)
    def on_yjs(self, session: Session, data: dict):
        rt = self.rt
        message = v.binary(data)
        later: list = []  # the peers' awareness states, once the sync step 1 is answered
        project, key, state, grant = self.open_doc(session, data, later)
        pid, collection, document_id = key
        # This process's other sockets get it as soon as it is applied (before the store);
        # other processes get it over the bus (hub.handle) and pass it to theirs.
        try:
            frames, update = rt.hub.handle(
                state, message, user_id=session.user_id, can_edit=grant == EDIT,
                relay=lambda applied: rt.send_frames(state, [sid for sid in list(state.sids) if sid != session.sid],
                                                     applied))
            ref = {"projectId": pid, "collection": collection, "documentId": document_id}
            for index, frame in enumerate(frames):
                if index and session.handshake:  # the server's step 1 too (``Session.held``)
                    later.append(lambda frame=frame: rt.emit("yjs", {**ref, "message": frame}, to=session.sid))
                else:
                    rt.emit("yjs", {**ref, "message": frame}, to=session.sid)
        finally:  # open now, whatever became of the frame
            if session.handshake:  # once the client has read the answer (``Session.held``)
                session.held.extend(later)
            else:
                for step in later:
                    step()
        if update is not None:
            if message[1] == YSyncMessageType.SYNC_UPDATE:  # its own edits: their client ids are its own
                rt.hub.claim_update(state, session.sid, session.user_id, update)
            rt.activity(session, pid)
        if message[1] == YSyncMessageType.SYNC_STEP1:
            # The stored version this copy includes: a client's ``baseVersion`` for yjs_commit.
            return {"ok": True, "version": state.head_version}
        return {"ok": True}

    @guarded
    def on_awareness(self, session: Session, data: dict):
        """Only entries for the socket's own Yjs client ids go on, with the server's identity;
        the ack lists the client ids dropped because another user's socket holds them."""
        message = v.binary(data)
        project, key, state, _grant = self.open_doc(session, data)
        accepted, dropped = self.rt.hub.awareness(state, session.sid, message, user_id=session.user_id,
                                                  user_name=session.user_name)
        if accepted is not None:  # the other processes' sockets get it from the bus
            self.rt.relay_awareness(key, accepted, skip_sid=session.sid)
        return {"ok": True, "dropped": dropped} if dropped else {"ok": True}

    @guarded
    def on_yjs_commit(self, session: Session, data: dict):
        """Write the Y.Map "content" through the versioned write path (:mod:`..ycommit`): never
        from a copy behind storage, never reverting a write it did not see. A commit that would
        change nothing stores nothing."""
        app, ext, rt = self.app, self.ext, self.rt
        base = v.base_version(data)
        project, key, state, _grant = self.open_doc(session, data)
        pid, collection, document_id = key
        # Refused (hidden, or not editable) before anything below: a viewer's commit is
        # forbidden, not a version conflict. ``update`` checks again under the lock.
        ext.content.writable(project, collection, document_id, session.user, "update")
        document, patch = ycommit.commit(rt, own_project(project), key, state, session.user, base)
        if patch is None:
            return {"ok": True, "version": document["version"], "document": serialize(document),
                    "unchanged": True}
        announce_content(app, pid, collection, document,
                         stamp(session, pid, collection=collection, documentId=document_id,
                               action="updated", patch=patch, version=document["version"], source="yjs"),
                         skip_sid=session.sid)
        return {"ok": True, "version": document["version"], "document": serialize(document)}


def own_project(project):
    """A ``Project`` of the caller's own for a write, which hands it to plugins: a session's is the
    process's shared one (``shared_project_document``), only read."""
    return cached_project_document(str(project.id))


def stamp(session: Session, project_id: str, **fields: Any) -> dict:
    return {"projectId": project_id, **fields, "userId": session.user_id,
            "userName": session.user_name, "timestamp": now_ms()}


def register(socketio, app, rt: Realtime) -> None:
    socketio.on_namespace(Collab(app, rt))
