"""Yjs collaboration: one pycrdt ``Doc`` per open content document, synced with y-protocols frames.

Storage: every accepted update is one record in the project database's ``operations`` collection
(``kind: "update"``), written by the process that received it from a client; other processes
apply it to their copy via Redis but never store it again. Compaction merges the updates into
one ``kind: "snapshot"`` record per document under a Redis lock.

Mapping to content (``yjs_commit``): the Y.Doc of ``{collection}/{documentId}`` has a ``Y.Map``
named ``"content"``; each entry is one field of the document's ``content`` object. A ``Y.Text``
becomes a string, a nested ``Y.Map``/``Y.Array`` a JSON object/array, plain values stay as they
are. Committing writes ``content.<field>`` for every entry through the versioned core write path;
fields absent from the map are left unchanged, and entry names must be plain identifiers.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any, Callable

from bson import Binary
from pycrdt import (Array, Awareness, Decoder, Doc, Encoder, Map, Text, YMessageType, YSyncMessageType,
                    create_sync_message, create_update_message, handle_sync_message)

from core.models import utcnow

from .validation import InvalidMessage

OPERATIONS = "operations"
CONTENT_MAP = "content"
FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
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
        self.stored_since_compaction = 0
        self.last_stored = 0.0


def _state_from_records(records) -> Doc:
    doc = Doc()
    for record in records:
        doc.apply_update(bytes(record["update"]))
    return doc


class YjsHub:
    """The process's open documents. ``publish(kind, key, update)`` tells peer processes."""

    def __init__(self, db_for_slug: Callable[[str], Any], lock_factory: Callable[[str], Any],
                 publish: Callable[[str, DocKey, bytes], None], *, compact_every: int = 200):
        self.db_for_slug = db_for_slug
        self.lock_factory = lock_factory
        self.publish = publish
        self.compact_every = compact_every
        self.docs: dict[DocKey, OpenDoc] = {}
        self._lock = threading.RLock()
        self._prepared: set[str] = set()

    # --- loading and storage -------------------------------------------------------------

    def prepare(self, slug: str) -> None:
        """The operations collection and its index: made when the project is created, by that
        one process (the embedded store cannot create one collection from two processes at
        once), and made sure of once per process for projects created before."""
        self.db_for_slug(slug)[OPERATIONS].create_index([("collection", 1), ("documentId", 1), ("kind", 1)])
        self._prepared.add(slug)

    def _operations(self, slug: str):
        if slug not in self._prepared:
            self.prepare(slug)
        return self.db_for_slug(slug)[OPERATIONS]

    def _query(self, key: DocKey) -> dict:
        return {"projectId": key[0], "collection": key[1], "documentId": key[2]}

    def load(self, slug: str, key: DocKey) -> Doc:
        """Snapshot first, then every update stored after it (updates commute, order is free)."""
        ops = self._operations(slug)
        records = list(ops.find({**self._query(key), "kind": "snapshot"}))
        records += list(ops.find({**self._query(key), "kind": "update"}).sort([("_id", 1)]))
        return _state_from_records(records)

    def open(self, slug: str, key: DocKey, created_by: str | None, sid: str) -> OpenDoc:
        with self._lock:
            state = self.docs.get(key)
            if state is None:
                state = OpenDoc(key, slug, created_by, self.load(slug, key))
                self.docs[key] = state
            state.sids.add(sid)
            return state

    def close(self, key: DocKey, sid: str) -> bytes | None:
        """Unsubscribe ``sid``; returns an awareness update removing its clients (to broadcast)."""
        with self._lock:
            state = self.docs.get(key)
            if state is None:
                return None
            state.sids.discard(sid)
            removal = self._awareness_removal(state, sid)
            if not state.sids:
                self.docs.pop(key, None)
                if state.stored_since_compaction:
                    self.compact(state.slug, key)
            return removal

    def store(self, state: OpenDoc, update: bytes, user_id: str | None) -> None:
        self._operations(state.slug).insert_one({
            **self._query(state.key), "kind": "update", "update": Binary(update),
            "userId": user_id, "createdAt": utcnow()})
        state.stored_since_compaction += 1
        state.last_stored = time.time()
        if state.stored_since_compaction >= self.compact_every:
            self.compact(state.slug, state.key)
            state.stored_since_compaction = 0

    def compact(self, slug: str, key: DocKey) -> bool:
        """Merge the snapshot and the stored updates into one snapshot; False if another process
        holds the document's compaction lock (it will do the same work)."""
        lock = self.lock_factory("compact:" + ":".join(key))
        if not lock.acquire(blocking=False):
            return False
        try:
            ops = self._operations(slug)
            updates = list(ops.find({**self._query(key), "kind": "update"}))
            if not updates:
                return True
            snapshot = ops.find_one({**self._query(key), "kind": "snapshot"})
            records = ([snapshot] if snapshot else []) + updates
            merged = _state_from_records(records).get_update()
            ops.replace_one({**self._query(key), "kind": "snapshot"},
                            {**self._query(key), "kind": "snapshot", "update": Binary(merged),
                             "updates": len(updates) + (snapshot or {}).get("updates", 0),
                             "createdAt": utcnow()}, upsert=True)
            # Only the updates read above: ones stored meanwhile stay for the next compaction.
            ops.delete_many({"_id": {"$in": [u["_id"] for u in updates]}})
            return True
        finally:
            try:
                lock.release()
            except Exception:  # lock expired under a very slow store: the next run redoes it
                pass

    def compact_idle(self, idle_seconds: float) -> None:
        now = time.time()
        for state in list(self.docs.values()):
            if state.stored_since_compaction and now - state.last_stored >= idle_seconds:
                if self.compact(state.slug, state.key):
                    state.stored_since_compaction = 0

    # --- y-protocols ---------------------------------------------------------------------

    def handle(self, state: OpenDoc, message: bytes, *, can_edit: bool, user_id: str | None
               ) -> tuple[list[bytes], bytes | None]:
        """Apply one sync frame from a client: returns (frames for the sender, update to relay).

        A frame that does not decode raises InvalidMessage before anything changes."""
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
            try:
                state.doc.apply_update(payload)
            except (ValueError, RuntimeError) as exc:
                raise InvalidMessage(f"malformed Yjs update: {exc}")
        self.store(state, payload, user_id)
        self.publish("yjs", state.key, payload)
        return [], payload

    def apply_remote(self, key: DocKey, update: bytes) -> None:
        """An update another process accepted (and stored): keep our copy current."""
        state = self.docs.get(key)
        if state is not None:
            with state.lock:
                state.doc.apply_update(update)

    def awareness(self, state: OpenDoc, sid: str, update: bytes) -> None:
        """Validate and apply an awareness update from ``sid`` (remembering its client ids)."""
        clients = parse_awareness(update)
        with state.lock:
            state.awareness.apply_awareness_update(update, sid)
        state.awareness_clients.setdefault(sid, set()).update(c for c, _, _ in clients)
        self.publish("awareness", state.key, update)

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
        if not clients:
            return None
        encoder = Encoder()
        encoder.write_var_uint(len(clients))
        for client in clients:
            clock = state.awareness.meta.get(client, {}).get("clock", 0) + 1
            encoder.write_var_uint(client)
            encoder.write_var_uint(clock)
            encoder.write_var_string("null")
        update = encoder.to_bytes()
        with state.lock:
            state.awareness.apply_awareness_update(update, sid)
        self.publish("awareness", state.key, update)
        return update

    # --- commit to content ---------------------------------------------------------------

    def content_patch(self, state: OpenDoc) -> dict:
        """The ``content.<field>`` patch the document's ``Y.Map("content")`` stands for."""
        with state.lock:
            fields = state.doc.get(CONTENT_MAP, type=Map)
            patch = {}
            for name, value in fields.items():
                if not FIELD_RE.match(name):
                    raise InvalidMessage(f"Y.Map entry {name!r} is not a valid field name")
                patch[f"content.{name}"] = to_python(value)
        if not patch:
            raise InvalidMessage(f"the Y.Map {CONTENT_MAP!r} of this document is empty: nothing to commit")
        return patch


