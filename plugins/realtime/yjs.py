"""Yjs collaboration: one pycrdt ``Doc`` per open content document, synced with y-protocols frames.

Storage (:mod:`.ystore`): every accepted update is one record in the project database's
``operations`` collection, written by the process that received it from a client; other processes
get it over the realtime bus, apply it to their copy and send it to their own sockets, but never
store it again. A process registers a document before loading it and buffers what the bus brings
meanwhile, so an update is in the stored records or in the buffer, never lost. The server seeds
the Y.Doc from the stored document on the first open anywhere; writes made elsewhere come in as
server updates (:func:`.announce.on_content_write`).

Mapping to content (:mod:`.ycontent`, ``yjs_commit``): the Y.Doc of ``{collection}/{documentId}``
has a ``Y.Map`` named ``"content"``; each entry is one field of the document's ``content``
object. Committing writes the entries that differ through the versioned core write path and
removes the mapped fields absent from the map (:func:`.ysync.commit_patch`); entry names must be
plain identifiers.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from pycrdt import (Awareness, Decoder, Doc, Map, YMessageType, YSyncMessageType,
                    create_sync_message, create_update_message, handle_sync_message)

from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError

from core.errors import NotFound

from . import bus, ycontent
from .ystore import YStore
from .awareness import AwarenessOwners, encode_awareness, out_clock, parse_awareness, stamp_state, update_clients
from .validation import InvalidMessage

CONTENT_MAP = ycontent.CONTENT_MAP
FIELD_RE = ycontent.FIELD_RE
EMPTY_UPDATE = b"\x00\x00"

DocKey = tuple  # (projectId, collection, documentId)


def doc_room(key: DocKey) -> str:
    return "doc:" + ":".join(key)


class OpenDoc:
    """A document some local socket has open: its pycrdt Doc, awareness and who is subscribed."""

    def __init__(self, key: DocKey, slug: str, created_by: str | None, doc: Doc):
        self.key = key
        self.slug = slug
        self.created_by = created_by
        self.doc = doc
        self.lock = threading.RLock()
        self.sids: set[str] = set()
        self.awareness = Awareness(doc)
        self.awareness_clients: dict[str, set[int]] = {}
        self.peers_known = False   # no other process had states when this copy was opened, none lost since
        self.stored_since_compaction = 0
        self.last_stored = 0.0
        self.head_version = 0      # the stored document's version this copy is known to include
        self.closed = False        # the document was deleted: nothing more is accepted or stored
        self.changes = 0           # transactions that changed the copy (redundant updates don't)
        self._changed = doc.observe(self._count_change)

    def _count_change(self, _event) -> None:
        self.changes += 1


class _Loading:
    """A document being loaded: what the bus brings meanwhile waits here (see ``YjsHub.open``)."""

    def __init__(self):
        self.done = threading.Event()
        self.buffer: list[tuple[bytes, int | None]] = []
        self.error: BaseException | None = None
        self.deleted = False


class YjsHub:
    """The process's open documents. ``publish(message)`` tells peer processes (:mod:`.bus`)."""

    owners: AwarenessOwners | None = None  # which socket holds which Yjs client id (set by Realtime)

    def __init__(self, store: YStore, publish: Callable[..., None], *, compact_every: int = 200,
                 send: Callable[["OpenDoc", list, bytes], None] | None = None):
        self.store = store
        self.publish = publish
        self.send = send or (lambda state, sids, update: None)  # an update to some local sockets
        self.on_stored: Callable[["OpenDoc", str | None], None] = lambda state, user_id: None
        self.compact_every = compact_every
        self.docs: dict[DocKey, OpenDoc] = {}
        self._loading: dict[DocKey, _Loading] = {}
        self._lock = threading.RLock()

    # --- loading and storage -------------------------------------------------------------

    def prepare(self, slug: str) -> None:
        self.store.prepare(slug)

    def open(self, slug: str, key: DocKey, created_by: str | None, sid: str,
             fetch: Callable[[], dict | None], skip: ycontent.Skip = lambda name: False) -> OpenDoc:
        """The open document, loaded (seeded first if it never was) on its first open here.

        The document is registered before the stored records are read: updates the bus brings
        during the load are buffered and applied after it (updates commute, so one already in
        the records is harmless). ``fetch`` reads the stored document (None: gone)."""
        while True:
            with self._lock:
                state = self.docs.get(key)
                if state is not None:
                    state.sids.add(sid)
                    return state
                loading = self._loading.get(key)
                mine = loading is None
                if mine:
                    loading = self._loading[key] = _Loading()
            if not mine:  # another socket of this process is loading it: wait and share
                loading.done.wait(60)
                if loading.error is not None:
                    raise loading.error
                continue
            try:
                head = self.store.ensure_seeded(slug, key, fetch, skip)
                doc, head, leftover = self.store.load(slug, key, head=head)
            except BaseException as exc:
                with self._lock:
                    self._loading.pop(key, None)
                loading.error = exc
                loading.done.set()
                raise
            state = OpenDoc(key, slug, created_by, doc)
            state.head_version = (head or {}).get("version", 0)
            # Left over from a process that never compacted (a crash): the next close or idle
            # sweep compacts them, even if nobody here writes.
            state.stored_since_compaction = leftover
            state.last_stored = time.time() if leftover else 0.0
            with self._lock:
                self._loading.pop(key, None)
                for update, version in loading.buffer:
                    state.doc.apply_update(update)
                    state.head_version = max(state.head_version, version or 0)
                if loading.deleted:
                    loading.error = NotFound("document not found")
                else:
                    self.docs[key] = state
                    state.sids.add(sid)
            loading.done.set()
            if loading.error is not None:
                raise loading.error
            return state

    def close(self, key: DocKey, sid: str) -> bytes | None:
        """Unsubscribe ``sid``; returns an awareness update removing its clients (to broadcast)."""
        with self._lock:
            state = self.docs.get(key)
            if state is None:
                return None
            state.sids.discard(sid)
            if not state.sids:
                self.docs.pop(key, None)
                if state.stored_since_compaction:
                    self.store.compact(state.slug, key)
        # Its round trips to Redis hold up nobody's open: this document's copy is another's now.
        return self._awareness_removal(state, sid)

    def drop(self, key: DocKey) -> OpenDoc | None:
        """The document was deleted: forget it without compacting; a load in progress fails."""
        with self._lock:
            loading = self._loading.get(key)
            if loading is not None:
                loading.deleted = True
            state = self.docs.pop(key, None)
        if state is not None:
            with state.lock:
                state.closed = True
        return state

    def store_update(self, state: OpenDoc, update: bytes, user_id: str | None) -> None:
        record_id = self.store.insert_update(state.slug, state.key, update, user_id)
        if state.closed:  # deleted while we stored: take it back (see ``drop``)
            self.store.remove(state.slug, record_id)
            raise NotFound("document not found")
        state.stored_since_compaction += 1
        state.last_stored = time.time()
        self.on_stored(state, user_id)
        if state.stored_since_compaction >= self.compact_every:
            if self.store.compact(state.slug, state.key):
                state.stored_since_compaction = 0

    def compact_idle(self, idle_seconds: float) -> None:
        now = time.time()
        for state in list(self.docs.values()):
            if state.stored_since_compaction and now - state.last_stored >= idle_seconds:
                if self.store.compact(state.slug, state.key):
                    state.stored_since_compaction = 0

    def compact_all(self) -> None:
        """At shutdown: every open document with stored updates becomes one snapshot."""
        for state in list(self.docs.values()):
            if state.stored_since_compaction and not state.closed:
                if self.store.compact(state.slug, state.key, blocking=True):
                    state.stored_since_compaction = 0

    def catch_up(self, state: OpenDoc) -> None:
        """Make the open copy hold every stored update, and send what it lacked to its sockets.

        Decided by state vectors, not by the head's version: an update another process stored
        while the bus could not relay it (a Redis restart) changes no version, and a commit from
        a copy without it would store text missing acknowledged edits."""
        doc, head, _ = self.store.load(state.slug, state.key)
        with state.lock:
            missing = doc.get_update(state.doc.get_state())
        sids = self.apply_local(state, missing, head["version"] if head else None)
        if sids:
            self.send(state, sids, missing)

    def apply_local(self, state: OpenDoc, update: bytes, version: int | None) -> list[str]:
        """Apply a server update to the open copy; returns the local sockets to send it to."""
        with state.lock:
            before = state.changes
            state.doc.apply_update(update)
            state.head_version = max(state.head_version, version or 0)
            return list(state.sids) if state.changes != before else []

    # --- y-protocols ---------------------------------------------------------------------

    def handle(self, state: OpenDoc, message: bytes, *, can_edit: bool, user_id: str | None,
               relay: Callable[[bytes], None] | None = None) -> tuple[list[bytes], bytes | None]:
        """Apply one sync frame from a client: returns (frames for the sender, the update applied).
        ``relay`` gets it before the store and the bus (most of an update's server time,
        ``bench.yjs``): the sender's ack still waits for the store; a peer that saw an update whose
        store failed holds what this copy holds, and the next save writes it. A frame that does
        not decode raises InvalidMessage before anything changes."""
        if len(message) < 3 or message[0] != YMessageType.SYNC:
            raise InvalidMessage("yjs message must be a y-protocols sync frame (send awareness on 'awareness')")
        kind = message[1]
        try:
            payload = Decoder(message[2:]).read_message()
        except (IndexError, RuntimeError, ValueError):
            payload = None
        if payload is None:
            raise InvalidMessage("malformed y-protocols frame")
        if kind == YSyncMessageType.SYNC_STEP1:
            with state.lock:
                try:
                    reply = handle_sync_message(message[1:], state.doc)
                except (ValueError, RuntimeError, IndexError) as exc:
                    raise InvalidMessage(f"malformed state vector: {exc}")
                frames = [reply] if reply else []
                if can_edit:  # ask the client for what it has and we lack
                    frames.append(create_sync_message(state.doc))
            return frames, None
        if kind not in (YSyncMessageType.SYNC_STEP2, YSyncMessageType.SYNC_UPDATE):
            raise InvalidMessage("unknown y-protocols sync message type")
        if not can_edit:
            raise PermissionError("your role may sync this document but not change it")
        if payload == EMPTY_UPDATE:
            return [], None
        with state.lock:
            if state.closed:
                raise NotFound("document not found")
            before_state, before = state.doc.get_state(), state.changes
            try:
                state.doc.apply_update(payload)
            except (ValueError, RuntimeError) as exc:
                raise InvalidMessage(f"malformed Yjs update: {exc}")
            if _has_new_structs(payload, state.doc.get_state()):  # held back: it builds on what we lack
                raise InvalidMessage("this update builds on changes the server never accepted (a refused "
                                     "update): drop the local document and sync again", code="out_of_sync")
            if state.changes == before and not _has_new_structs(payload, before_state):
                return [], None  # nothing we did not have (a rejoin's delete set): no record
        if relay is not None:
            relay(payload)
        self.store_update(state, payload, user_id)
        self.publish(bus.YjsUpdate(state.key, payload))
        return [], payload

    def apply_remote(self, key: DocKey, update: bytes, version: int | None = None) -> None:
        """An update another process stored: keep our copy current and pass it to our sockets
        that have the document open (buffered while the document is loading here)."""
        with self._lock:
            state = self.docs.get(key)
            if state is None:
                loading = self._loading.get(key)
                if loading is not None:
                    loading.buffer.append((update, version))
                return
        sids = self.apply_local(state, update, version)
        if sids:
            self.send(state, sids, update)

    def awareness(self, state: OpenDoc, sid: str, update: bytes, *, user_id: str, user_name: str
                  ) -> tuple[bytes | None, list[int]]:
        """Validate an awareness update from ``sid`` and keep only the entries (states and
        removals) for client ids the socket holds, claiming free ones; every state kept carries
        the server's identity (:func:`~.awareness.stamp_state`). Returns the update to relay (None
        when nothing is left) and the client ids dropped because another user's socket holds them."""
        entries = parse_awareness(update)
        with state.lock:
            meta = dict(state.awareness.meta)
        if self.owners is not None:  # each entry goes out with a clock every peer takes
            entries, refused = self.owners.admit(state.key, sid, user_id, entries, meta)
        else:
            entries, refused = [(c, out_clock(meta[c]["clock"] if c in meta else 0, k, st), st)
                                for c, k, st in entries], set()
        kept = [(client, clock, None if st is None else stamp_state(st, user_id, user_name))
                for client, clock, st in entries]
        dropped = sorted(refused)
        if not kept:
            return None, dropped
        accepted = encode_awareness(kept)
        with state.lock:
            state.awareness.apply_awareness_update(accepted, sid)
        state.awareness_clients.setdefault(sid, set()).update(client for client, _, _ in kept)
        self.publish(bus.Awareness(state.key, accepted))
        return accepted, dropped

    def claim_update(self, state: OpenDoc, sid: str, user_id: str, update: bytes) -> None:
        """A socket's own Yjs update: the client ids it writes under are its own from now on
        (free ones only; a refused claim refuses nothing here, the role decides about writes)."""
        if self.owners is not None:
            try:
                self.owners.claim(state.key, sid, user_id, update_clients(update))
            except (RedisConnectionError, RedisTimeoutError):
                pass  # Redis is away: the update is stored already, its claim comes with the next one

    def local_awareness(self, state: OpenDoc) -> bytes | None:
        """The states of this process's sockets' clients only (each process answers for its own
        when a socket elsewhere opens the document: see ``Realtime.answer_awareness``)."""
        with state.lock:
            clients = {c for owned in state.awareness_clients.values() for c in owned}
            local = [c for c in clients if state.awareness.states.get(c) is not None]
            return state.awareness.encode_awareness_update(local) if local else None

    def awareness_snapshot(self, state: OpenDoc) -> bytes | None:
        """Every known client's awareness state, for a client that just opened the document."""
        with state.lock:
            others = [c for c, st in state.awareness.states.items()
                      if c != state.awareness.client_id and st is not None]
            return state.awareness.encode_awareness_update(others) if others else None

    def apply_remote_awareness(self, key: DocKey, update: bytes) -> None:
        state = self.docs.get(key)
        if state is not None:
            with state.lock:
                state.awareness.apply_awareness_update(update, "remote")

    def _awareness_removal(self, state: OpenDoc, sid: str) -> bytes | None:
        clients = state.awareness_clients.pop(sid, set())
        # The peer's own clock, as y-protocols' ``removeAwarenessStates`` does: a higher one
        # would make every peer ignore the client's states until its clock passed it.
        with state.lock:
            clocks = {client: state.awareness.meta.get(client, {}).get("clock", 0) for client in clients}
            shown = {client for client in clients if client in state.awareness.states}
        if self.owners is not None:  # not the ids another socket of the user took over meanwhile
            clients &= self.owners.release(state.key, sid, clocks)
        clients &= shown  # a client that removed its state itself on leaving (stock providers do)
        if not clients:
            return None
        update = encode_awareness([(client, clocks[client], None) for client in sorted(clients)])
        with state.lock:
            state.awareness.apply_awareness_update(update, sid)
        self.publish(bus.Awareness(state.key, update))
        return update

    # --- commit to content ---------------------------------------------------------------

    def content_patch(self, state: OpenDoc, skip: ycontent.Skip = lambda name: False) -> dict:
        """The ``content.<field>`` patch the document's ``Y.Map("content")`` stands for."""
        with state.lock:
            fields = state.doc.get(CONTENT_MAP, type=Map)
            patch = {}
            for name, value in fields.items():
                if not FIELD_RE.match(name):
                    raise InvalidMessage(f"Y.Map entry {name!r} is not a valid field name")
                if skip(name):
                    raise InvalidMessage(f"field {name!r} is encrypted at rest and cannot be edited in Yjs")
                patch[f"content.{name}"] = to_python(value)
        if not patch:
            raise InvalidMessage(f"the Y.Map {CONTENT_MAP!r} of this document is empty: nothing to commit")
        return patch


to_python = ycontent.to_python


def _has_new_structs(update: bytes, state_vector: bytes) -> bool:
    """Does ``update`` carry items beyond ``state_vector`` (held back, waiting for ones we lack)?"""
    from pycrdt import get_update

    try:
        return get_update(update, state_vector)[:1] != b"\x00"
    except (ValueError, RuntimeError):
        return True


__all__ = ["YjsHub", "OpenDoc", "doc_room", "create_update_message", "to_python"]
