"""The embedded GraphStore: nodes and relationships in bucket documents of the project's own
database (see EmbeddedGraphStore)."""
from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Callable, Collection, Iterable, Sequence

from ..db import find_by_ids
from .base import (DEFAULT_RELATIONSHIP_TYPES, GraphError, GraphStore, NodeRef, Relationship,
                   Row, _check_project, _unique, clamp_depth, relationship_row)
from .buckets import (BUCKET_BYTES, BUCKETS_COLLECTION, NODES_COLLECTION, RELATIONSHIPS_COLLECTION,
                      ROOT_BITS, _FAMILIES, _IN, _MAX_ATTEMPTS, _NODES, _OUT, _ROOT_MASK, _Request,
                      _dump_items, _hash, _load_items)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pymongo.database

class EmbeddedGraphStore(GraphStore):
    """Graph kept in the project's own database, in bucket documents of "graph_buckets".

    Three families of buckets: nodes ("n"), relationships by source ("o") and by target
    ("i", the reverse index for incoming-edge lookups). An item's bucket is a stable hash of
    its node, so a bulk write reads and rewrites a few dozen documents instead of inserting
    one per item, and every bucket write is a compare-and-set on its "version" (MERGE
    semantics under concurrent writers without unique secondary indexes). A bucket holds its
    items as one JSON string of [collection, id] or [fromColl, fromId, toColl, toId, type]
    rows; when it would grow past bucket_bytes it splits in two by the next bit of the node
    hash (or, for one node with very many edges, of the item's own hash) and becomes an
    interior document pointing at its children: an extendible hash trie, so documents stay
    far below MongoDB's 16 MB limit however large the project grows.

    The "o" family is authoritative for relationships (its counts are returned); "i" is
    written after it and repaired by repeating a call that was interrupted in between.
    """

    def __init__(self, database_for: Callable[[str], "pymongo.database.Database"],
                 allowed_types: Collection[str] = DEFAULT_RELATIONSHIP_TYPES, *,
                 bucket_bytes: int = BUCKET_BYTES) -> None:
        super().__init__(allowed_types)
        self._database_for = database_for
        if bucket_bytes < 1:
            raise ValueError("bucket_bytes must be positive")
        self.bucket_bytes = bucket_bytes

    # -- plumbing -----------------------------------------------------------------------

    def _buckets(self, project: str):
        return self._database_for(_check_project(project))[BUCKETS_COLLECTION]

    @staticmethod
    def _node_of(family: str, entry: tuple) -> tuple[str, str]:
        if family == _OUT:
            return entry[0], entry[1]
        if family == _IN:
            return entry[2], entry[3]
        return entry[0], entry[1]

    def _requests(self, family: str, kind: str, entries: Iterable[tuple],
                  hashes: dict[tuple, int]) -> list[_Request]:
        # The loop of every bulk write (25,000 turns for a 10,000-edge clone): _node_of inlined.
        read = kind == "read"
        at = 2 if family == _IN else 0
        out: list[_Request] = []
        append, known = out.append, hashes.get
        for entry in entries:
            node = entry if read else (entry[at], entry[at + 1])
            nh = known(node)
            if nh is None:
                nh = hashes[node] = _hash(node, b"node")
            append(_Request(kind, None if read else entry, node, nh))
        return out

    @staticmethod
    def _fetch(coll, ids: Sequence[str]) -> dict[str, dict]:
        # By key: on the embedded document store a find() would first index (decode) every bucket.
        return {d["_id"]: d for d in find_by_ids(coll, list(ids))}

    def _descend(self, coll, family: str,
                 requests: list[_Request]) -> list[tuple[dict, list[_Request]]]:
        """Route requests from the root buckets down through split buckets to leaves.

        One query per trie level for all requests together. A missing leaf comes back as an
        empty stand-in with version 0 (written by insert, so its _id decides races).
        """
        pending: dict[str, tuple[dict, list[_Request]]] = {}
        for req in requests:
            bid = f"{family}:{req.nh & _ROOT_MASK}"
            pending.setdefault(bid, ({"nbit": ROOT_BITS, "kbit": 0}, []))[1].append(req)
        leaves: list[tuple[dict, list[_Request]]] = []
        while pending:
            docs = self._fetch(coll, list(pending))
            nxt: dict[str, tuple[dict, list[_Request]]] = {}
            for bid, (defaults, reqs) in pending.items():
                doc = docs.get(bid) or {"_id": bid, "version": 0, **defaults}
                split = doc.get("split")
                if not split:
                    leaves.append((doc, reqs))
                    continue
                on, bit, children = split["on"], split["bit"], split["children"]
                below = ({"nbit": bit + 1, "kbit": doc["kbit"]} if on == "node"
                         else {"nbit": doc["nbit"], "kbit": bit + 1})
                for req in reqs:
                    if on == "node":
                        targets = (children[(req.nh >> bit) & 1],)
                    elif req.kind == "read":
                        targets = children  # one node's items spread over both halves
                    else:
                        targets = (children[(req.kh >> bit) & 1],)
                    for child in targets:
                        nxt.setdefault(child, (below, []))[1].append(req)
            pending = nxt
        return leaves

    def _layout(self, family: str, items: set[tuple], nbit: int, kbit: int,
                blob: str | None = None) -> tuple[dict, list[dict]]:
        """The body of a bucket holding items, splitting it into a subtree while too big."""
        blob = _dump_items(items) if blob is None else blob
        if len(blob) <= self.bucket_bytes or len(items) <= 1:
            return {"nbit": nbit, "kbit": kbit, "count": len(items), "items": blob}, []
        node_hashes = {e: _hash(self._node_of(family, e), b"node") for e in items}
        if nbit < 64 and len(set(node_hashes.values())) > 1:
            on, bit, pick = "node", nbit, lambda e: (node_hashes[e] >> nbit) & 1
            below = (nbit + 1, kbit)
        elif kbit < 64:
            on, bit, pick = "key", kbit, lambda e: (_hash(e, b"key") >> kbit) & 1
            below = (nbit, kbit + 1)
        else:  # pragma: no cover - 64 bits of identical hashes: nothing left to split on
            return {"nbit": nbit, "kbit": kbit, "count": len(items), "items": blob}, []
        halves: tuple[set, set] = (set(), set())
        for entry in items:
            halves[pick(entry)].add(entry)
        # Fresh random ids: an abandoned attempt's children can never be mistaken for ours.
        children = [f"{family}:{secrets.token_hex(8)}" for _ in halves]
        descendants: list[dict] = []
        for child, half in zip(children, halves):
            body, more = self._layout(family, half, *below)
            descendants.append({"_id": child, "version": 1, **body})
            descendants.extend(more)
        split = {"on": on, "bit": bit, "children": children}
        return {"nbit": nbit, "kbit": kbit, "split": split}, descendants

    def _mutate(self, project: str, family: str, *, add: Iterable[tuple] = (),
                remove: Iterable[tuple] = (),
                hashes: dict[tuple, int] | None = None) -> tuple[int, int]:
        """Add and remove entries of one family; return (added, removed), counting only
        entries that were really absent / present, so repeated calls count 0.

        hashes caches node hashes across the families of one call.
        """
        from pymongo.errors import BulkWriteError, DuplicateKeyError

        coll = self._buckets(project)
        hashes = {} if hashes is None else hashes
        requests = (self._requests(family, "add", add, hashes)
                    + self._requests(family, "remove", remove, hashes))
        added = removed = 0
        for _attempt in range(_MAX_ATTEMPTS):
            if not requests:
                return added, removed
            retry: list[_Request] = []
            inserts: list[tuple[dict, list[_Request], int, int, list[str]]] = []
            for doc, reqs in self._descend(coll, family, requests):
                current = _load_items(doc)
                adds = {r.entry for r in reqs if r.kind == "add"} - current
                removes = {r.entry for r in reqs if r.kind == "remove"} & current
                if not adds and not removes:
                    continue
                body, children = self._layout(family, (current - removes) | adds,
                                              doc["nbit"], doc["kbit"])
                if children:
                    coll.insert_many(children, ordered=True)
                child_ids = [c["_id"] for c in children]
                version = doc["version"]
                new_doc = {"_id": doc["_id"], "version": version + 1, **body}
                if version == 0:
                    inserts.append((new_doc, reqs, len(adds), len(removes), child_ids))
                    continue
                ok = coll.replace_one({"_id": doc["_id"], "version": version},
                                      new_doc).matched_count == 1
                self._settle(coll, ok, child_ids)
                if ok:
                    added, removed = added + len(adds), removed + len(removes)
                else:
                    retry.extend(reqs)
            if inserts:
                # New buckets in one round trip; a duplicate _id means another writer made
                # that bucket first, so those requests go round again.
                lost: set[int] = set()
                try:
                    coll.insert_many([i[0] for i in inserts], ordered=False)
                except BulkWriteError as exc:
                    errors = exc.details.get("writeErrors", [])
                    if any(err.get("code") != 11000 for err in errors):
                        raise
                    lost = {err["index"] for err in errors}
                except DuplicateKeyError:  # pragma: no cover - some backends raise it directly
                    lost = set(range(len(inserts)))
                for n, (_, reqs, n_add, n_remove, child_ids) in enumerate(inserts):
                    self._settle(coll, n not in lost, child_ids)
                    if n in lost:
                        retry.extend(reqs)
                    else:
                        added, removed = added + n_add, removed + n_remove
            requests = retry
        raise GraphError("the graph is being changed by too many writers at once; try again")

    @staticmethod
    def _settle(coll, committed: bool, child_ids: list[str]) -> None:
        # A split whose parent lost its compare-and-set leaves unreachable children: remove them.
        if child_ids and not committed:
            coll.delete_many({"_id": {"$in": child_ids}})

    def _read(self, project: str, family: str, nodes: Iterable[tuple[str, str]]) -> set[tuple]:
        """Entries of a family whose node is one of nodes."""
        requests = self._requests(family, "read", _unique(nodes), {})
        if not requests:
            return set()
        found: set[tuple] = set()
        for doc, reqs in self._descend(self._buckets(project), family, requests):
            wanted = {r.node for r in reqs}
            found.update(e for e in _load_items(doc) if self._node_of(family, e) in wanted)
        return found

    def _scan(self, project: str) -> dict[str, set[tuple]]:
        """Every entry of every family: one query, then a walk from the roots (so leftovers
        of an interrupted split, never linked in, are ignored)."""
        docs = {d["_id"]: d for d in self._buckets(project).find({})}
        result: dict[str, set[tuple]] = {}
        for family in _FAMILIES:
            items: set[tuple] = set()
            stack = [f"{family}:{n}" for n in range(1 << ROOT_BITS)]
            while stack:
                doc = docs.get(stack.pop())
                if doc is None:
                    continue
                if doc.get("split"):
                    stack.extend(doc["split"]["children"])
                else:
                    items |= _load_items(doc)
            result[family] = items
        return result

    @staticmethod
    def _node_key(node: NodeRef) -> tuple[str, str]:
        return node.collection, node.id

    _rel_entry = staticmethod(relationship_row)  # an "o"/"i" entry is exactly a row

    @staticmethod
    def _rel_from_entry(entry: Sequence[str]) -> Relationship:
        return Relationship(NodeRef(entry[0], entry[1]), NodeRef(entry[2], entry[3]), entry[4])

    @classmethod
    def _sorted_rels(cls, entries: Iterable[tuple]) -> list[Relationship]:
        # Entry tuples sort exactly like Relationship (source, target, type) and several
        # times faster than the dataclasses' generated comparisons.
        return [cls._rel_from_entry(e) for e in sorted(entries)]

    def _touching(self, project: str, keys: list[tuple[str, str]]) -> set[tuple]:
        return self._read(project, _OUT, keys) | self._read(project, _IN, keys)

    # -- interface ----------------------------------------------------------------------

    def add_nodes(self, project: str, nodes: Iterable[NodeRef]) -> int:
        nodes = self._nodes(nodes)
        if not nodes:
            return 0
        return self._mutate(project, _NODES, add=[self._node_key(n) for n in nodes])[0]

    def add_relationships(self, project: str, rels: Iterable[Relationship]) -> int:
        rels = self._validated(rels)
        return self._add_entries(project, [self._rel_entry(r) for r in rels])

    def add_relationship_rows(self, project: str, rows: Iterable[Sequence[str]]) -> int:
        return self._add_entries(project, self._validated_rows(rows))  # entries are rows here

    def relationship_rows_among(self, project: str, nodes: Collection[NodeRef]) -> list[Row]:
        members = {self._node_key(n) for n in self._nodes(nodes)}
        if not members:
            return []
        return sorted(e for e in self._read(project, _OUT, members) if (e[2], e[3]) in members)

    def _add_entries(self, project: str, entries: list[tuple]) -> int:
        if not entries:
            return 0
        # Nodes first, then edges by source, then the reverse index: an interrupted call
        # never leaves an edge whose nodes are missing, and repeating it completes it.
        hashes: dict[tuple, int] = {}
        self._mutate(project, _NODES, hashes=hashes,
                     add=_unique(node for e in entries for node in ((e[0], e[1]), (e[2], e[3]))))
        added = self._mutate(project, _OUT, add=entries, hashes=hashes)[0]
        self._mutate(project, _IN, add=entries, hashes=hashes)
        return added

    def neighbourhood(self, project: str, node: NodeRef, depth: int = 1) -> dict:
        depth = clamp_depth(depth)
        (root,) = self._nodes([node])
        if not self._read(project, _NODES, [self._node_key(root)]):
            return {"nodes": [], "relationships": []}
        # BFS, one batched read per hop and direction: a hop-k read finds exactly the edges
        # on paths of length <= k+1 from the root, matching Cypher's [*0..depth] answer.
        seen: set[NodeRef] = {root}
        found: set[Relationship] = set()
        frontier: list[NodeRef] = [root]
        for _ in range(depth):
            if not frontier:
                break
            hop = {self._rel_from_entry(e)
                   for e in self._touching(project, [self._node_key(n) for n in frontier])}
            found |= hop
            frontier = sorted({n for r in hop for n in (r.source, r.target)} - seen)
            seen.update(frontier)
        return self._neighbourhood_result(root, seen, found)

    def relationships_among(self, project: str, nodes: Collection[NodeRef]) -> list[Relationship]:
        members = {self._node_key(n) for n in self._nodes(nodes)}
        if not members:
            return []
        # Read by source only, then keep those whose target is also a member.
        return self._sorted_rels(e for e in self._read(project, _OUT, members)
                                 if (e[2], e[3]) in members)

    def relationships_of(self, project: str, nodes: Collection[NodeRef]) -> list[Relationship]:
        nodes = self._nodes(nodes)
        if not nodes:
            return []
        return self._sorted_rels(self._touching(project, [self._node_key(n) for n in nodes]))

    def existing_nodes(self, project: str, nodes: Collection[NodeRef]) -> set[NodeRef]:
        keys = {self._node_key(n) for n in self._nodes(nodes)}
        return {NodeRef(c, i) for c, i in self._read(project, _NODES, keys)} if keys else set()

    def delete_nodes(self, project: str, nodes: Iterable[NodeRef]) -> int:
        keys = [self._node_key(n) for n in self._nodes(nodes)]
        if not keys:
            return 0
        # Relationships first: a crash in between leaves nodes without edges, never
        # edges pointing at missing nodes.
        touching = self._touching(project, keys)
        hashes: dict[tuple, int] = {}
        if touching:
            self._mutate(project, _OUT, remove=touching, hashes=hashes)
            self._mutate(project, _IN, remove=touching, hashes=hashes)
        return self._mutate(project, _NODES, remove=keys, hashes=hashes)[1]

    def delete_relationships(self, project: str, rels: Iterable[Relationship]) -> int:
        rels = self._validated(rels)
        if not rels:
            return 0
        entries = [self._rel_entry(r) for r in rels]
        hashes: dict[tuple, int] = {}
        removed = self._mutate(project, _OUT, remove=entries, hashes=hashes)[1]
        self._mutate(project, _IN, remove=entries, hashes=hashes)
        return removed

    def list_all(self, project: str) -> tuple[list[NodeRef], list[Relationship]]:
        families = self._scan(project)
        nodes = [NodeRef(c, i) for c, i in sorted(families[_NODES])]
        return nodes, self._sorted_rels(families[_OUT])

    def prepare_project(self, project: str) -> None:
        # Made now, by the one process creating the project: the embedded document store cannot
        # create the same new collection from two processes at once (two first clones, say).
        db = self._database_for(_check_project(project))
        if BUCKETS_COLLECTION not in db.list_collection_names():
            db.create_collection(BUCKETS_COLLECTION)

    def drop_project(self, project: str) -> None:
        db = self._database_for(_check_project(project))
        # The collections of the earlier one-document-per-item layout go too.
        for name in (BUCKETS_COLLECTION, NODES_COLLECTION, RELATIONSHIPS_COLLECTION):
            db.drop_collection(name)
