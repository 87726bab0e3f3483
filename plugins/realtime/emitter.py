"""Write-only ways into the rooms from any process: a Socket.IO emitter (worker and CLI
processes reach the web servers' rooms) and :func:`announce_content` for events only a
document's viewers may receive."""

from __future__ import annotations

import threading
from typing import Any

import socketio

from core.app import socketio_channel

from . import bus

NAMESPACE = "/collab"


def project_room(project_id: str) -> str:
    return f"project:{project_id}"


def doc_ref(key: tuple) -> dict:
    """The fields that name a document (``(projectId, collection, documentId)``) in an event."""
    return {"projectId": key[0], "collection": key[1], "documentId": key[2]}


def emit_to(target, event: str, data: Any, to: str | list[str] | None, **options: Any) -> bool:
    """Emit ``event`` on ``/collab`` to ``to`` -- one socket id or room, or a list of them --
    through ``target`` (a python-socketio server or manager). Every realtime emit goes through
    here; returns whether anything was sent.

    An empty address sends nothing: python-socketio reads a falsy ``to`` (``[]``, ``""``, ``None``)
    as "every socket of the namespace", so a typist alone on its process with a document open
    (nobody else here to send its update to) once broadcast its typing to every connected user,
    outsiders and readers the document is hidden from included."""
    if isinstance(to, (list, tuple, set, frozenset)):
        to = [recipient for recipient in to if recipient]
    if not to:
        return False
    target.emit(event, data, namespace=NAMESPACE, to=to, **options)
    return True


def announce_content(app, project_id: str, collection: str, document: dict, payload: dict, *,
                     skip_sid: str | None = None, event: str = "content_change",
                     redacted: dict | None = None) -> None:
    """Send a room event about ``document`` (a stored document: the one a viewer must be
    allowed to see) to the project's sockets whose user may view it, on every server process;
    with ``redacted``, the other sockets of the room get that instead (a presence record whose
    cursor they may not see), otherwise nothing.

    Socket.IO rooms cannot filter per recipient, so the event goes over the realtime bus with
    the document (BSON types kept, for the read filter) and each server process delivers it to
    its own sockets in the room after ``content.can_view`` (``delivery.deliver_content``).
    Works from any process: the publishing one needs no Socket.IO server."""
    bus.send(app, bus.Content(project_id, collection, event, payload, document, skip_sid, redacted))


class Emitter:
    """Publishes on the installation's Socket.IO Redis channel without listening to it, so any
    process (an RQ worker rendering an export included) can emit to connected clients."""

    def __init__(self, app):
        self.app = app
        self._manager = None
        self._lock = threading.Lock()

    @property
    def manager(self) -> socketio.RedisManager:
        if self._manager is None:
            with self._lock:
                if self._manager is None:
                    ext = self.app.extensions["aladdin"]
                    self._manager = socketio.RedisManager(
                        ext.jobs.url, channel=socketio_channel(ext.settings), write_only=True)
        return self._manager

    def emit(self, event: str, data: Any, *, room: str, skip_sid: str | None = None) -> None:
        emit_to(self.manager, event, data, room, skip_sid=skip_sid)

    def to_project(self, project_id: str, event: str, data: Any) -> None:
        self.emit(event, data, room=project_room(project_id))
