"""Batched lookups of source documents by id, sized for the backend (``core.db.find_by_ids``).

Every lookup is narrowed to what the cloning user may view (their ``content:view`` read filter,
combined into the same query): a document hidden from them is simply not found, exactly like a
missing one. :meth:`SourceLookups.hidden` is the one place that asks about hidden documents, to
report (never copy) the references left pointing at them.

Nothing here scans a collection: a plan reads the documents its closure names (and probes the
ids whose collection is unknown by key), so its cost per document stays the same however large
the closure and whatever else the project holds."""

from __future__ import annotations

from typing import Iterable

from bson import ObjectId
from bson.errors import InvalidId

from core.db import find_by_ids, find_by_values


class SourceLookups:
    """Reads the source project's documents for one plan (read filters and ObjectIds made once)."""

    def __init__(self, ext, src_db, project=None, reader=None):
        """``reader``: the user whose read rules apply (``None`` or ``SYSTEM``: every document)."""
        from core.content import SYSTEM

        self.ext = ext
        self.src_db = src_db
        self.project = project
        self.reader = SYSTEM if reader is None else reader
        self._filters: dict = {}
        self._oids: dict[str, ObjectId] = {}
        self.collections = list(ext.content_types)

    def fetch(self, collection: str, ids: Iterable[str]) -> list[tuple[str, dict]]:
        """(id, document) for those of ``ids`` that exist in ``collection`` and the reader may view."""
        rf = self.read_filter(collection)
        if rf.nothing:
            return []
        docs = find_by_ids(self.src_db[collection], self._object_ids(ids), rf.query)
        return [(str(d["_id"]), d) for d in self._decrypted(collection, docs)]

    def members(self, collection: str, field: str, ids: Iterable[str]) -> list[tuple[str, dict]]:
        """(id, document) of the ``collection`` documents whose ``field`` names one of ``ids`` (a
        ``belongs_to`` declaration) and that the reader may view: a hidden member is not found,
        and nothing reports it (no copied document names it). One query per batch of ids, on the
        index ``ensure_indexes`` puts on every ``belongs_to`` field."""
        rf = self.read_filter(collection)
        if rf.nothing:
            return []
        docs = find_by_values(self.src_db[collection], field, sorted(ids), rf.query)
        return [(str(d["_id"]), d) for d in self._decrypted(collection, docs)]

    def _object_ids(self, ids: Iterable[str]) -> list[ObjectId]:
        """ObjectIds of ``ids`` (24-hex strings), made once per plan: unknown ids are asked of
        several collections."""
        oids, out = self._oids, []
        for i in ids:
            oid = oids.get(i)
            if oid is None:
                try:
                    oid = oids[i] = ObjectId(i)
                except (InvalidId, TypeError):
                    continue
            out.append(oid)
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
        asked (none at all without row-level rules), with batched ``_id``-only lookups per collection
        that match exactly the hidden documents (``$nor`` of the read filter)."""
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
            hidden_query = None if rf.nothing else {"$nor": [rf.query]}
            oids = self._object_ids(sorted(i for i in ids if i not in found))
            for d in find_by_ids(self.src_db[collection], oids, hidden_query, {"_id": 1}):
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

    def resolve(self, wanted: dict[str | None, set[str]]) -> dict[str, tuple[str, dict]]:
        """Batched lookups: known collections directly, unknown ones across every content collection."""
        found: dict[str, tuple[str, dict]] = {}
        for collection, ids in wanted.items():
            if collection is None or not ids or collection not in self.ext.content_types:
                continue
            for ident, doc in self.fetch(collection, ids):
                found[ident] = (collection, doc)
        unknown = {i for i in wanted.get(None, ()) if i not in found}
        # A miss is a key lookup that decodes nothing, so probing every collection stays cheap.
        for collection in self.collections:
            if not unknown:
                break
            for ident, doc in self.fetch(collection, unknown):
                found[ident] = (collection, doc)
                unknown.discard(ident)
        return found
