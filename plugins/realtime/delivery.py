"""Document events to this process's sockets: each gets what its user may view.

Every server process delivers a content event (a REST, worker or socket write, relayed over the
bus) to its own sockets in the project's room, deciding per socket (``Realtime.audience``, one
answer per user and document version) whether it gets the document, its redacted form, or
nothing -- and a socket that has the document open in Yjs but may no longer view it is closed
out of it."""

from __future__ import annotations

from . import bus
from .emitter import emit_to


def deliver_content(rt, message: bus.Content) -> None:
    """Send one document event (see :func:`.emitter.announce_content`) to this process's
    sockets in the project room whose user may view the document (its redacted form, if it
    has one, to the others); a socket that has the document open in Yjs but may no longer
    view it is unsubscribed from it."""
    project_id, collection = message.project, message.collection
    members = [(s, s.projects.get(project_id)) for s in list(rt.sessions.values())]
    members = [(s, p) for s, p in members if p is not None]
    if not members:  # none of this process's sockets is in the project's room
        return
    document = message.document
    key = (project_id, collection, str(document.get("_id")))
    skip = message.skip
    viewers, others = rt.audience.split(members, collection, document, key)
    for session in others:
        if key in session.docs:
            rt.close_doc(session, key)
    # Local sockets only (every server process runs this for its own), one encoding each.
    for sessions, data in ((viewers, message.data), (others, message.redacted)):
        sids = [s.sid for s in sessions if s.sid != skip]
        if data is not None:
            emit_to(rt.socketio.server, message.event, data, sids, ignore_queue=True)
