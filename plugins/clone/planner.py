"""Clone planning: walk the root's reference closure, assign every new id, rewrite copies in memory.

Nothing here writes; the executor takes the finished :class:`ClonePlan` and writes it in bulk.

The walk sees the source as the cloning user may read it: every lookup carries their
``content:view`` read filter, so a root they may not view is a 404 like a missing one, and a
referenced document (media included) hidden from them is not copied; references to it keep
naming the source id and are reported in ``plan.hidden``.

Besides references, a deep clone follows ``belongs_to`` declarations inbound: every copied document
(the root, or one reached from it) brings the documents that belong to it (a scene its shots), found
by an indexed query under the same read filter; a hidden member simply stays behind, unreported,
since no copied document names it."""

from __future__ import annotations

from collections import defaultdict

from bson import ObjectId

from core.content import actor_id
from core.errors import AladdinError, NotFound
from core.graph import NodeRef
from core.cloneplan import PlannedMedia
from core.media import safe_filename
from core.models import utcnow

from .copy_on_write import own_parent, plain_copy
from .gc_pause import gc_paused
from .lookups import SourceLookups
from .overrides import apply_overrides
from .plan import CloneOptions, ClonePlan
from .references import ALWAYS_DROPPED, MEDIA_COLLECTION, Ref, ReferenceFinder, id_str


class PlanTooLarge(Exception):
    """The closure has more documents than the planner's ``limit`` (the walk stopped there)."""

    def __init__(self, limit: int):
        super().__init__(f"more than {limit} documents")
        self.limit = limit


