"""Clone planning: walk the root's reference closure, assign every new id, rewrite copies in memory.

Nothing here writes; the executor takes the finished :class:`ClonePlan` and writes it in bulk."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import gc
import re
import threading
from collections import defaultdict
from typing import Any, Iterable, Iterator, NamedTuple

from bson import ObjectId

from core.content import PATCH_KEY_RE, get_path, set_path, unset_path
from core.errors import AladdinError, NotFound
from core.db import estimated_count, is_embedded
from core.graph import NodeRef, Row
from core.media import safe_filename
from core.models import utcnow

HEX24 = re.compile(r"[0-9a-f]{24}")
MEDIA_KEY_SUFFIXES = ("ImageId", "VideoId", "AudioId", "mediaId")
ALWAYS_DROPPED = ("brainValidated", "userApproved")
_DROPPED = frozenset(ALWAYS_DROPPED)
MEDIA_COLLECTION = "media"
RELATED = "relatedDocuments"
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


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a clone plans and writes.

    A large clone keeps every source document, copy and reference alive until it is written; each
    full collection would traverse all of them and the rest of the heap, for nothing (they are
    acyclic and freed by reference counting). That was about a third of a 5,000-document clone.
    Process-wide, so nested and concurrent clones count holders; the last one out restores it."""
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


def lookup_chunk(db) -> int:
    return EMBEDDED_LOOKUP_CHUNK if is_embedded(db) else LOOKUP_CHUNK


def is_media_key(key: str) -> bool:
    return key.endswith(MEDIA_KEY_SUFFIXES)


def is_id_key(key: str) -> bool:
    return key.endswith("Id") or key.endswith("Ids")


def _id_str(value: Any) -> str | None:
    """The id a reference value names, if it looks like one (24 lowercase hex or an ObjectId)."""
    if isinstance(value, str):
        return value if len(value) == 24 and HEX24.fullmatch(value) else None
    if isinstance(value, ObjectId):
        return str(value)
    return None


# Key names repeat across thousands of documents, so each is classified once, as bit flags:
# _ID an id key, _MEDIA a media id key, _DROP always dropped from copies. List items are judged
# by their key without the plural "s" (_ITEM_* flags).
_ID, _MEDIA, _DROP, _ITEM_ID, _ITEM_MEDIA = 1, 2, 4, 8, 16
_KEY_FLAGS: dict[str, int] = {}
_KIND_CACHE_LIMIT = 100_000  # content keys are user data: bound the memo


def _key_flags(key: str) -> int:
    flags = 0
    if is_id_key(key):
        flags |= _ID | _ITEM_ID
        if is_media_key(key):
            flags |= _MEDIA
        if is_media_key(key.removesuffix("s")):
            flags |= _ITEM_MEDIA
    if key in _DROPPED:
        flags |= _DROP
    if len(_KEY_FLAGS) < _KIND_CACHE_LIMIT:
        _KEY_FLAGS[key] = flags
    return flags


class Ref(NamedTuple):
    """One reference found in a source document."""

    loc: tuple                # where the id sits: keys and list indexes from the document root
    id: str                   # the id it names
    collection: str | None    # known collection, or None when it must be resolved by lookup
    explicit: bool            # declared (relatedDocuments, reference fields, media keys): dangling is reported
    media: bool = False       # named like a media reference
    label: str | None = None  # the reported path when it is not ``loc`` dotted

    @property
    def path(self) -> str:
        """Dotted path for reports, e.g. ``content.rivalId`` or ``relatedDocuments.0``."""
        return self.label if self.label is not None else ".".join(map(str, self.loc))


class _ScanRules(NamedTuple):
    """Per-collection reference rules, resolved once per plan."""

    declared: tuple[tuple[tuple[str, ...], str, str | None], ...]  # (parts, dotted, collection)
    declared_locs: frozenset                                         # parts of declared paths
    drops: tuple[tuple[str, ...], ...]                               # hook drop paths, split


@dataclasses.dataclass
class MediaCopy:
    source_id: str
    new_id: str
    source_key: str
    target_key: str
    size: int
    filename: str

    def as_dict(self) -> dict:
        return {"sourceId": self.source_id, "id": self.new_id, "sourceKey": self.source_key,
                "storageKey": self.target_key, "bytes": self.size}


