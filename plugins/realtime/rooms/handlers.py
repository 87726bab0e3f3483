"""The ``/collab`` events: connect/join/leave, presence, cursors, typing, versioned edits, Yjs.

Every event is checked against the sender's credentials as they are now (its token still
authenticates its user), validated, and re-authorized against the sender's current role; what a
client may not do is answered with an error ack (``{"error", "message"}``), never a crash."""

from __future__ import annotations

import functools
import logging
from typing import Any

from flask import request
from pycrdt import YSyncMessageType
from socketio.exceptions import ConnectionRefusedError

from core.authz.scope import actor_scope
from core.content import SYSTEM, serialize
from core.errors import AladdinError, AuthenticationFailed, Conflict, Forbidden, NotFound
from core.projects import find_project

from .. import credentials, pointers
from .. import validation as v
from .. import ycommit, ysync
from ..announce import socket_write
from ..emitter import NAMESPACE, announce_content, project_room
from ..service import Realtime, Session, now_ms
from ..yjs import doc_room

log = logging.getLogger("aladdin.realtime")


class Refused(Exception):
    def __init__(self, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra


def error(code: str, message: str, **extra: Any) -> dict:
    return {"error": code, "message": message, **extra}


def register(socketio, app, rt: Realtime) -> None:
    ext = app.extensions["aladdin"]
    authz = ext.authz

    def guarded(fn):
        """Find the session, re-check its credentials, validate, translate refusals to error acks."""

        @functools.wraps(fn)
        def handler(data=None, *_ignored):
            session = rt.sessions.get(request.sid)
            if session is None:
                return error("unauthenticated", "connection is not authenticated")
            if credentials.current_user(app, session) is None:
                # Revoked since connect (the bus drops such sockets too; this closes the window
                # before its message arrives): nothing this socket sends is accepted any more.
                credentials.drop(rt, session, delay=0.2)
                return error("unauthenticated", credentials.REVOKED_MESSAGE)
            try:
                with actor_scope():  # the sender's role is resolved once for the whole event
                    return fn(session, v.check_payload(data))
            except v.InvalidMessage as exc:
                return error(exc.code, exc.message)
            except Refused as exc:
                return error(exc.code, exc.message, **exc.extra)
            except Conflict as exc:
                return error("conflict", exc.message, **exc.extra)
            except NotFound as exc:
                return error("not_found", exc.message)
            except (Forbidden, PermissionError) as exc:
                return error("forbidden", getattr(exc, "message", None) or str(exc))
            except AladdinError as exc:
                return error("invalid", exc.message, **exc.extra)

        return handler

    def on(event):
        return lambda fn: socketio.on(event, namespace=NAMESPACE)(guarded(fn))

    def joined_project(session: Session, data: dict):
        """The joined project the event names, re-checked against the sender's current role."""
        ref = v.project_ref(data)
        project = session.projects.get(ref)
        if project is None:
            project = next((p for p in session.projects.values() if p.slug == ref), None)
        if project is None:
            raise Refused("not_joined", "join the project first")
        try:
            authz.authorize(session.user, "project:view", project)
        except (NotFound, Forbidden):
            rt.leave_project(session, str(project.id))  # removed meanwhile: out of the room at once
            raise Refused("not_found", "project not found")
        return project

    def pointed(session: Session, data: dict):
        """The joined project and the document a cursor or typing event points at, which the
        sender must be able to view (see :mod:`..pointers`)."""
        project = joined_project(session, data)
        document_id = v.document_id(data)
        where = (str(project.id), document_id)
        collection = v.collection_name(data) if data.get("collection") is not None else session.pointed.get(where)
        collection, document = pointers.pointed_document(ext, session.user, project, document_id, collection)
        if len(session.pointed) > 1000:
            session.pointed.clear()
        session.pointed[where] = collection  # a document never changes collection: search once
        return project, collection, document

    def content_resource(key: tuple, created_by: str | None) -> dict:
        return {"_id": key[2], "createdBy": created_by}

    def still_visible(session: Session, project, key: tuple) -> dict | None:
        """Re-check an open document against what is stored now: NotFound, exactly like a
        missing document, if the user may no longer view it (or it is gone). Returns the stored
        document, or None when no read rule can hide one (no query needed then)."""
        collection, document_id = key[1], key[2]
        if ext.content.read_filter(session.user, project, collection).everything:  # compiled once, cached
            return None
        return ext.content.get(project, collection, document_id, reader=session.user)

    def open_doc(session: Session, data: dict):
        """The Yjs document the event names, opened (and its room joined) on first use, with the
        stored document when one was read (see ``still_visible``). A document the user may not
        view is refused like a missing one, open already or not."""
        project = joined_project(session, data)
        pid = str(project.id)
        collection, document_id = v.collection_name(data), v.document_id(data)
        key = (pid, collection, document_id)
        state = rt.hub.docs.get(key) if key in session.docs else None
        if state is None:
            stored = ext.content.get(project, collection, document_id, reader=session.user)  # hidden: NotFound
            state = rt.hub.open(project.slug, key, stored.get("createdBy"), session.sid,
                                fetch=lambda: stored_now(project, collection, document_id),
                                skip=ysync.sensitive(app, collection))
            session.docs.add(key)
            rt.enter(session.sid, doc_room(key))
            snapshot = rt.hub.awareness_snapshot(state)
            if snapshot:
                rt.emit("awareness", {"projectId": pid, "collection": collection,
                                      "documentId": document_id, "message": snapshot}, to=session.sid)
            rt.ask_awareness(key, session.sid)  # and the peers' states held by other processes
        else:
            try:
                stored = still_visible(session, project, key)
            except NotFound:
                rt.close_doc(session, key)  # out of the document's room at once
                raise
        return project, key, state, stored

    def stored_now(project, collection: str, document_id: str) -> dict | None:
        """The stored document as it is now (to seed from), None if it is gone."""
        try:
            return ext.content.get(project, collection, document_id, reader=SYSTEM)
        except NotFound:
            return None

    def can_edit(session: Session, project, key: tuple, created_by: str | None,
                 stored: dict | None = None) -> bool:
        document = stored if stored is not None else content_resource(key, created_by)
        return ext.content.may_write(session.user, project, key[1], document)

    def stamp(session: Session, project_id: str, **fields: Any) -> dict:
        return {"projectId": project_id, **fields, "userId": session.user_id,
                "userName": session.user_name, "timestamp": now_ms()}

    # --- connection -------------------------------------------------------------------------

    @socketio.on("connect", namespace=NAMESPACE)
    def connect(auth=None):
        token = v.auth_token(auth)
        if token is None:
            raise ConnectionRefusedError("authentication required: connect with auth={'token': ...}")
        remote_addr = request.remote_addr
        try:
            user = ext.pm.hook.aladdin_authenticate(
                app=app, request=credentials.HandshakeRequest(token, remote_addr))
        except AuthenticationFailed as exc:
            raise ConnectionRefusedError(exc.message)
        if user is None:
            raise ConnectionRefusedError("invalid or revoked API token")
        rt.ensure_started()
        # The token stays with the session: every event re-checks it (see ``guarded``).
        rt.sessions[request.sid] = Session(sid=request.sid, user=user, user_id=str(user.id),
                                           user_name=user.name or user.email, token=token,
                                           remote_addr=remote_addr)
        return True

    @socketio.on("disconnect", namespace=NAMESPACE)
    def disconnect(*_args):
        rt.disconnect(request.sid)

    @socketio.on("*", namespace=NAMESPACE)
    def unknown(event, *_args):
        return error("unknown_event", f"unknown event {str(event)[:64]!r}")

    @socketio.on_error(NAMESPACE)
    def failed(exc):
        log.exception("realtime handler failed: %s", exc)
        return error("internal", "internal error; the server log has the details")

    # --- rooms and presence -----------------------------------------------------------------

    @on("join")
    def join(session: Session, data: dict):
        try:
            project = find_project(v.project_ref(data))
            role = authz.authorize(session.user, "project:view", project)
        except (NotFound, Forbidden):
            return error("not_found", "project not found")
        pid = str(project.id)
        session.projects[pid] = project
        rt.enter(session.sid, project_room(pid))
        you = rt.join_presence(session, pid)
        you, *users = pointers.visible_to(ext, session.user, project, [you, *rt.presence.list(pid)])
        return {"ok": True, "projectId": pid, "role": role, "you": you, "users": users}

    @on("leave")
    def leave(session: Session, data: dict):
        project = joined_project(session, data)
        rt.leave_project(session, str(project.id))
        return {"ok": True}

    @on("presence")
    def presence(session: Session, data: dict):
        project = joined_project(session, data)
        pid = str(project.id)
        status = v.status(data)
        if status is not None:
            record = rt.presence.touch(pid, session.user_id, status=status)
            if record is None:
                rt.join_presence(session, pid)
                record = rt.presence.touch(pid, session.user_id, status=status)
            if record is not None:
                pointers.announce_presence(rt, pid, "presence", rt.presence.public(record), skip_sid=session.sid)
        return {"ok": True, "users": pointers.visible_to(ext, session.user, project, rt.presence.list(pid))}

    @on("cursor_move")
    def cursor_move(session: Session, data: dict):
        project, collection, document = pointed(session, data)
        pid, position = str(project.id), v.position(data)
        payload = stamp(session, pid, documentId=str(document["_id"]), position=position, collection=collection)

        def send():
            announce_content(app, pid, collection, document, payload, skip_sid=session.sid, event="cursor_move")
            # The presence record keeps the last cursor that went out (joiners who may view the
            # document see it).
            rt.activity(session, pid, force=True, cursor=pointers.cursor_of(collection, document, position))

        rt.cursors.submit((session.sid, payload["documentId"]), send)
        return {"ok": True}

    def typing(event: str):
        def handler(session: Session, data: dict):
            project, collection, document = pointed(session, data)
            pid = str(project.id)
            announce_content(app, pid, collection, document,
                             stamp(session, pid, documentId=str(document["_id"]), collection=collection),
                             skip_sid=session.sid, event=event)
            rt.activity(session, pid)
            return {"ok": True}

        handler.__name__ = event
        on(event)(handler)

    typing("typing_start")
    typing("typing_stop")

    # --- versioned edits --------------------------------------------------------------------

    @on("content_change")
    def content_change(session: Session, data: dict):
        project = joined_project(session, data)
        pid = str(project.id)
        collection, document_id = v.collection_name(data), v.document_id(data)
        patch, base = v.patch(data), v.base_version(data)
        with socket_write():  # the service loads the document the sender may view and authorizes the edit
            document = ext.content.update(project, collection, document_id, patch, session.user, base)
        # Only to the room's sockets whose user may view the changed document, never the sender.
        announce_content(app, pid, collection, document,
                         stamp(session, pid, collection=collection, documentId=document_id,
                               action="updated", patch=patch, version=document["version"]),
                         skip_sid=session.sid)
        rt.activity(session, pid)
        return {"ok": True, "version": document["version"], "document": serialize(document)}

    # --- Yjs --------------------------------------------------------------------------------

    @on("yjs")
    def yjs(session: Session, data: dict):
        message = v.binary(data)
        project, key, state, stored = open_doc(session, data)
        pid, collection, document_id = key
        frames, update = rt.hub.handle(state, message, user_id=session.user_id,
                                       can_edit=can_edit(session, project, key, state.created_by, stored))
        ref = {"projectId": pid, "collection": collection, "documentId": document_id}
        for frame in frames:
            rt.emit("yjs", {**ref, "message": frame}, to=session.sid)
        if update is not None:
            if message[1] == YSyncMessageType.SYNC_UPDATE:  # its own edits: their client ids are its own
                rt.hub.claim_update(state, session.sid, session.user_id, update)
            # This process's other sockets now; other processes get it over the bus (hub.handle)
            # and pass it to theirs, in the order their copy applied it.
            rt.send_frames(state, [sid for sid in list(state.sids) if sid != session.sid], update)
            rt.activity(session, pid)
        return {"ok": True}

    @on("awareness")
    def awareness(session: Session, data: dict):
        """Only entries for the socket's own Yjs client ids go on, with the server's identity;
        the ack lists the client ids dropped because another user's socket holds them."""
        message = v.binary(data)
        project, key, state, _stored = open_doc(session, data)
        accepted, dropped = rt.hub.awareness(state, session.sid, message, user_id=session.user_id,
                                             user_name=session.user_name)
        pid, collection, document_id = key
        if accepted is not None:
            rt.emit("awareness", {"projectId": pid, "collection": collection, "documentId": document_id,
                                  "message": accepted}, to=doc_room(key), skip_sid=session.sid)
        return {"ok": True, "dropped": dropped} if dropped else {"ok": True}

    @on("yjs_commit")
    def yjs_commit(session: Session, data: dict):
        """Write the Y.Map "content" through the versioned write path (:mod:`..ycommit`): never
        from a copy behind storage, never reverting a write it did not see. A commit that would
        change nothing stores nothing."""
        base = v.base_version(data)
        project, key, state, _stored = open_doc(session, data)
        pid, collection, document_id = key
        # Refused (hidden, or not editable) before anything below: a viewer's commit is
        # forbidden, not a version conflict. ``update`` checks again under the lock.
        ext.content.writable(project, collection, document_id, session.user, "update")
        document, patch = ycommit.commit(rt, project, key, state, session.user, base)
        if patch is None:
            return {"ok": True, "version": document["version"], "document": serialize(document),
                    "unchanged": True}
        announce_content(app, pid, collection, document,
                         stamp(session, pid, collection=collection, documentId=document_id,
                               action="updated", patch=patch, version=document["version"], source="yjs"),
                         skip_sid=session.sid)
        return {"ok": True, "version": document["version"], "document": serialize(document)}