class Planner:
    """Builds a :class:`ClonePlan` for one clone request (reads only).

    ``limit``: stop with :class:`PlanTooLarge` once the closure holds more documents (the API
    uses it to decide, at the cost of a walk of at most ``limit`` documents, that a clone is
    large and belongs in a job, which then plans it once). ``tracker``: a
    :class:`~.progress.CloneProgress` told how the walk advances."""

    def __init__(self, app, source, target, user, options: CloneOptions, *, limit: int | None = None,
                 tracker=None):
        self.app = app
        self.ext = app.extensions["aladdin"]
        self.source = source
        self.target = target
        self.user = user
        self.options = options
        self.limit = limit
        self.tracker = tracker
        self.lookups = SourceLookups(self.ext, self.ext.db.project(source.slug), source, user)
        self.refs = ReferenceFinder(self.ext)

    # --- the plan -------------------------------------------------------------------------------

    def plan(self) -> ClonePlan:
        with gc_paused():
            return self._plan()

    def _walk(self, root_key: tuple[str, str], root: dict):
        """The reference closure: (sources, refs_of, resolved). ``resolved``: id -> collection
        of every referenced id looked up (``None``: not found through the read filter)."""
        opts, limit, tracker = self.options, self.limit, self.tracker
        sources: dict[tuple[str, str], dict] = {root_key: root}
        refs_of: dict[tuple[str, str], list[Ref]] = {}
        frontier = [root_key]
        resolved: dict[str, str | None] = {root_key[1]: root_key[0]}
        skip_media = not opts.include_media
        references = self.refs.references
        inbound = self.refs.inbound() if opts.deep else {}
        while frontier:
            wanted: dict[str | None, set[str]] = defaultdict(set)
            for n, key in enumerate(frontier, 1):
                refs = refs_of[key] = references(key[0], sources[key])
                if tracker is not None and not n % 2000:
                    tracker.walked(len(refs_of), len(sources))
                if not opts.deep:
                    continue
                for ref in refs:
                    if ref.id not in resolved and not (skip_media and ref.media):
                        wanted[ref.collection].add(ref.id)
            owners = [key for key in frontier if key[0] in inbound]
            frontier = []
            for collection, ident, doc in self._members(owners, inbound, resolved):
                resolved[ident] = collection
                sources[(collection, ident)] = doc
                frontier.append((collection, ident))
            if not wanted and not frontier:
                break
            found = self.lookups.resolve(wanted) if wanted else {}
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
            if limit is not None and len(sources) > limit:
                raise PlanTooLarge(limit)
            if tracker is not None:
                tracker.walked(len(refs_of), len(sources))
        return sources, refs_of, resolved

    def _members(self, owners: list[tuple[str, str]], inbound: dict, resolved: dict):
        """(collection, id, document) of the documents that belong to ``owners`` (``belongs_to``
        declarations) and are not in the closure yet, as the cloning user may read them."""
        ids_of: dict[str, set[str]] = defaultdict(set)
        for collection, ident in owners:
            ids_of[collection].add(ident)
        for owner, ids in ids_of.items():
            for collection, field in inbound[owner]:
                for ident, doc in self.lookups.members(collection, field, ids):
                    if resolved.get(ident) is None:
                        resolved[ident] = collection  # a member of two owners is taken once
                        yield collection, ident, doc

    def _unfollowed(self, refs_of: dict, resolved: dict) -> None:
        """Look up the references the walk did not follow (all of a shallow clone's, media ones
        without media): whether they name a document decides between left-behind and dangling."""
        wanted: dict[str | None, set[str]] = defaultdict(set)
        for refs in refs_of.values():
            for ref in refs:
                if ref.id not in resolved:
                    wanted[ref.collection].add(ref.id)
        if not wanted:
            return
        found = self.lookups.resolve(wanted)
        for ids in wanted.values():
            for ident in ids:
                hit = found.get(ident)
                if resolved.get(ident) is None:
                    resolved[ident] = hit[0] if hit is not None else None

    def _plan(self) -> ClonePlan:
        opts = self.options
        self.ext.content.content_type(opts.collection)  # NotFound naming the valid collections
        root_id = id_str(opts.document_id)
        roots = self.lookups.fetch(opts.collection, [root_id]) if root_id else []
        if not roots:
            raise NotFound("document not found")
        sources, refs_of, resolved = self._walk((opts.collection, root_id), roots[0][1])
        self._unfollowed(refs_of, resolved)
        skip_media = not opts.include_media
        hidden_ids = self._hidden_references(refs_of, resolved)
        hidden: list[dict] = []
        # Dangling: any reference, whatever its field, naming no document of the source project
        # (neither one the user may view nor a hidden one): the copy keeps naming a source id.
        dangling: list[dict] = []
        for key, refs in refs_of.items():
            for ref in refs:
                if resolved.get(ref.id) is not None:
                    continue
                where = hidden_ids.get(ref.id)
                if where is not None:
                    if not (skip_media and ref.media):
                        hidden.append({"collection": key[0], "documentId": key[1], "path": ref.path,
                                       "references": ref.id, "referencedCollection": where})
                    continue
                dangling.append({"collection": key[0], "documentId": key[1], "path": ref.path,
                                 "references": ref.id, "referencedCollection": ref.collection})
        plan = ClonePlan(source=self.source, target=self.target, options=opts,
                         root=(opts.collection, root_id), sources=sources, id_map={},
                         dangling=dangling, hidden=hidden)
        self._assign_ids(plan)
        self._warn_left_behind(plan, refs_of, resolved)
        self._build_copies(plan, refs_of)
        self._plan_media(plan)
        if opts.include_relationships:
            self._plan_relationships(plan)
        plan.warnings += self.refs.warnings  # plugins whose reference hook failed, by name
        if self.tracker is not None:
            self.tracker.planned()
        return plan

    def _hidden_references(self, refs_of: dict, resolved: dict) -> dict[str, str]:
        """Referenced ids that name a document the user may not view: id -> its collection.

        Candidates are the references no lookup found (through the read filter), looked for
        where the walk looks (their named collection, or every collection); one batched query
        per collection whose read filter hides anything, none at all without row-level rules."""
        wanted: dict[str | None, set[str]] = defaultdict(set)
        for refs in refs_of.values():
            for ref in refs:
                if resolved.get(ref.id) is not None:
                    continue
                if ref.collection is not None and ref.collection not in self.ext.content_types:
                    continue  # the walk never looks there either: dangling
                wanted[ref.collection].add(ref.id)
        return self.lookups.hidden(wanted) if wanted else {}

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

    def _warn_left_behind(self, plan: ClonePlan, refs_of: dict, resolved: dict) -> None:
        """References that will still name existing source documents (shallow clones, skipped
        media); those naming nothing are in ``plan.dangling`` instead."""
        opts = plan.options
        if opts.deep and opts.include_media:
            return  # a deep clone with media follows every reference it finds
        cross = str(self.source.id) != str(self.target.id)
        where = "the source project" if cross else "the original document"
        for key, refs in refs_of.items():
            for ref in refs:
                if ref.id in plan.id_map or resolved.get(ref.id) is None:
                    continue
                if not opts.deep or (ref.media and not opts.include_media):
                    plan.warnings.append(f"{key[0]}/{key[1]} {ref.path} still references {ref.id} in {where}")

    # --- copies ----------------------------------------------------------------------------

    def _build_copies(self, plan: ClonePlan, refs_of: dict) -> None:
        """Copy every source with its references mapped, copy-on-write: only the containers on
        the way to a changed value are copied, the rest is shared with the (unchanged) source."""
        now = utcnow()
        uid = actor_id(self.user)
        source_pid, target_pid = str(self.source.id), str(self.target.id)
        id_map, new_oids = plan.id_map, plan.new_oids
        overrides = plan.options.overrides
        content_drops = self.refs.content_drops
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
                    parent = own_parent(doc, src, loc)
                    if parent is None:
                        continue
                last = loc[-1]
                parent[last] = new_oids[ref.id] if isinstance(parent[last], ObjectId) else new
            for loc in content_drops.get(key, ()):
                parent = own_parent(doc, src, loc)
                if isinstance(parent, dict):
                    parent.pop(loc[-1], None)
            for field in ALWAYS_DROPPED:
                doc.pop(field, None)
            for parts in self.refs.rules_for(collection).drops:
                parent = own_parent(doc, src, parts, dicts_only=True)
                if isinstance(parent, dict):
                    parent.pop(parts[-1], None)
            is_root = key == plan.root
            if collection in fully_owned or (is_root and overrides):
                # Encryption (executor) and overrides change nested values in place.
                doc = plain_copy(doc)
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
                apply_overrides(self.ext.content_types[collection], doc, overrides)
        plan.copies = dict(copies)

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
            plan.media.append(PlannedMedia(doc["clonedFrom"]["documentId"], new_id, key, target_key, size, filename))
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
