"""Relationship graph between content items: the GraphStore interface, the embedded store
kept in each project's own database, and create_graph_store() choosing embedded or Neo4j."""
from __future__ import annotations

import abc
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from urllib.parse import unquote, urlsplit, urlunsplit

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pymongo.database

DEFAULT_RELATIONSHIP_TYPES: frozenset[str] = frozenset({
    "APPEARS_IN", "LOCATED_AT", "PART_OF", "RIVAL_OF", "ALLY_OF", "KNOWS", "RELATED_TO",
    "REFERENCES", "USES_MEDIA", "FEATURES", "FOLLOWS", "PRECEDES", "OWNS", "FAMILY_OF",
})

MIN_DEPTH = 1
MAX_DEPTH = 5  # beyond this a film graph's neighbourhood is most of the project: use list_all

# The embedded store's one collection (see EmbeddedGraphStore). The two before it are the
# earlier one-document-per-item layout: no longer written, still dropped by drop_project.
BUCKETS_COLLECTION = "graph_buckets"
NODES_COLLECTION = "graph_nodes"
RELATIONSHIPS_COLLECTION = "graph_relationships"
ROOT_BITS = 6  # 64 root buckets per family; more appear only by splitting
_ROOT_MASK = (1 << ROOT_BITS) - 1
# A bucket's items string is kept under this (split beyond it): well below BSON's 16 MB, and
# small enough that rewriting one bucket for a single new item stays cheap.
BUCKET_BYTES = 1 << 20
_MAX_ATTEMPTS = 64  # compare-and-set rounds before a write gives up under contention
_NODES, _OUT, _IN = "n", "o", "i"
_FAMILIES = (_NODES, _OUT, _IN)

# fullmatch, not match+$: "$" would also accept a trailing newline.
_TYPE_PATTERN = re.compile(r"[A-Z][A-Z0-9_]{0,63}")

# Keeps each $in/$or query document well under MongoDB's 16 MB limit.
_QUERY_CHUNK = 1000


class GraphError(Exception):
    """A graph operation was refused; the message is safe to show to the user."""


class InvalidRelationshipType(GraphError, ValueError):
    """A relationship type is malformed or not in the store's whitelist."""


class InvalidNodeRef(GraphError, ValueError):
    """A node reference is not a pair of non-empty strings."""


