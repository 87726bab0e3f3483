"""Cursors, typing and presence point at documents: only a document's viewers learn where.

``cursor_move`` and ``typing_start``/``typing_stop`` name a document, and a presence record keeps
its user's last cursor. Each is a room event about a document, like ``content_change``, so each
obeys the same read rules (``content.can_view``): the sender must be able to view the document
it points at (otherwise ``not_found``, like a missing one); the event reaches only the room's
sockets whose user may view it; and a presence record shows its cursor only to them (the
others see ``cursor: null``). Otherwise a hidden document's id, and that someone works on it,
would reach every member of the room."""

from __future__ import annotations

from typing import Any

from core.content import SYSTEM
from core.errors import NotFound
from core.projects import find_project

from .emitter import announce_content, project_room


def pointed_document(ext, user, project, document_id: str, collection: str | None = None) -> tuple[str, dict]:
    """The document an event points at, read as ``user``: ``(collection, document)``; NotFound
    when it is missing or hidden. Without a collection (it is optional in ``cursor_move`` and
    ``typing_*``), the project's content types are searched for the id."""
    if collection is not None:
        return collection, ext.content.get(project, collection, document_id, reader=user)
    for name in ext.content_types:
        try:
            return name, ext.content.get(project, name, document_id, reader=user)
        except NotFound:
            continue
    raise NotFound("document not found")


def cursor_of(collection: str, document: dict, position: Any) -> dict:
    """What a presence record keeps of a cursor: enough to re-check who may see it."""
    return {"documentId": str(document["_id"]), "collection": collection, "position": position}


def visible_to(ext, user, project, users: list[dict]) -> list[dict]:
    """A presence list as ``user`` may see it: cursors on documents it may not view are null."""
    decided: dict[tuple, bool] = {}
    shown = []
    for record in users:
        cursor = record.get("cursor")
        if cursor:
            where = (cursor.get("collection"), cursor.get("documentId"))
            if where not in decided:
                decided[where] = _may_view(ext, user, project, *where)
            if not decided[where]:
                record = {**record, "cursor": None}
        shown.append(record)
    return shown


def announce_presence(rt, project_id: str, event: str, record: dict, *, skip_sid: str | None = None) -> None:
    """A presence record to the project room, its cursor only to who may view the document."""
    payload = {**record, "projectId": project_id}
    cursor = record.get("cursor")
    if cursor:
        document = _stored(rt.ext, project_id, cursor)
        if document is not None:
            announce_content(rt.app, project_id, cursor["collection"], document, payload,
                             skip_sid=skip_sid, event=event, redacted={**payload, "cursor": None})
            return
        payload["cursor"] = None  # the document is gone: nobody sees a cursor on it
    rt.emit(event, payload, to=project_room(project_id), skip_sid=skip_sid)


def _may_view(ext, user, project, collection: str | None, document_id: str | None) -> bool:
    if not collection or not document_id:
        return False
    try:
        ext.content.get(project, collection, document_id, reader=user)
        return True
    except NotFound:
        return False


def _stored(ext, project_id: str, cursor: dict) -> dict | None:
    if not cursor.get("collection") or not cursor.get("documentId"):
        return None
    try:
        project = find_project(project_id)
        return ext.content.get(project, cursor["collection"], cursor["documentId"], reader=SYSTEM)
    except NotFound:
        return None
