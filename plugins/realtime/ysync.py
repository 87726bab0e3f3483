"""The live Y.Doc follows the stored document: writes made elsewhere flow in, deletion closes it.

Runs in whichever process made the write (a server, the CLI, a worker): the change is computed
on the stored Yjs state under the document's lock (:meth:`.ystore.YStore.sync_locked`), stored
once, applied here if this process has the document open, and sent over the realtime bus to
every other server process, which applies it and passes it to its own sockets."""

from __future__ import annotations

import base64
import contextlib
import copy
import contextvars
from typing import Callable

from bson import json_util

from . import ycontent
from .yjs import doc_room
from .ystore import content_json, ystore_for

Send = Callable[[dict], None]  # puts one message on the realtime bus

# Set while a Yjs commit writes content: the Y.Doc is where that content came from.
_yjs_write: contextvars.ContextVar[bool] = contextvars.ContextVar("aladdin_realtime_yjs_write", default=False)


@contextlib.contextmanager
def yjs_write():
    token = _yjs_write.set(True)
    try:
        yield
    finally:
        _yjs_write.reset(token)


def from_yjs() -> bool:
    return _yjs_write.get()


def sensitive(app, collection: str) -> Callable[[str], bool]:
    """Fields encrypted at rest stay out of the Y.Doc (its state is stored and relayed in clear)."""
    content = app.extensions["aladdin"].content
    return lambda name: content.is_sensitive(collection, f"content.{name}")


def doc_key(project, collection: str, document: dict) -> tuple:
    return (str(project.id), collection, str(document.get("_id")))


def into_live_doc(app, rt, send: Send, project, collection: str, document: dict) -> None:
    """After a write that did not come from Yjs: the same change as a server Yjs update."""
    key = doc_key(project, collection, document)
    update, version = ystore_for(app).sync(project.slug, key, document, sensitive(app, collection))
    if update is not None:
        announce_update(rt, send, key, update, version, document)


def announce_update(rt, send: Send, key: tuple, update: bytes, version: int | None, document: dict) -> None:
    """A stored server update: to this process's copy and sockets now, to the others by bus
    (with the document, so each process shows it only to sockets whose user may view it)."""
    if rt is not None:
        deliver(rt, key, update, version, document)
    send({"t": "yjs", "o": rt.process_id if rt else None, "k": list(key),
          "u": base64.b64encode(update).decode(), "v": version,
          "doc": json_util.dumps(document, default=str)})


def deliver(rt, key: tuple, update: bytes, version: int | None, document: dict) -> None:
    """Apply to the open copy; send to the local sockets whose user may view the document as
    it is now (others lose it: the write's ``content_change`` may not have reached them yet)."""
    state = rt.hub.docs.get(key)
    if state is None:
        rt.hub.apply_remote(key, update, version)  # buffered if it is loading here
        return
    recipients = []
    for sid in rt.hub.apply_local(state, update, version):
        session = rt.sessions.get(sid)
        if session is None:
            continue
        project = session.projects.get(key[0])
        if project is not None and rt.may_view(session, project, key[1], document):
            recipients.append(sid)
        else:
            rt.close_doc(session, key)
    if recipients:
        rt.send_frames(state, recipients, update)


def close_deleted(app, rt, send: Send, project, collection: str, document: dict) -> None:
    """The document was deleted: its records go, and its live state in every process."""
    key = doc_key(project, collection, document)
    ystore_for(app).delete(project.slug, key)
    if rt is not None:
        drop_live(rt, key, project.slug)
    send({"t": "ydelete", "o": rt.process_id if rt else None, "k": list(key), "slug": project.slug})


def drop_live(rt, key: tuple, slug: str) -> None:
    """This process forgets a deleted document: its sockets leave it (a later frame opens it
    again, and finds it missing), and what a racing frame stored meanwhile goes too."""
    state = rt.hub.drop(key)
    owners = getattr(rt.hub, "owners", None)
    for session in list(rt.sessions.values()):
        if key in session.docs:
            session.docs.discard(key)
            rt.exit(session.sid, doc_room(key))
            if owners is not None:
                owners.release(key, session.sid)
    if state is not None:
        ystore_for(rt.app).purge(slug, key)


def commit_patch(patch: dict, document: dict, skip: Callable[[str], bool]) -> dict:
    """What committing ``patch`` (every ``content.<field>`` of the Y.Map) writes on the stored
    ``document``: the entries that differ, and ``None`` (removal) for each field the Y.Doc maps
    (see :func:`.ycontent.fields`) that the map no longer has. A ``None`` in a dotted patch removes
    the field, so when a field is to hold ``null`` the write is the whole ``content`` object
    (the stored one with these changes; other fields as stored), and null stays null."""
    content = content_json(document)
    missing = object()
    in_map = {path.split(".", 1)[1] for path in patch}
    changes = {path: value for path, value in patch.items()
               if content.get(path.split(".", 1)[1], missing) != value}
    changes.update({f"content.{name}": None for name in ycontent.fields(content, skip) if name not in in_map})
    if not any(value is None and path.split(".", 1)[1] in in_map for path, value in changes.items()):
        return changes
    whole = copy.deepcopy(document.get("content") or {})
    for path, value in changes.items():
        name = path.split(".", 1)[1]
        if name in in_map:
            whole[name] = value
        else:
            whole.pop(name, None)
    return {"content": whole}


__all__ = ["yjs_write", "from_yjs", "sensitive", "into_live_doc", "announce_update", "deliver",
           "close_deleted", "drop_live", "commit_patch"]