@dataclass(frozen=True, order=True)
class NodeRef:
    """One content item: its collection (e.g. "characters") and its id."""

    collection: str
    id: str

    def __post_init__(self) -> None:
        # Non-strings could reach MongoDB as query operators ({"$ne": ...}): refuse them here.
        for name in ("collection", "id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise InvalidNodeRef(f"node {name} must be a non-empty string, got {value!r:.80}")

    def as_dict(self) -> dict[str, str]:
        return {"collection": self.collection, "id": self.id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "NodeRef":
        try:
            return cls(data["collection"], data["id"])
        except (KeyError, TypeError) as exc:
            raise InvalidNodeRef("a node needs 'collection' and 'id'") from exc


@dataclass(frozen=True, order=True)
class Relationship:
    """A directed, typed edge; identity is (source, target, type)."""

    source: NodeRef
    target: NodeRef
    type: str

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.source.as_dict(), "to": self.target.as_dict(), "type": self.type}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Relationship":
        try:
            return cls(NodeRef.from_dict(data["from"]), NodeRef.from_dict(data["to"]), data["type"])
        except (KeyError, TypeError) as exc:
            raise GraphError("a relationship needs 'from', 'to' and 'type'") from exc


Row = tuple[str, str, str, str, str]  # (fromCollection, fromId, toCollection, toId, type)


def relationship_row(rel: Relationship) -> Row:
    return (rel.source.collection, rel.source.id, rel.target.collection, rel.target.id, rel.type)


def _bad_row(row) -> GraphError:
    return GraphError(f"a relationship row is (fromCollection, fromId, toCollection, toId, type) "
                      f"of non-empty strings, got {row!r:.120}")


def validate_relationship_type(rel_type: str, allowed: Collection[str]) -> str:
    """Return rel_type if it is well-formed and whitelisted, else raise InvalidRelationshipType.

    Cypher cannot take a relationship type as a parameter, so this is the only gate
    between user input and query text: both checks are needed, never one alone.
    """
    if not isinstance(rel_type, str) or not _TYPE_PATTERN.fullmatch(rel_type):
        raise InvalidRelationshipType(
            f"invalid relationship type {rel_type!r:.80}: expected UPPER_SNAKE_CASE")
    if rel_type not in allowed:
        raise InvalidRelationshipType(
            f"relationship type {rel_type!r} is not allowed; allowed: {', '.join(sorted(allowed))}")
    return rel_type


def clamp_depth(depth: int) -> int:
    """Neighbourhood depth as an int within MIN_DEPTH..MAX_DEPTH."""
    try:
        value = int(depth)
    except (TypeError, ValueError) as exc:
        raise GraphError(f"depth must be an integer, got {depth!r:.40}") from exc
    return max(MIN_DEPTH, min(MAX_DEPTH, value))


def _check_project(project: str) -> str:
    if not isinstance(project, str) or not project:
        raise GraphError("project must be a non-empty string")
    return project


def _unique(items: Iterable[Any]) -> list[Any]:
    """Deduplicate keeping first-seen order, so counts reflect distinct items."""
    return list(dict.fromkeys(items))


def _chunks(items: Sequence[Any], size: int = _QUERY_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class GraphStore(abc.ABC):
    """Nodes are (collection, id) pairs, relationships typed directed edges; all per project.

    Write methods return how many items they actually created or deleted, so a repeated
    call returns 0.
    """

    def __init__(self, allowed_types: Collection[str] = DEFAULT_RELATIONSHIP_TYPES) -> None:
        allowed = frozenset(allowed_types)
        # A whitelist entry is spliced into Cypher too, so it must obey the same grammar.
        for rel_type in allowed:
            if not isinstance(rel_type, str) or not _TYPE_PATTERN.fullmatch(rel_type):
                raise ValueError(f"invalid relationship type in whitelist: {rel_type!r}")
        self.allowed_types: frozenset[str] = allowed

    def _validated(self, rels: Iterable[Relationship]) -> list[Relationship]:
        """Check every relationship before anything is written, so a bad batch writes nothing."""
        rels = _unique(rels)
        for rel in rels:
            if not isinstance(rel, Relationship):
                raise GraphError(f"expected a Relationship, got {type(rel).__name__}")
            validate_relationship_type(rel.type, self.allowed_types)
        return rels

    def _validated_rows(self, rows: Iterable[Sequence[str]]) -> list[Row]:
        """:meth:`_validated` for rows: five non-empty strings each, whitelisted types."""
        rows = [tuple(row) for row in rows]
        for row in rows:
            # Spelled out rather than all(...) over a generator: this runs once per edge.
            if len(row) != 5:
                raise _bad_row(row)
            a, b, c, d, t = row
            if not (type(a) is str and type(b) is str and type(c) is str and type(d) is str
                    and type(t) is str and a and b and c and d and t):
                raise _bad_row(row)
        rows = _unique(rows)
        for rel_type in {row[4] for row in rows}:  # a handful of types for thousands of rows
            validate_relationship_type(rel_type, self.allowed_types)
        return rows

    # -- bulk rows ---------------------------------------------------------------------------
    # A clone moves tens of thousands of relationships. As rows -- plain tuples
    # (fromCollection, fromId, toCollection, toId, type) -- they are read, re-mapped to new
    # ids and written without building two dataclass objects per edge; stores that keep
    # rows natively (the embedded one) override both methods to skip the objects entirely.

    def relationship_rows_among(self, project: str, nodes: Collection[NodeRef]) -> list[Row]:
        """:meth:`relationships_among` as sorted rows."""
        return [relationship_row(r) for r in self.relationships_among(project, nodes)]

    def add_relationship_rows(self, project: str, rows: Iterable[Sequence[str]]) -> int:
        """:meth:`add_relationships` from rows, validated the same way before anything is written."""
        rows = self._validated_rows(rows)
        return self.add_relationships(project, [Relationship(NodeRef(a, b), NodeRef(c, d), t)
                                                for a, b, c, d, t in rows])

    @staticmethod
    def _nodes(nodes: Iterable[NodeRef]) -> list[NodeRef]:
        nodes = _unique(nodes)
        for node in nodes:
            if not isinstance(node, NodeRef):
                raise InvalidNodeRef(f"expected a NodeRef, got {type(node).__name__}")
        return nodes

    @staticmethod
    def _neighbourhood_result(root: NodeRef, nodes: Iterable[NodeRef],
                              rels: Iterable[Relationship]) -> dict:
        # Root first, the rest sorted: the same answer from every store.
        others = sorted(set(nodes) - {root})
        return {"nodes": [n.as_dict() for n in [root, *others]],
                "relationships": [r.as_dict() for r in sorted(set(rels))]}

    @abc.abstractmethod
    def add_nodes(self, project: str, nodes: Iterable[NodeRef]) -> int:
        """Create missing nodes; return how many were new."""

    @abc.abstractmethod
    def add_relationships(self, project: str, rels: Iterable[Relationship]) -> int:
        """Create missing relationships and their end nodes; return how many were new.

        Every type is validated first: InvalidRelationshipType means nothing was written.
        """

    @abc.abstractmethod
    def neighbourhood(self, project: str, node: NodeRef, depth: int = 1) -> dict:
        """{"nodes": [...], "relationships": [...]} within depth hops of node, either direction.

        depth is clamped to 1..5; the root comes first; nodes is empty if the root is unknown.
        """

    @abc.abstractmethod
    def relationships_among(self, project: str, nodes: Collection[NodeRef]) -> list[Relationship]:
        """Relationships whose both ends are in nodes, sorted."""

    @abc.abstractmethod
    def relationships_of(self, project: str, nodes: Collection[NodeRef]) -> list[Relationship]:
        """Relationships touching any of nodes, sorted."""

    def existing_nodes(self, project: str, nodes: Collection[NodeRef]) -> set[NodeRef]:
        """Those of ``nodes`` the project's graph has (one neighbourhood query each here;
        stores that can ask in bulk override it)."""
        return {n for n in self._nodes(nodes) if self.neighbourhood(project, n, 1)["nodes"]}

    @abc.abstractmethod
    def delete_nodes(self, project: str, nodes: Iterable[NodeRef]) -> int:
        """Delete nodes with their relationships; return how many nodes were deleted."""

    @abc.abstractmethod
    def delete_relationships(self, project: str, rels: Iterable[Relationship]) -> int:
        """Delete relationships (not their nodes); return how many were deleted."""

    @abc.abstractmethod
    def list_all(self, project: str) -> tuple[list[NodeRef], list[Relationship]]:
        """Every node and relationship of the project, sorted (tests, snapshots, export)."""

    def prepare_project(self, project: str) -> None:
        """Called once when a project is created, before anyone can use it (nothing to do here)."""

    @abc.abstractmethod
    def drop_project(self, project: str) -> None:
        """Forget the whole graph of a project."""

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""


class _Request:
    """One routed item of a bucket operation: an entry to add/remove, or a node to read."""

    __slots__ = ("kind", "entry", "node", "nh", "_kh")

    def __init__(self, kind: str, entry: tuple | None, node: tuple[str, str], nh: int) -> None:
        self.kind, self.entry, self.node, self.nh, self._kh = kind, entry, node, nh, None

    @property
    def kh(self) -> int:
        if self._kh is None:
            self._kh = _hash(self.entry, b"key")
        return self._kh


def _hash(parts: Sequence[str], person: bytes) -> int:
    """A stable 64-bit hash (Python's hash() is salted per process, buckets outlive processes)."""
    data = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, person=person).digest(), "little")


