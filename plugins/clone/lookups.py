"""Batched lookups of source documents by id, or one scan of a collection when much of it is wanted.

Every lookup and scan is narrowed to what the cloning user may view (their ``content:view``
read filter, combined into the same query): a document hidden from them is simply not found,
exactly like a missing one. :meth:`SourceLookups.hidden` is the one place that asks about hidden
documents, to report (never copy) the references left pointing at them."""

from __future__ import annotations

from typing import Iterable

from bson import ObjectId
from bson.errors import InvalidId

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

    def __init__(self, ext, src_db, project=None, reader=None):
        """``reader``: the user whose read rules apply (``None`` or ``SYSTEM``: every document)."""
        from core.content import SYSTEM

        self.ext = ext
        self.src_db = src_db
        self.project = project
        self.reader = SYSTEM if reader is None else reader
        self._filters: dict = {}
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
            rf = self.read_filter(collection)
            docs = () if rf.nothing else self.src_db[collection].find(rf.combine(None))
            scanned = self._scanned[collection] = {str(d["_id"]): d for d in self._decrypted(collection, docs)}
        if scanned is not None:
            return [(i, scanned[i]) for i in ids if i in scanned]
        rf = self.read_filter(collection)
        if rf.nothing:
            return []
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
                       for d in self._decrypted(collection, coll.find(rf.combine({"_id": {"$in": chunk}}))))
        self._looked_up[collection] = looked_up + len(out)
        return out

    def read_filter(self, collection: str):
        """The reader's read filter for ``collection`` (asked once per collection and plan)."""
        rf = self._filters.get(collection)
        if rf is None:
            rf = self._filters[collection] = self.ext.content.read_filter(self.reader, self.project, collection)
        return rf

    def hidden(self, wanted: dict[str | None, set[str]]) -> dict[str, str]:
        """Those of ``wanted`` (ids by known collection, ``None``: any) that exist but are hidden
        from the reader: id -> collection. Only collections whose read filter hides something are
        asked (none at all without row-level rules), one ``_id``-only query per collection and
        chunk that matches exactly the hidden documents (``$nor`` of the read filter)."""
        found: dict[str, str] = {}
        restricted = [c for c in self.collections if not self.read_filter(c).everything]
        if not restricted:
            return found
        per_collection: dict[str, set[str]] = {}
        anywhere = set(wanted.get(None, ()))
        for collection in restricted:
            ids = anywhere | set(wanted.get(collection, ()))
            if ids:
                per_collection[collection] = ids
        for collection, ids in per_collection.items():
            rf = self.read_filter(collection)
            oids = []
            for i in sorted(ids):
                if i in found:
                    continue
                try:
                    oids.append(self._oids.get(i) or ObjectId(i))
                except (InvalidId, TypeError):
                    continue
            coll = self.src_db[collection]
            for start in range(0, len(oids), self.chunk):
                query: dict = {"_id": {"$in": oids[start:start + self.chunk]}}
                if not rf.nothing:
                    query = {"$and": [query, {"$nor": [rf.query]}]}
                for d in coll.find(query, {"_id": 1}):
                    found.setdefault(str(d["_id"]), collection)
        return found

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