def to_python(value: Any) -> Any:
    if isinstance(value, Text):
        return str(value)
    if isinstance(value, (Map, Array)):
        return value.to_py()
    return value


def parse_awareness(update: bytes) -> list[tuple[int, int, Any]]:
    """Decode an awareness update fully (client id, clock, JSON state) or raise InvalidMessage."""
    try:
        decoder = Decoder(update)
        count = decoder.read_var_uint()
        if count > 1000:
            raise InvalidMessage("awareness update lists too many clients")
        out = []
        for _ in range(count):
            client = decoder.read_var_uint()
            clock = decoder.read_var_uint()
            raw = decoder.read_message()
            if raw is None:
                raise InvalidMessage("malformed awareness update")
            state = json.loads(raw.decode("utf-8"))
            if state is not None and not isinstance(state, dict):
                raise InvalidMessage("awareness state must be an object or null")
            out.append((client, clock, state))
        if decoder.length:
            raise InvalidMessage("trailing bytes after the awareness update")
        return out
    except InvalidMessage:
        raise
    except (IndexError, RuntimeError, ValueError, UnicodeDecodeError):
        raise InvalidMessage("malformed awareness update")


__all__ = ["YjsHub", "OpenDoc", "doc_room", "parse_awareness", "create_update_message", "to_python"]