def _dump_items(items: Iterable[tuple]) -> str:
    # One JSON string per bucket, not a BSON array: the embedded stores deep-copy and walk
    # every array element on each write, a string is copied as one object.
    return json.dumps(sorted(items), separators=(",", ":"))


def _load_items(doc: Mapping[str, Any] | None) -> set[tuple]:
    if not doc or not doc.get("items"):
        return set()
    return {tuple(item) for item in json.loads(doc["items"])}


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
        docs: dict[str, dict] = {}
        for chunk in _chunks(list(ids)):
            docs.update((d["_id"], d) for d in coll.find({"_id": {"$in": list(chunk)}}))
        return docs

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


_DRIVER_SCHEMES = frozenset({"bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc"})
_PY2NEO_SCHEMES = _DRIVER_SCHEMES | {"http", "https"}


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """("bolt://u:p@host:7687") -> ("bolt://host:7687", "u", "p"); drivers want auth apart."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, unquote(user) or None, unquote(password) if sep else None


def create_graph_store(neo4j_uri: str | None,
                       database_for: Callable[[str], "pymongo.database.Database"], *,
                       driver: str = "neo4j", user: str | None = None,
                       password: str | None = None,
                       allowed_types: Collection[str] = DEFAULT_RELATIONSHIP_TYPES,
                       database: str | None = None) -> GraphStore:
    """The embedded store when neo4j_uri is empty, else a Neo4j adapter.

    driver "neo4j" (official driver, Neo4j 4.4+) or "py2neo" (servers up to 4.4).
    Credentials come from user/password, else from the URI's userinfo; database names a
    Neo4j database other than the server default.
    """
    if not neo4j_uri:
        return EmbeddedGraphStore(database_for, allowed_types)
    uri, uri_user, uri_password = split_credentials(neo4j_uri)
    user = user if user is not None else uri_user
    password = password if password is not None else uri_password
    scheme = urlsplit(uri).scheme.lower()
    kind = (driver or "neo4j").lower()
    # Imported here so the embedded default never loads the Neo4j adapters.
    from core import graph_neo4j

    if kind == "neo4j":
        if scheme not in _DRIVER_SCHEMES:
            raise ValueError(f"unsupported Neo4j URI scheme {scheme!r} for the neo4j driver; "
                             f"use one of {', '.join(sorted(_DRIVER_SCHEMES))}")
        return graph_neo4j.Neo4jDriverGraphStore(uri, user=user, password=password,
                                                 database=database, allowed_types=allowed_types)
    if kind == "py2neo":
        if scheme not in _PY2NEO_SCHEMES:
            raise ValueError(f"unsupported Neo4j URI scheme {scheme!r} for py2neo; "
                             f"use one of {', '.join(sorted(_PY2NEO_SCHEMES))}")
        return graph_neo4j.Py2neoGraphStore(uri, user=user, password=password,
                                            database=database, allowed_types=allowed_types)
    raise ValueError(f"unknown graph driver {driver!r}: expected 'neo4j' or 'py2neo'")
