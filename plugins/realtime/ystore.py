"""Stored Yjs state in the project database's ``operations`` collection, shared by every process.

Records per document (``projectId``, ``collection``, ``documentId``): ``kind: "update"`` (one per
accepted update, written by the process that accepted it), at most one ``kind: "snapshot"``
(compaction merges updates into it; the server's seed is the first one) and one ``kind: "head"``:
the stored document's ``version`` and ``content`` the Y.Doc was last brought in step with. The
head exists from the first open on; seeding, applying a write made elsewhere, compaction and
deletion of one document run under one Redis lock, so they hold across server processes, CLI
commands and workers of one installation.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any, Callable

from bson import Binary
from pycrdt import Doc

from core.content import serialize
from core.errors import NotFound
from core.models import utcnow

from . import ycontent
from .doclock import DEFAULT_LEASE, lease_factory

OPERATIONS = "operations"
DocKey = tuple  # (projectId, collection, documentId)


def content_json(document: dict) -> dict:
    """A stored document's ``content`` as JSON values (what the Y.Doc holds)."""
    return serialize({"content": document.get("content") or {}})["content"]


class YStore:
    def __init__(self, db_for_slug: Callable[[str], Any], lock_factory: Callable[[str], Any]):
        self.db_for_slug = db_for_slug
        self.lock_factory = lock_factory
        self._prepared: set[str] = set()
        # This process's Yjs client id for server-made changes: safe to reuse because every
        # change is made on a document loaded, under the lock, with all of the earlier ones.
        self.client_id = secrets.randbits(52) or 1

    def prepare(self, slug: str) -> None:
        """The operations collection and its index: made when the project is created, by that
        one process (the embedded store cannot create one collection from two processes at
        once), and made sure of once per process for projects created before."""
        self.db_for_slug(slug)[OPERATIONS].create_index([("collection", 1), ("documentId", 1), ("kind", 1)])
        self._prepared.add(slug)

    def ops(self, slug: str):
        if slug not in self._prepared:
            self.prepare(slug)
        return self.db_for_slug(slug)[OPERATIONS]

    @staticmethod
    def query(key: DocKey) -> dict:
        return {"projectId": key[0], "collection": key[1], "documentId": key[2]}

    @contextlib.contextmanager
    def locked(self, key: DocKey, *, blocking: bool = True):
        """The document's lock (a :class:`~.doclock.Lease`: call its ``check()`` right before a
        write it guards); yields False (and holds nothing) when not ``blocking`` and taken."""
        lock = self.lock_factory("ydoc:" + ":".join(key))
        if not lock.acquire(blocking=blocking, blocking_timeout=30 if blocking else None):
            if blocking:
                raise TimeoutError(f"could not lock Yjs document {':'.join(key)}")
            yield False
            return
        try:
            yield lock
        finally:
            lock.release()

    # --- reading -------------------------------------------------------------------------

    def head(self, slug: str, key: DocKey) -> dict | None:
        return self.ops(slug).find_one({**self.query(key), "kind": "head"})

    def load(self, slug: str, key: DocKey, client_id: int | None = None, head: dict | None = None
             ) -> tuple[Doc, dict | None, int]:
        """(document, head, stored updates not yet compacted): the head is read first (or given,
        read just before by the caller), so the document holds at least every change the head
        says it does.

        The updates are read before the snapshot, without the document's lock: a compaction
        (another process's, meanwhile) first writes a snapshot holding the updates it merged,
        then deletes them, so an update gone from the first read is in the snapshot the second
        read finds. Read the other way round, a compaction between the two reads lost every
        update it merged (a second process opening a document mid-stream missed typed text)."""
        ops = self.ops(slug)
        head = head if head is not None else self.head(slug, key)
        records = list(ops.find({**self.query(key), "kind": "update"}).sort([("_id", 1)]))
        snapshot = ops.find_one({**self.query(key), "kind": "snapshot"})
        doc = Doc(client_id=client_id) if client_id else Doc()
        if snapshot:
            doc.apply_update(bytes(snapshot["update"]))
        for record in records:
            doc.apply_update(bytes(record["update"]))  # updates commute: order is only for speed
        return doc, head, len(records)

    # --- seeding and writes made elsewhere -------------------------------------------------

    def ensure_seeded(self, slug: str, key: DocKey, fetch: Callable[[], dict | None],
                      skip: ycontent.Skip) -> dict | None:
        """On the first open anywhere, build the Y.Doc from the stored document, exactly once:
        under the lock, only while there is no head. A document with Yjs state from before the
        server seeded keeps it and only gets a head. NotFound if the document is gone. Returns
        the head it found (a seeded document's open reads it once, not twice), None when it
        seeded."""
        head = self.head(slug, key)
        if head is not None:
            return head
        with self.locked(key):
            if self.head(slug, key) is not None:
                return None
            document = fetch()  # read under the lock: a write landing now is in it, or follows
            if document is None:
                raise NotFound("document not found")
            content = content_json(document)
            ops = self.ops(slug)
            if ops.find_one({**self.query(key), "kind": {"$in": ["snapshot", "update"]}}) is None:
                doc = Doc()
                ycontent.seed(doc, content, skip)
                ops.insert_one({**self.query(key), "kind": "snapshot", "update": Binary(doc.get_update()),
                                "updates": 0, "seeded": True, "createdAt": utcnow()})
            self._set_head(slug, key, document.get("version", 1), content)
            # A write that landed after the read above and looked for the head before it
            # existed did nothing (see ``sync``): catch up with it here.
            current = fetch()
            if current is not None and current.get("version", 1) > document.get("version", 1):
                self.sync_locked(slug, key, current, skip)

    def _set_head(self, slug: str, key: DocKey, version: int, content: dict) -> None:
        self.ops(slug).replace_one({**self.query(key), "kind": "head"},
                                   {**self.query(key), "kind": "head", "version": version, "content": content,
                                    "updatedAt": utcnow()}, upsert=True)

    def set_head(self, slug: str, key: DocKey, document: dict) -> None:
        """After a Yjs commit (caller holds the lock): the Y.Doc and the stored document agree."""
        self._set_head(slug, key, document.get("version", 1), content_json(document))

    def sync_locked(self, slug: str, key: DocKey, document: dict, skip: ycontent.Skip
                    ) -> tuple[bytes | None, int | None]:
        """Bring the stored Y.Doc in step with ``document`` (the stored document, after a write
        that did not come from Yjs); the caller holds the lock. Returns (the stored server
        update or None, the version the head now has; None if never opened: the first open
        seeds from the stored document)."""
        head = self.head(slug, key)
        if head is None:
            return None, None
        version = document.get("version", 1)
        if head["version"] >= version:  # an older write's hook, late: the newer one did it all
            return None, head["version"]
        doc, _, _ = self.load(slug, key, client_id=self.client_id)
        target = content_json(document)
        update = ycontent.apply_write(doc, head.get("content") or {}, target, skip)
        if update is not None:
            self.insert_update(slug, key, update, None, source="server", version=version)
        self._set_head(slug, key, version, target)
        return update, version

    def sync(self, slug: str, key: DocKey, document: dict, skip: ycontent.Skip):
        """``sync_locked`` under the lock; a document never opened costs one read and no lock
        (a seed in progress re-reads the stored document after writing the head)."""
        if self.head(slug, key) is None:
            return None, None
        with self.locked(key):
            return self.sync_locked(slug, key, document, skip)

    def insert_update(self, slug: str, key: DocKey, update: bytes, user_id: str | None, **extra: Any):
        return self.ops(slug).insert_one({**self.query(key), "kind": "update", "update": Binary(update),
                                          "userId": user_id, "createdAt": utcnow(), **extra}).inserted_id

    def remove(self, slug: str, record_id) -> None:
        self.ops(slug).delete_one({"_id": record_id})

    # --- compaction and deletion -----------------------------------------------------------

    def compact(self, slug: str, key: DocKey, *, blocking: bool = False) -> bool:
        """Merge the snapshot and the stored updates into one snapshot; False if another process
        holds the document's lock (it will do the same work, or the next run will)."""
        with self.locked(key, blocking=blocking) as lease:
            if not lease:
                return False
            ops = self.ops(slug)
            if self.head(slug, key) is None and ops.find_one({**self.query(key), "kind": "snapshot"}) is None:
                ops.delete_many(self.query(key))  # deleted meanwhile: leave nothing behind
                return True
            updates = list(ops.find({**self.query(key), "kind": "update"}))
            if not updates:
                return True
            snapshot = ops.find_one({**self.query(key), "kind": "snapshot"})
            doc = Doc()
            for record in ([snapshot] if snapshot else []) + updates:
                doc.apply_update(bytes(record["update"]))
            merged = {**self.query(key), "kind": "snapshot", "update": Binary(doc.get_update()),
                      "updates": len(updates) + (snapshot or {}).get("updates", 0), "createdAt": utcnow()}
            lease.check()
            # Fenced in the store too: the snapshot is replaced only if it is still the one read
            # above, so a holder whose lease lapsed can never overwrite a newer snapshot with an
            # older merge (and then delete updates only the newer one holds).
            if snapshot is None:
                ops.insert_one(merged)
            else:
                fence = {"_id": snapshot["_id"]}
                if "updates" in snapshot:
                    fence["updates"] = snapshot["updates"]
                if ops.replace_one(fence, merged).matched_count != 1:
                    return False
            # Only the updates read above: ones stored meanwhile stay for the next compaction.
            ops.delete_many({"_id": {"$in": [u["_id"] for u in updates]}})
            return True

    def delete(self, slug: str, key: DocKey) -> None:
        """The document is gone: every record of its Yjs state goes too."""
        with self.locked(key):
            self.ops(slug).delete_many(self.query(key))

    def purge(self, slug: str, key: DocKey) -> None:
        """Records a racing frame stored after ``delete`` (see ``YjsHub.drop``)."""
        self.ops(slug).delete_many(self.query(key))


def ystore_for(app) -> YStore:
    """The app's store (made on first use: server, CLI and worker processes alike)."""
    store = app.extensions.get("realtime.ystore")
    if store is None:
        ext = app.extensions["aladdin"]
        prefix = f"aladdin:realtime:{ext.settings.platform_db}:"
        store = YStore(ext.db.project, lease_factory(ext.jobs.redis, prefix, float(
            ext.settings.get("REALTIME_LOCK_LEASE_SECONDS", DEFAULT_LEASE))))
        app.extensions["realtime.ystore"] = store
    return store
