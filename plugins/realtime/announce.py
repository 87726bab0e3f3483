"""How writes and platform events made anywhere reach the rooms: ``content_change`` for each
socket whose user may view the document, the live Y.Doc following the stored document, kicks
after a removal or revocation, and job progress. Works from any process of the installation."""

from __future__ import annotations

import json
import logging

from core.content import SYSTEM, serialize
from core.errors import NotFound
from core.events import Event
from core.projects import find_project

from . import bus, ysync
from .credentials import CREDENTIALS_CHANGED, recheck_user
from .emitter import Emitter, announce_content
from .service import Realtime
from .session import now_ms
from .write_origin import announced_by_socket, socket_write  # noqa: F401 - handlers import it here

log = logging.getLogger("aladdin.realtime")
ROLE_EVENTS = frozenset({"member.added", "member.role_changed", "member.removed",
                         "project.ownership_transferred"})
# Fields of job events that name content documents (see _announce_job_about_document).
DOCUMENT_FIELDS = frozenset({"rootId", "newRootId"})
PROGRESS_EVENTS = {"export": "export_progress", "clone": "clone_progress"}


def _emitter(app) -> Emitter:
    """This process's emitter, or a write-only one where the plugin has no Socket.IO server."""
    rt: Realtime | None = app.extensions.get("realtime")
    return rt.emitter if rt is not None else Emitter(app)


def on_content_write(app, project, collection: str, action: str, document: dict, previous: dict | None,
                     user) -> None:
    """Writes made outside the rooms (REST API, CLI, workers) reach the project's room as
    ``content_change`` with ``source: "api"`` and the whole document (there is no client patch
    to relay), so open editors see every change however it was made, each socket only if its
    user may view the document (a deletion: if they could view it before). From any process:
    see :func:`announce_content`.

    The live Y.Doc follows (:mod:`.ysync`): a deletion closes it everywhere first (so a socket
    told of the deletion can no longer write into it); any other update that did not come from
    Yjs becomes a server Yjs update after the event (which unsubscribes sockets whose user may
    no longer view the document before the update reaches them)."""
    rt: Realtime | None = app.extensions.get("realtime")

    def send(message: bus.Message) -> None:
        bus.send(app, message)

    if action == "delete":
        try:
            ysync.close_deleted(app, rt, send, project, collection, previous or document)
        except Exception:  # the document is gone either way: say what is left
            log.exception("realtime could not close the Yjs state of %s/%s", collection, document.get("_id"))
    if not announced_by_socket():
        _announce_write(app, project, collection, action, document, previous, user)
    if action == "update" and not ysync.from_yjs():
        ysync.into_live_doc(app, rt, send, project, collection, document)


def _announce_write(app, project, collection: str, action: str, document: dict, previous: dict | None,
                    user) -> None:
    pid = str(project.id)
    payload = {"projectId": pid, "collection": collection, "documentId": str(document.get("_id")),
               "action": f"{action}d", "version": document.get("version"), "source": "api",
               "userId": str(user.id) if user is not None else None,
               "userName": (getattr(user, "name", None) or getattr(user, "email", None)) if user else None,
               "timestamp": now_ms()}
    if action != "delete":
        payload["document"] = serialize(document)  # JSON-ready already: ids, dates and bytes as strings
    decided_by = (previous or document) if action == "delete" else document
    announce_content(app, pid, collection, decided_by, payload)


def on_event(app, event: Event) -> None:
    """Realtime side of the event sink: kicks on removal, job progress to the project room."""
    rt: Realtime | None = app.extensions.get("realtime")
    if event.name == "project.created" and rt is not None and event.details.get("slug"):
        rt.hub.prepare(event.details["slug"])
        return
    if event.name == CREDENTIALS_CHANGED and event.resource_id:
        # A token revoked, a user deleted or changed: each process re-checks its sockets of the
        # user (this one's first), after the near cache has dropped the old answer everywhere.
        if rt is not None:
            recheck_user(rt, event.resource_id)
        bus.send(app, bus.CredentialsChanged(event.resource_id, origin=rt.process_id if rt else None))
        return
    if event.name in ROLE_EVENTS and event.project_id:
        # Who may view what changed: every process forgets its answers for the project and
        # closes open documents its sockets may no longer view (through the bus, in order
        # with the content events around it).
        bus.send(app, bus.RolesChanged(event.project_id))
    if event.name == "member.removed" and event.project_id and event.resource_id:
        if rt is not None:  # this process's sockets first, then every other server's
            rt.kick(event.project_id, event.resource_id)
        bus.send(app, bus.Kick(event.project_id, event.resource_id, origin=rt.process_id if rt else None))
        return
    prefix = event.name.split(".", 1)[0]
    if prefix in PROGRESS_EVENTS and event.project_id:
        details = json.loads(json.dumps(dict(event.details), default=str))
        payload = {**details, "projectId": event.project_id, "event": event.name,
                   "jobId": details.get("jobId") or event.resource_id,
                   "timestamp": event.timestamp.isoformat() + "Z"}
        if DOCUMENT_FIELDS & payload.keys():
            _announce_job_about_document(app, event, PROGRESS_EVENTS[prefix], payload)
            return
        _emitter(app).to_project(event.project_id, PROGRESS_EVENTS[prefix], payload)


def _announce_job_about_document(app, event: Event, name: str, payload: dict) -> None:
    """A clone's outcome names documents (``rootId``, ``newRootId``): those ids go only to the
    sockets whose user may view the event's document in this project (the root in the source
    project, the new root in the target); the rest of the room gets the event without them."""
    redacted = {k: v for k, v in payload.items() if k not in DOCUMENT_FIELDS}
    ext = app.extensions["aladdin"]
    document = None
    if event.resource_type in ext.content_types and event.resource_id:
        try:
            project = find_project(event.project_id)
            document = ext.content.get(project, event.resource_type, event.resource_id, reader=SYSTEM)
        except NotFound:  # a failed clone's new root never existed
            document = None
    if document is None:
        _emitter(app).to_project(event.project_id, name, redacted)
        return
    announce_content(app, event.project_id, event.resource_type, document, payload, event=name,
                     redacted=redacted)