@dataclasses.dataclass
class CloneOptions:
    collection: str
    document_id: str
    deep: bool = True
    include_media: bool = True
    include_relationships: bool = True
    overrides: dict = dataclasses.field(default_factory=dict)
    preserve_ids: bool = False

    @classmethod
    def from_request(cls, body: dict) -> "CloneOptions":
        return cls(collection=body["contentType"], document_id=body["documentId"],
                   deep=body.get("depth", "deep") == "deep",
                   include_media=body.get("includeMedia", True),
                   include_relationships=body.get("includeRelationships", True),
                   overrides=dict(body.get("overrides") or {}),
                   preserve_ids=body.get("preserveIds", False))

    def as_params(self) -> dict:
        return {"contentType": self.collection, "documentId": self.document_id,
                "depth": "deep" if self.deep else "shallow", "includeMedia": self.include_media,
                "includeRelationships": self.include_relationships, "overrides": self.overrides,
                "preserveIds": self.preserve_ids}


@dataclasses.dataclass
class ClonePlan:
    """Everything a clone will write, decided before the first write.

    A copy shares with its source document the nested objects it does not change (the copy
    rewrites ids copy-on-write); neither is mutated afterwards, except a copy's top level."""

    source: Any
    target: Any
    options: CloneOptions
    root: tuple[str, str]                                   # (collection, source id)
    sources: dict[tuple[str, str], dict]                    # source documents by (collection, id)
    id_map: dict[str, str]                                  # source id -> new id
    copies: dict[str, list[dict]] = dataclasses.field(default_factory=dict)  # collection -> new docs
    media: list[MediaCopy] = dataclasses.field(default_factory=list)
    relationships: list[Row] = dataclasses.field(default_factory=list)  # rows on the target ids
    dangling: list[dict] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    new_oids: dict[str, ObjectId] = dataclasses.field(default_factory=dict, repr=False)  # source id -> new _id

    @property
    def new_root_id(self) -> str:
        return self.id_map[self.root[1]]

    @property
    def document_count(self) -> int:
        return len(self.sources)

    def documents_per_collection(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for collection, _ in self.sources:
            counts[collection] += 1
        return dict(sorted(counts.items()))

    def graph_nodes(self) -> list[NodeRef]:
        """The target nodes the relationships touch (what a rollback removes from the graph)."""
        return [NodeRef(c, i) for c, i in self._graph_node_keys()]

    def _graph_node_keys(self) -> list[tuple[str, str]]:
        return sorted({node for r in self.relationships for node in ((r[0], r[1]), (r[2], r[3]))})

    def new_ids_by_collection(self) -> dict[str, list[ObjectId]]:
        out: dict[str, list[ObjectId]] = defaultdict(list)
        for collection, old in self.sources:
            oid = self.new_oids.get(old)
            out[collection].append(oid if oid is not None else ObjectId(self.id_map[old]))
        return dict(out)

    def summary(self) -> dict:
        """The dry-run answer: what would be written, and what would be left dangling."""
        return {
            "dryRun": True,
            "rootCollection": self.root[0],
            "rootId": self.root[1],
            "newRootId": self.new_root_id,
            "documentCount": self.document_count,
            "documents": self.documents_per_collection(),
            "media": {"count": len(self.media), "bytes": sum(m.size for m in self.media),
                      "objects": [m.as_dict() for m in self.media]},
            "graph": {"nodes": len(self._graph_node_keys()), "relationships": len(self.relationships)},
            "dangling": self.dangling,
            "warnings": self.warnings,
            "idMap": dict(self.id_map),
        }


class Planner:
    """Builds a :class:`ClonePlan` for one clone request (reads only)."""

    def __init__(self, app, source, target, user, options: CloneOptions):
        self.app = app
        self.ext = app.extensions["aladdin"]
        self.source = source
        self.target = target
        self.user = user
        self.options = options
        self.src_db = self.ext.db.project(source.slug)
        self.chunk = lookup_chunk(self.src_db)
        self._scanned: dict[str, dict[str, dict]] = {}
        self._counts: dict[str, int] = {}
        self._looked_up: dict[str, int] = {}  # documents fetched by id so far, per collection
        self._oids: dict[str, ObjectId] = {}
        self.collections = list(self.ext.content_types)
        self._rules: dict[str, _ScanRules] = {}
        # (collection, loc) of the ALWAYS_DROPPED keys met inside content, per document
        self._content_drops: dict[tuple[str, str], list[tuple]] = {}

    # --- per-type configuration, asked once per type --------------------------------------

    def reference_paths(self, collection: str) -> list[tuple[str, str | None]]:
        return [(dotted, coll) for _, dotted, coll in self._rules_for(collection).declared]

    def drop_paths(self, collection: str) -> list[str]:
        return [".".join(parts) for parts in self._rules_for(collection).drops]

    def _rules_for(self, collection: str) -> _ScanRules:
        rules = self._rules.get(collection)
        if rules is None:
            ctype = self.ext.content_types[collection]
            declared_items = list(ctype.reference_fields)
            for extra in self.ext.pm.hook.aladdin_clone_references(content_type=ctype):
                declared_items.extend(extra or ())
            declared = []
            for item in declared_items:
                path, coll = (item, None) if isinstance(item, str) else (item[0], item[1])
                declared.append((tuple(path.split(".")), path, coll))
            drops: list[tuple[str, ...]] = []
            for extra in self.ext.pm.hook.aladdin_clone_drop_fields(content_type=ctype):
                drops.extend(tuple(p.split(".")) for p in (extra or ()))
            rules = self._rules[collection] = _ScanRules(
                tuple(declared), frozenset(parts for parts, _, _ in declared), tuple(drops))
        return rules

    # --- reference discovery ----------------------------------------------------------------

    def references(self, collection: str, doc: dict) -> list[Ref]:
        """Every reference ``doc`` holds, in the four ways the issue names, in one pass."""
        refs: list[Ref] = []
        related = doc.get(RELATED)
        if related:
            for i, item in enumerate(related):
                if isinstance(item, dict):
                    ident = _id_str(item.get("documentId"))
                    if ident:
                        refs.append(Ref((RELATED, i, "documentId"), ident, item.get("collection"), True,
                                        False, f"{RELATED}.{i}"))
        rules = self._rules_for(collection)
        for parts, dotted, coll in rules.declared:
            value = get_path(doc, dotted)
            media = coll == MEDIA_COLLECTION
            if isinstance(value, list):
                for i, item in enumerate(value):
                    ident = _id_str(item)
                    if ident:
                        refs.append(Ref((*parts, i), ident, coll, True, media, dotted))
            else:
                ident = _id_str(value)
                if ident:
                    refs.append(Ref(parts, ident, coll, True, media, dotted))
        content = doc.get("content")
        if isinstance(content, (dict, list)):
            drops: list[tuple] = []
            _scan(content, ["content"], None, refs, rules.declared_locs or None, drops)
            if drops:
                self._content_drops[(collection, str(doc["_id"]))] = drops
        return refs

    # --- lookups ------------------------------------------------------------------------------

    def _fetch(self, collection: str, ids: Iterable[str]) -> list[tuple[str, dict]]:
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

    def _resolve(self, wanted: dict[str | None, set[str]]) -> dict[str, tuple[str, dict]]:
        """Batched lookups: known collections directly, unknown ones across every content collection."""
        found: dict[str, tuple[str, dict]] = {}
        for collection, ids in wanted.items():
            if collection is None or not ids or collection not in self.ext.content_types:
                continue
            for ident, doc in self._fetch(collection, ids):
                found[ident] = (collection, doc)
        unknown = {i for i in wanted.get(None, ()) if i not in found}
        # Collections already scanned answer from memory: ask them before querying the others.
        for collection in sorted(self.collections, key=lambda c: c not in self._scanned):
            if not unknown:
                break
            for ident, doc in self._fetch(collection, unknown):
                found[ident] = (collection, doc)
                unknown.discard(ident)
        return found

    # --- the plan -------------------------------------------------------------------------------

    def plan(self) -> ClonePlan:
        with gc_paused():
            return self._plan()

    def _plan(self) -> ClonePlan:
        opts = self.options
        if opts.collection not in self.ext.content_types:
            raise NotFound(f"unknown collection {opts.collection!r}")
        root_id = _id_str(opts.document_id)
        roots = self._fetch(opts.collection, [root_id]) if root_id else []
        if not roots:
            raise NotFound("document not found")
        root = roots[0][1]
        sources: dict[tuple[str, str], dict] = {(opts.collection, root_id): root}
        refs_of: dict[tuple[str, str], list[Ref]] = {}
        frontier = [(opts.collection, root_id)]
        resolved: dict[str, str | None] = {root_id: opts.collection}  # id -> collection (None: not in source)
        skip_media = not opts.include_media
        while frontier:
            wanted: dict[str | None, set[str]] = defaultdict(set)
            for key in frontier:
                refs = refs_of[key] = self.references(key[0], sources[key])
                if not opts.deep:
                    continue
                for ref in refs:
                    if ref.id not in resolved and not (skip_media and ref.media):
                        wanted[ref.collection].add(ref.id)
            frontier = []
            if not wanted:
                break
            found = self._resolve(wanted)
            for ids in wanted.values():
                for ident in ids:
                    if resolved.get(ident) is not None:
                        continue
                    hit = found.get(ident)
                    if hit is None:
                        resolved[ident] = None
                        continue
                    collection, doc = hit
                    resolved[ident] = collection
                    if skip_media and self._is_media_doc(doc):
                        continue
                    sources[(collection, ident)] = doc
                    frontier.append((collection, ident))
        # Dangling: declared references naming nothing in the source project.
        dangling: list[dict] = []
        if opts.deep:
            for key, refs in refs_of.items():
                for ref in refs:
                    if ref.explicit and resolved.get(ref.id) is None and not (skip_media and ref.media):
                        dangling.append({"collection": key[0], "documentId": key[1], "path": ref.path,
                                         "references": ref.id, "referencedCollection": ref.collection})
        plan = ClonePlan(source=self.source, target=self.target, options=opts,
                         root=(opts.collection, root_id), sources=sources, id_map={},
                         dangling=dangling)
        self._assign_ids(plan)
        self._warn_left_behind(plan, refs_of)
        self._build_copies(plan, refs_of)
        self._plan_media(plan)
        if opts.include_relationships:
            self._plan_relationships(plan)
        return plan

    @staticmethod
    def _is_media_doc(doc: dict) -> bool:
        return isinstance(doc.get("storageKey"), str) and bool(doc.get("storageKey"))

    def _assign_ids(self, plan: ClonePlan) -> None:
        id_map, new_oids = plan.id_map, plan.new_oids
        if plan.options.preserve_ids:
            for _, old in plan.sources:
                id_map[old] = old
                new_oids[old] = ObjectId(old)
            return
        for _, old in plan.sources:
            oid = new_oids[old] = ObjectId()
            id_map[old] = str(oid)

    def _warn_left_behind(self, plan: ClonePlan, refs_of: dict) -> None:
        """References that will still name source documents (shallow clones, skipped media)."""
        opts = plan.options
        if opts.deep and opts.include_media:
            return  # a deep clone with media follows every reference it finds
        cross = str(self.source.id) != str(self.target.id)
        for key, refs in refs_of.items():
            for ref in refs:
                if ref.id in plan.id_map:
                    continue
                if not opts.deep or (ref.media and not opts.include_media):
                    if ref.explicit or self._exists_in_source(ref.id):
                        where = "the source project" if cross else "the original document"
                        plan.warnings.append(
                            f"{key[0]}/{key[1]} {ref.path} still references {ref.id} in {where}")

    def _exists_in_source(self, ident: str) -> bool:
        # Only shallow/no-media clones ask, for the few references of the documents they copy.
        return bool(self._resolve({None: {ident}}))

    # --- copies ----------------------------------------------------------------------------

    def _build_copies(self, plan: ClonePlan, refs_of: dict) -> None:
        """Copy every source with its references mapped, copy-on-write: only the containers on
        the way to a changed value are copied, the rest is shared with the (unchanged) source."""
        now = utcnow()
        uid = str(self.user.id) if self.user is not None else None
        source_pid, target_pid = str(self.source.id), str(self.target.id)
        id_map, new_oids = plan.id_map, plan.new_oids
        overrides = plan.options.overrides
        content_drops = self._content_drops
        copies: dict[str, list[dict]] = defaultdict(list)
        fully_owned = {c for c in {c for c, _ in plan.sources}
                       if self.ext.content_types[c].sensitive_fields}
        for key, src in plan.sources.items():
            collection, old = key
            doc = dict(src)
            for ref in refs_of.get(key, ()):
                new = id_map.get(ref.id)
                if new is None:
                    continue
                loc = ref.loc
                if len(loc) == 2:  # the common case, e.g. content.imageId: one shared level
                    parent = doc.get(loc[0])
                    if parent is src.get(loc[0]) and isinstance(parent, (dict, list)):
                        parent = doc[loc[0]] = parent.copy()
                    if not isinstance(parent, (dict, list)):
                        continue
                else:
                    parent = _own_parent(doc, src, loc)
                    if parent is None:
                        continue
                last = loc[-1]
                parent[last] = new_oids[ref.id] if isinstance(parent[last], ObjectId) else new
            for loc in content_drops.get(key, ()):
                parent = _own_parent(doc, src, loc)
                if isinstance(parent, dict):
                    parent.pop(loc[-1], None)
            for field in ALWAYS_DROPPED:
                doc.pop(field, None)
            for parts in self._rules_for(collection).drops:
                parent = _own_parent(doc, src, parts, dicts_only=True)
                if isinstance(parent, dict):
                    parent.pop(parts[-1], None)
            is_root = key == plan.root
            if collection in fully_owned or (is_root and overrides):
                # Encryption (executor) and overrides change nested values in place.
                doc = _plain_copy(doc)
            doc["_id"] = new_oids[old]
            doc["projectId"] = target_pid
            doc["createdBy"] = uid
            doc["createdAt"] = doc["updatedAt"] = now
            doc["version"] = 1
            doc["clonedFrom"] = {"projectId": source_pid, "collectionName": collection,
                                 "documentId": old, "clonedAt": now, "clonedBy": uid}
            doc["isClone"] = True
            doc["cloneDepth"] = int(src.get("cloneDepth") or 0) + 1
            doc["originalCreator"] = src.get("originalCreator") or src.get("createdBy")
            copies[collection].append(doc)
            if is_root and overrides:
                self._apply_overrides(collection, doc, overrides)
        plan.copies = dict(copies)

    def _apply_overrides(self, collection: str, doc: dict, overrides: dict) -> None:
        ctype = self.ext.content_types[collection]
        writable = ("content", "relatedDocuments", *[f for f in ctype.fields if f not in ctype.readonly_fields])
        for key, value in overrides.items():
            if not isinstance(key, str) or not PATCH_KEY_RE.match(key) or key.split(".")[0] not in writable:
                raise AladdinError(f"override {key!r} names a field that cannot be set", status=422)
            if value is None and key.startswith("content."):
                unset_path(doc, key)
            else:
                set_path(doc, key, copy.deepcopy(value))
        body = {k: doc[k] for k in ("content", "relatedDocuments", *ctype.fields) if doc.get(k) is not None}
        errors = ctype.schema(partial=True).validate(body)
        if errors:
            raise AladdinError("the overrides make an invalid document", status=422, errors=errors)

    def _plan_media(self, plan: ClonePlan) -> None:
        if not plan.options.include_media:
            return
        storage = self.ext.storage
        for doc in plan.copies.get(MEDIA_COLLECTION, []) + [
                d for c, docs in plan.copies.items() if c != MEDIA_COLLECTION for d in docs]:
            key = doc.get("storageKey")
            if not isinstance(key, str) or not key:
                continue
            filename = safe_filename(doc.get("filename") or key.rsplit("/", 1)[-1])
            new_id = str(doc["_id"])
            target_key = f"projects/{self.target.slug}/media/{new_id}/{filename}"
            size = doc.get("size")
            if not isinstance(size, int):
                try:
                    size = storage.size(key)
                except KeyError:
                    raise AladdinError(f"media object {key!r} of {new_id} is missing from storage", status=409)
            plan.media.append(MediaCopy(doc["clonedFrom"]["documentId"], new_id, key, target_key, size, filename))
            doc["storageKey"] = target_key

    def _plan_relationships(self, plan: ClonePlan) -> None:
        """The source graph's relationships among the cloned documents, as rows on the new ids."""
        id_map = plan.id_map
        rows = self.ext.graph.relationship_rows_among(self.source.slug, [NodeRef(c, i) for c, i in plan.sources])
        out = []
        for from_coll, from_id, to_coll, to_id, rel_type in rows:
            a, b = id_map.get(from_id), id_map.get(to_id)
            if a is not None and b is not None:
                out.append((from_coll, a, to_coll, b, rel_type))
        plan.relationships = out


# --- reference scanning and copy-on-write rewriting -------------------------------------------


def _scan(node: Any, stack: list, key: str | None, refs: list[Ref], declared: frozenset | None,
          drops: list[tuple]) -> None:
    """Collect ``...Id(s)``-named references inside content (nested objects and lists included),
    and where always-dropped keys sit.

    ``stack`` is the location of ``node`` (keys and list indexes); locations are only built as
    tuples where something is found, so plain text and numbers cost a type check and a lookup."""
    if isinstance(node, dict):
        for k, v in node.items():
            flags = _KEY_FLAGS.get(k)
            if flags is None:
                flags = _key_flags(k)
            if isinstance(v, (dict, list)):
                stack.append(k)
                _scan(v, stack, k, refs, declared, drops)
                stack.pop()
            elif flags & _ID and v is not None:
                ident = _id_str(v)
                if ident:
                    loc = (*stack, k)
                    if declared is None or loc not in declared:
                        media = bool(flags & _MEDIA)
                        refs.append(Ref(loc, ident, MEDIA_COLLECTION if media else None, media, media))
            if flags & _DROP:
                drops.append((*stack, k))
    elif isinstance(node, list):
        flags = 0
        if key is not None:
            flags = _KEY_FLAGS.get(key)
            if flags is None:
                flags = _key_flags(key)
            if flags & _ITEM_ID and declared is not None and tuple(stack) in declared:
                flags = 0  # a declared reference field: already collected with its declared collection
        if flags & _ITEM_ID:
            media = bool(flags & _ITEM_MEDIA)
            coll = MEDIA_COLLECTION if media else None
            for i, v in enumerate(node):
                if isinstance(v, (dict, list)):
                    stack.append(i)
                    _scan(v, stack, key, refs, declared, drops)
                    stack.pop()
                else:
                    ident = _id_str(v)
                    if ident:
                        refs.append(Ref((*stack, i), ident, coll, media, media))
        else:
            for i, v in enumerate(node):
                if isinstance(v, (dict, list)):
                    stack.append(i)
                    _scan(v, stack, key, refs, declared, drops)
                    stack.pop()


def _own_parent(doc: dict, src: dict, loc: tuple, dicts_only: bool = False) -> Any:
    """The container in ``doc`` holding ``loc[-1]``, after replacing every container on the way
    that ``doc`` still shares with ``src`` by a shallow copy; None when the path is not there."""
    node: Any = doc
    orig: Any = src
    for part in loc[:-1]:
        if isinstance(node, dict):
            if part not in node:
                return None
        elif isinstance(node, list) and not dicts_only and isinstance(part, int):
            if part >= len(node):
                return None
        else:
            return None
        child = node[part]
        try:
            orig = orig[part] if orig is not None else None
        except (KeyError, IndexError, TypeError):
            orig = None
        if child is orig:  # still the source's own object: copy it before changing anything below
            if isinstance(child, dict):
                child = dict(child)
            elif isinstance(child, list):
                child = list(child)
            else:
                return None
            node[part] = child
        node = child
    last = loc[-1]
    if isinstance(node, dict):
        return node if (last in node or dicts_only) else None
    if isinstance(node, list) and not dicts_only and isinstance(last, int) and last < len(node):
        return node
    return None


def _plain_copy(value: Any) -> Any:
    """A deep copy of JSON-like data; several times faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: _plain_copy(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_copy(v) if isinstance(v, (dict, list)) else v for v in value]
    return value
