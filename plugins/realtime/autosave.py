"""Autosave: the server writes a live Y.Doc into the stored document by itself.

Typed text used to reach REST, exports and clones only through an explicit ``yjs_commit``. Each
process saves the documents its own sockets typed into: ``idle`` seconds after the last accepted
update, at most ``max_delay`` seconds after the first unsaved one while typing goes on, and at
once when the last local socket leaves the document (and at shutdown). A save is a
:func:`.ycommit.commit` (under the document's lock, caught up with storage, only the fields that
differ): one version and one ``content_change`` (``source: "autosave"``), written as the last
editor and naming every editor since the last save. Write rules hold: while any of those editors
may not edit the document any more, nothing is saved automatically (their unsaved text must not
reach the stored document through someone else's save); an explicit ``yjs_commit`` by someone who
may edit it saves, and clears that."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

from core.authz.scope import actor_scope
from core.errors import Conflict, Forbidden, NotFound
from core.models import User
from core.projects import find_project

from . import ycommit
from .emitter import announce_content

log = logging.getLogger("aladdin.realtime")


@dataclasses.dataclass
class Unsaved:
    """What a document's local sockets typed since its last save."""

    state: object                       # the OpenDoc (kept: the last socket may have closed it)
    first: float
    last: float
    editors: dict = dataclasses.field(default_factory=dict)  # user id -> None, in typing order
    now: bool = False                   # the last local socket left: save at once
    refused: bool = False               # an editor may not edit now: wait for an explicit commit


class Autosave:
    def __init__(self, rt, idle: float = 2.0, max_delay: float = 10.0):
        self.rt = rt
        self.idle, self.max_delay = idle, max_delay
        self.enabled = idle > 0
        self._unsaved: dict[tuple, Unsaved] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()

    # --- what the rest of the plugin tells it -----------------------------------------------

    def typed(self, state, user_id: str | None) -> None:
        """A local socket's update was stored (``YjsHub.on_stored``)."""
        if not self.enabled or user_id is None:
            return
        now = time.monotonic()
        with self._lock:
            unsaved = self._unsaved.get(state.key)
            if unsaved is None:
                unsaved = self._unsaved[state.key] = Unsaved(state, now, now)
            unsaved.state, unsaved.last, unsaved.refused = state, now, False
            unsaved.editors.pop(user_id, None)
            unsaved.editors[user_id] = None  # the last editor last: the save is written as them

    def left(self, key: tuple) -> None:
        """The last local socket left the document: save what it typed now."""
        with self._lock:
            unsaved = self._unsaved.get(key)
            if unsaved is not None:
                unsaved.now = True
        self._wake.set()

    def saved(self, key: tuple, since: float | None = None) -> None:
        """A commit that caught up at ``since`` (monotonic) saved everything typed before, or a
        deletion (``since`` None) ended the document: nothing typed until then is owed."""
        with self._lock:
            unsaved = self._unsaved.get(key)
            if unsaved is not None and (since is None or unsaved.last <= since):
                del self._unsaved[key]

    # --- the saving thread ----------------------------------------------------------------

    def run(self, stopping: threading.Event) -> None:
        tick = min(0.25, self.idle / 4) if self.enabled else 1.0
        while not stopping.is_set():
            self._wake.wait(tick)
            self._wake.clear()
            for key in self._due(time.monotonic()):
                self.save(key)

    def _due(self, now: float) -> list[tuple]:
        with self._lock:
            return [key for key, u in self._unsaved.items() if not u.refused and (
                u.now or now - u.last >= self.idle or now - u.first >= self.max_delay)]

    def save_all(self) -> None:
        """At shutdown: every document with unsaved typing."""
        with self._lock:
            keys = [key for key, u in self._unsaved.items() if not u.refused]
        for key in keys:
            self.save(key)

    def save(self, key: tuple) -> None:
        with self._lock:
            unsaved = self._unsaved.pop(key, None)
        if unsaved is None:
            return
        try:
            with self.rt.app.app_context(), actor_scope():
                done = self._write(unsaved)
        except Conflict:  # a write landed between the read and the compare-and-set: next tick
            done = False
        except Exception:
            log.exception("autosave of %s failed; retrying", "/".join(key))
            done = False
        if not done:
            with self._lock:  # owed still (typing meanwhile merged in: it is in the same Y.Doc)
                current = self._unsaved.get(key)
                if current is None:  # retried ``idle`` seconds from now
                    unsaved.now, unsaved.first = False, time.monotonic()
                    unsaved.last = unsaved.first
                    self._unsaved[key] = unsaved
                else:
                    current.editors = {**unsaved.editors, **current.editors}
                    current.refused = current.refused or unsaved.refused

    def _write(self, unsaved: Unsaved) -> bool:
        """One save; False when it must wait (refused by the write rules, or to be retried)."""
        state = unsaved.state
        if state.closed:  # deleted meanwhile
            return True
        project_id, collection, document_id = state.key
        ext = self.rt.app.extensions["aladdin"]
        project = find_project(project_id)
        editors = [User.objects(id=user_id).first() for user_id in unsaved.editors]
        for user_id, user in zip(unsaved.editors, editors):
            try:
                if user is None:
                    raise NotFound("user not found")
                ext.content.writable(project, collection, document_id, user, "update")
            except (NotFound, Forbidden):
                log.warning("autosave of %s/%s waits for an explicit commit: user %s may not edit it now",
                            collection, document_id, user_id)
                unsaved.refused = True
                return False
        actor = editors[-1]
        document, patch = ycommit.commit(self.rt, project, state.key, state, actor, None)
        if patch is None:
            return True
        announce_content(self.rt.app, project_id, collection, document, {
            "projectId": project_id, "collection": collection, "documentId": document_id,
            "action": "updated", "patch": patch, "version": document["version"], "source": "autosave",
            "userId": str(actor.id), "userName": actor.name or actor.email,
            "editors": [{"userId": str(u.id), "userName": u.name or u.email} for u in editors],
            "timestamp": int(time.time() * 1000)})
        return True
