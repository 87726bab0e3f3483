"""Writing a live Y.Doc's ``Y.Map("content")`` into the stored document (``yjs_commit`` and autosave).

One way for both: under the document's lock, a write made elsewhere whose server update is still
on its way is applied first, then the open copy catches up with every stored update (state
vectors: an update the bus lost during a Redis outage counts too), and only the fields that
differ from the stored document are written, through the versioned write path. So a save never
writes a copy that is behind storage, and never reverts a write it did not see."""

from __future__ import annotations

import time

from core.content import SYSTEM, serialize
from core.errors import Conflict

from . import bus, ysync
from .write_origin import socket_write, yjs_write


def commit(rt, project, key: tuple, state, user, base: int | None) -> tuple[dict, dict | None]:
    """(the stored document, the patch written or None when nothing differed). ``base``: the
    version the caller saw (Conflict if another is stored), or None to save onto whatever is
    stored (autosave: the copy has caught up with it under the lock)."""
    ext = rt.app.extensions["aladdin"]
    _pid, collection, document_id = key
    skip, store = ysync.sensitive(rt.app, collection), rt.hub.store

    with store.locked(key) as lease:
        current = ext.content.get(project, collection, document_id, reader=SYSTEM)
        update, version = store.sync_locked(project.slug, key, current, skip)
        if update is not None:
            ysync.announce_update(rt, lambda message: bus.send(rt.app, message), key, update, version, current)
        caught_up = time.monotonic()
        rt.hub.catch_up(state)
        if base is not None and current.get("version") != base:
            raise Conflict("version conflict", version=current.get("version"), document=serialize(current))
        patch = ysync.commit_patch(rt.hub.content_patch(state, skip), current, skip)
        if not patch:
            return current, None
        lease.check()
        with socket_write(), yjs_write():
            document = ext.content.update(project, collection, document_id, patch, user, current.get("version"))
        store.set_head(project.slug, key, document)
        state.head_version = max(state.head_version, document["version"])
    rt.autosave.saved(key, caught_up)  # whoever saved, nothing typed before is owed any more
    return document, patch
