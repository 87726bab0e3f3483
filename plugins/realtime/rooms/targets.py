"""What an event names -- the joined project, the document a cursor points at, the open Yjs
document -- each checked against what the sender may do with it (a mixin of ``Collab``)."""

from __future__ import annotations

from typing import Any

from core.content import SYSTEM
from core.errors import Forbidden, NotFound

from .. import pointers, ysync
from .. import validation as v
from ..emitter import doc_ref
from ..session import Session
from ..yjs import doc_room

# What a socket may do with a document it has open (see ``Targets.open_doc``).
EDIT, VIEW, HIDDEN = "edit", "view", "hidden"


class Refused(Exception):
    def __init__(self, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra


class Targets:
    """Needs ``self.app``, ``self.ext``, ``self.authz`` and ``self.rt`` (a ``Realtime``)."""

    def joined_project(self, session: Session, data: dict):
        """The joined project the event names, re-checked against the sender's current role."""
        project = self.joined(session, data)
        self.still_member(session, project)
        return project

    def joined(self, session: Session, data: dict):
        """The joined project the event names (not re-checked: see ``still_member``)."""
        ref = v.project_ref(data)
        project = session.projects.get(ref)
        if project is None:
            project = next((p for p in session.projects.values() if p.slug == ref), None)
        if project is None:
            raise Refused("not_joined", "join the project first")
        return project

    def still_member(self, session: Session, project) -> None:
        try:
            self.authz.authorize(session.user, "project:view", project)
        except (NotFound, Forbidden):
            self.rt.leave_project(session, str(project.id))  # removed meanwhile: out of the room at once
            raise Refused("not_found", "project not found")

    def pointed(self, session: Session, data: dict):
        """The joined project and the document a cursor or typing event points at, which the
        sender must be able to view (see :mod:`..pointers`)."""
        project = self.joined_project(session, data)
        document_id = v.document_id(data)
        where = (str(project.id), document_id)
        collection = v.collection_name(data) if data.get("collection") is not None else session.pointed.get(where)
        collection, document = pointers.pointed_document(self.ext, session.user, project, document_id, collection)
        if len(session.pointed) > 1000:
            session.pointed.clear()
        session.pointed[where] = collection  # a document never changes collection: search once
        return project, collection, document

    def still_visible(self, session: Session, project, key: tuple) -> dict | None:
        """Re-check an open document against what is stored now: NotFound, exactly like a
        missing document, if the user may no longer view it (or it is gone). Returns the stored
        document, or None when no read rule can hide one (no query needed then)."""
        collection, document_id = key[1], key[2]
        if self.ext.content.read_filter(session.user, project, collection).everything:  # compiled once, cached
            return None
        return self.ext.content.get(project, collection, document_id, reader=session.user)

    def open_doc(self, session: Session, data: dict, later: list | None = None):
        """The Yjs document the event names, opened (and its room joined) on first use, with what
        the sender may do with it (``EDIT`` or ``VIEW``). A document the user may not view is
        refused like a missing one, open already or not. The peers' awareness states follow the
        opening (:meth:`greet`), or, given ``later``, are appended to it for after the event's
        answer: a client is synced by its sync step 1's answer, and asking the other processes
        is a round trip to Redis (``bench.yjs``, connect to synced).

        Decided once per socket and document version (``Realtime.grants``), not per frame: a
        change of role or ownership, of credentials, or a bus outage forgets the answers, and a
        write elsewhere changes the version (see :mod:`..audience`)."""
        rt = self.rt
        project = self.joined(session, data)
        pid = str(project.id)
        collection, document_id = v.collection_name(data), v.document_id(data)
        key = (pid, collection, document_id)
        state = rt.hub.docs.get(key) if key in session.docs else None
        if state is not None:
            grant = rt.grants.answer(session, project, collection, self.as_open(state), key)
            if grant == HIDDEN:
                rt.close_doc(session, key)  # out of the document's room at once
                raise NotFound("document not found")
            return project, key, state, grant
        if not session.handshake:  # a handshake joined the project a moment ago, in the same unit of work
            self.still_member(session, project)
        stored, created_by = self.stored_for(session, project, key)
        state = rt.hub.open(project.slug, key, created_by, session.sid,
                            fetch=lambda: self.stored_now(project, collection, document_id),
                            skip=ysync.sensitive(self.app, collection))
        session.docs.add(key)
        rt.enter(session.sid, doc_room(key))
        if later is None:
            self.greet(session, key, state)
        else:
            later.append(lambda: self.greet(session, key, state))
        grant = EDIT if self.can_edit(session, project, key, state.created_by, stored) else VIEW
        rt.grants.remember(session, self.as_open(state), key, grant)
        return project, key, state, grant

    def greet(self, session: Session, key: tuple, state) -> None:
        """A socket that just opened ``key``: the awareness states this process knows, and the
        other processes are asked for theirs (they send them to the socket) -- unless nobody
        was there to answer when this copy was opened: every state since came over the bus and
        is in this copy (``OpenDoc.peers_known``; a lost bus message forgets it)."""
        rt = self.rt
        snapshot = rt.hub.awareness_snapshot(state)
        if snapshot:
            rt.emit("awareness", {**doc_ref(key), "message": snapshot}, to=session.sid)
        if not state.peers_known and rt.ask_awareness(key, session.sid):
            state.peers_known = True

    def stored_for(self, session: Session, project, key: tuple) -> tuple[dict | None, str | None]:
        """The stored document a socket opens, as its user may view it (hidden: NotFound), and
        its creator. No query when the document is open here already (so it exists: a deletion
        closes it) and no read rule can hide it: another editor joining a live document is not
        a database read (``bench.yjs``, connect to synced)."""
        live = self.rt.hub.docs.get(key)
        if live is not None and not live.closed:
            stored = self.still_visible(session, project, key)
            if stored is None:
                return None, live.created_by
        else:
            stored = self.ext.content.get(project, key[1], key[2], reader=session.user)
        return stored, stored.get("createdBy")

    def grant(self, session: Session, project, collection: str, document: dict) -> str:
        """What the socket may do with an open document now (``Realtime.grants``' decision)."""
        self.still_member(session, project)
        key = (str(project.id), collection, str(document["_id"]))
        try:
            stored = self.still_visible(session, project, key)
        except NotFound:
            return HIDDEN
        return EDIT if self.can_edit(session, project, key, document.get("createdBy"), stored) else VIEW

    @staticmethod
    def as_open(state) -> dict:
        """The open document as the grants key it: its stored version is the one the copy holds."""
        return {"_id": state.key[2], "createdBy": state.created_by, "version": state.head_version}

    def stored_now(self, project, collection: str, document_id: str) -> dict | None:
        """The stored document as it is now (to seed from), None if it is gone."""
        try:
            return self.ext.content.get(project, collection, document_id, reader=SYSTEM)
        except NotFound:
            return None

    def can_edit(self, session: Session, project, key: tuple, created_by: str | None,
                 stored: dict | None = None) -> bool:
        document = stored if stored is not None else {"_id": key[2], "createdBy": created_by}
        return self.ext.content.may_write(session.user, project, key[1], document)
