"""Batched lookups of source documents by id, or one scan of a collection when much of it is wanted."""

from __future__ import annotations

from typing import Iterable

from bson import ObjectId

from core.db import estimated_count, is_embedded

# $in lists are chunked so each query stays far below MongoDB's 16 MB document limit. The
# embedded stores (litemongo, mongomock) test every candidate against the whole $in list, so a
# query costs candidates x list length there: small chunks keep a lookup about as cheap per
# document as a scan (measured: 16-id chunks ~ a full scan per document, 200-id chunks ~4x).
LOOKUP_CHUNK = 5000
EMBEDDED_LOOKUP_CHUNK = 16
# Once a walk level wants this fraction of a collection, scan it once and keep it for later
# levels (a deep clone of most of a project reads each document exactly once).
SCAN_RATIO = 0.2
MIN_SCAN = 32  # below this many documents lookups always win, so small clones never count


def lookup_chunk(db) -> int:
    return EMBEDDED_LOOKUP_CHUNK if is_embedded(db) else LOOKUP_CHUNK


class SourceLookups:
    """Reads the source project's documents for one plan, remembering scans and counts."""

    def __init__(self, ext, src_db):
        self.ext = ext
        self.src_db = src_db
        self.chunk = lookup_chunk(src_db)
        self._scanned: dict[str, dict[str, dict]] = {}
        self._counts: dict[str, int] = {}
        self._looked_up: dict[str, int] = {}  # documents fetched by id so far, per collection
        self._oids: dict[str, ObjectId] = {}
        self.collections = list(ext.content_types)

    def fetch(self, collection: str, ids: Iterable[str]) -> list[tuple[str, dict]]:
        """(id, document) for those of ``ids`` that exist in ``collection``."""
        ids = list(ids)
        scanned = self._scanned.get(collection)
        looked_up = self._looked_up.get(collection, 0)
        wanted = looked_up + len(ids)
        if scanned is None and wanted >= MIN_SCAN and wanted >= SCAN_RATIO * self._count(collection) > 0:
            # Much of the collection is wanted (counting what earlier levels looked up): one
            # scan, kept for the walk's later levels, costs less than more id lookups.
            scanned = self._scanned[collection] = {
                str(d["_id"]): d for d in self._decrypted(collection, self.src_db[collection].find({}))}
        if scanned is not None:
            return [(i, scanned[i]) for i in ids if i in scanned]
        coll = self.src_db[collection]
        out: list[tuple[str, dict]] = []
        oids = self._oids
        for start in range(0, len(ids), self.chunk):
            chunk = []
            for i in ids[start:start + self.chunk]:
                oid = oids.get(i)
                if oid is None:
                    oid = oids[i] = ObjectId(i)  # unknown ids are asked of several collections
                chunk.append(oid)
            out.extend((str(d["_id"]), d)
                       for d in self._decrypted(collection, coll.find({"_id": {"$in": chunk}})))
        self._looked_up[collection] = looked_up + len(out)
        return out

    def _decrypted(self, collection: str, docs: Iterable[dict]) -> Iterable[dict]:
        ctype = self.ext.content_types[collection]
        if not ctype.sensitive_fields:
            return docs
        codec = self.ext.codec
        out = list(docs)
        for doc in out:
            codec.decrypt_document(ctype, doc)
        return out

    def _count(self, collection: str) -> int:
        if collection not in self._counts:
            self._counts[collection] = estimated_count(self.src_db[collection])
        return self._counts[collection]

    def resolve(self, wanted: dict[str | None, set[str]]) -> dict[str, tuple[str, dict]]:
        """Batched lookups: known collections directly, unknown ones across every content collection."""
        found: dict[str, tuple[str, dict]] = {}
        for collection, ids in wanted.items():
            if collection is None or not ids or collection not in self.ext.content_types:
                continue
            for ident, doc in self.fetch(collection, ids):
                found[ident] = (collection, doc)
        unknown = {i for i in wanted.get(None, ()) if i not in found}
        # Collections already scanned answer from memory: ask them before querying the others.
        for collection in sorted(self.collections, key=lambda c: c not in self._scanned):
            if not unknown:
                break
            for ident, doc in self.fetch(collection, unknown):
                found[ident] = (collection, doc)
                unknown.discard(ident)
        return found
