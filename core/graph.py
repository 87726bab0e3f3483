"""Relationship graph between content items: the GraphStore interface, the embedded store
kept in each project's own database, and create_graph_store() choosing embedded or Neo4j."""
from __future__ import annotations

import abc
import re
from collections import defaultdict
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

NODES_COLLECTION = "graph_nodes"
RELATIONSHIPS_COLLECTION = "graph_relationships"

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

    @abc.abstractmethod
    def delete_nodes(self, project: str, nodes: Iterable[NodeRef]) -> int:
        """Delete nodes with their relationships; return how many nodes were deleted."""

    @abc.abstractmethod
    def delete_relationships(self, project: str, rels: Iterable[Relationship]) -> int:
        """Delete relationships (not their nodes); return how many were deleted."""

    @abc.abstractmethod
    def list_all(self, project: str) -> tuple[list[NodeRef], list[Relationship]]:
        """Every node and relationship of the project, sorted (tests, snapshots, export)."""

    @abc.abstractmethod
    def drop_project(self, project: str) -> None:
        """Forget the whole graph of a project."""

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""


class EmbeddedGraphStore(GraphStore):
    """Graph kept in the project's own database: "graph_nodes" and "graph_relationships".

    Node documents are {collection, id}; relationship documents {from, to, type} with
    from/to as {collection, id}, the same shape as Relationship.as_dict().
    """

    def __init__(self, database_for: Callable[[str], "pymongo.database.Database"],
                 allowed_types: Collection[str] = DEFAULT_RELATIONSHIP_TYPES) -> None:
        super().__init__(allowed_types)
        self._database_for = database_for
        self._indexed: set[str] = set()

    # -- plumbing -----------------------------------------------------------------------

    def _collections(self, project: str):
        db = self._database_for(_check_project(project))
        nodes, rels = db[NODES_COLLECTION], db[RELATIONSHIPS_COLLECTION]
        if project not in self._indexed:
            # Unique indexes keep MERGE semantics when two writers insert the same item.
            nodes.create_index([("collection", 1), ("id", 1)], unique=True, name="node_key")
            rels.create_index([("from.collection", 1), ("from.id", 1), ("to.collection", 1),
                               ("to.id", 1), ("type", 1)], unique=True, name="rel_key")
            # Incoming-edge lookups for neighbourhood / relationships_of.
            rels.create_index([("to.collection", 1), ("to.id", 1)], name="rel_to")
            self._indexed.add(project)
        return nodes, rels

    @staticmethod
    def _insert(coll, docs: list[dict]) -> int:
        """insert_many, unordered; a duplicate-key loss to a concurrent writer is not an error."""
        from pymongo.errors import BulkWriteError

        if not docs:
            return 0
        try:
            return len(coll.insert_many(docs, ordered=False).inserted_ids)
        except BulkWriteError as exc:
            # The unique index gives MERGE semantics under races; anything else is real.
            if any(err.get("code") != 11000 for err in exc.details.get("writeErrors", [])):
                raise
            return exc.details.get("nInserted", 0)

    @staticmethod
    def _node_filter(prefix: str, nodes: Sequence[NodeRef]) -> list[dict]:
        """$or clauses matching any of nodes, one batched $in per collection."""
        by_collection: dict[str, list[str]] = defaultdict(list)
        for node in nodes:
            by_collection[node.collection].append(node.id)
        return [{f"{prefix}collection": c, f"{prefix}id": {"$in": ids}}
                for c, ids in by_collection.items()]

    @staticmethod
    def _rel_from_doc(doc: Mapping[str, Any]) -> Relationship:
        return Relationship(NodeRef(doc["from"]["collection"], doc["from"]["id"]),
                            NodeRef(doc["to"]["collection"], doc["to"]["id"]), doc["type"])

    @staticmethod
    def _rel_key(rel: Relationship) -> dict[str, str]:
        return {"from.collection": rel.source.collection, "from.id": rel.source.id,
                "to.collection": rel.target.collection, "to.id": rel.target.id, "type": rel.type}

    def _touching(self, rels_coll, nodes: Sequence[NodeRef]) -> set[Relationship]:
        found: set[Relationship] = set()
        for chunk in _chunks(nodes):
            query = {"$or": self._node_filter("from.", chunk) + self._node_filter("to.", chunk)}
            found.update(self._rel_from_doc(d) for d in rels_coll.find(query, {"_id": 0}))
        return found

    # -- interface ----------------------------------------------------------------------

    # Writes read what exists, then insert_many the rest: two round trips per chunk, not one
    # per item, using only operations every backend has (mongomock 4.3 cannot take pymongo
    # 4.x's UpdateOne/DeleteOne in bulk_write).

    def add_nodes(self, project: str, nodes: Iterable[NodeRef]) -> int:
        nodes = self._nodes(nodes)
        if not nodes:
            return 0
        nodes_coll, _ = self._collections(project)
        existing: set[NodeRef] = set()
        for chunk in _chunks(nodes):
            existing.update(NodeRef(d["collection"], d["id"]) for d in nodes_coll.find(
                {"$or": self._node_filter("", chunk)}, {"_id": 0, "collection": 1, "id": 1}))
        return self._insert(nodes_coll, [n.as_dict() for n in nodes if n not in existing])

    def add_relationships(self, project: str, rels: Iterable[Relationship]) -> int:
        rels = self._validated(rels)
        if not rels:
            return 0
        self.add_nodes(project, _unique(n for r in rels for n in (r.source, r.target)))
        _, rels_coll = self._collections(project)
        wanted = set(rels)
        existing: set[Relationship] = set()
        for chunk in _chunks(_unique(r.source for r in rels)):
            for doc in rels_coll.find({"$or": self._node_filter("from.", chunk)}, {"_id": 0}):
                found = self._rel_from_doc(doc)
                if found in wanted:
                    existing.add(found)
        return self._insert(rels_coll, [r.as_dict() for r in rels if r not in existing])

    def neighbourhood(self, project: str, node: NodeRef, depth: int = 1) -> dict:
        depth = clamp_depth(depth)
        (root,) = self._nodes([node])
        nodes_coll, rels_coll = self._collections(project)
        if nodes_coll.find_one({"collection": root.collection, "id": root.id}, {"_id": 1}) is None:
            return {"nodes": [], "relationships": []}
        # BFS, one batched query per hop: a hop-k query finds exactly the edges on paths
        # of length <= k+1 from the root, matching Cypher's [*0..depth] answer.
        seen: set[NodeRef] = {root}
        found: set[Relationship] = set()
        frontier: list[NodeRef] = [root]
        for _ in range(depth):
            if not frontier:
                break
            hop = self._touching(rels_coll, frontier)
            found |= hop
            frontier = sorted({n for r in hop for n in (r.source, r.target)} - seen)
            seen.update(frontier)
        return self._neighbourhood_result(root, seen, found)

    def relationships_among(self, project: str, nodes: Collection[NodeRef]) -> list[Relationship]:
        members = set(self._nodes(nodes))
        if not members:
            return []
        _, rels_coll = self._collections(project)
        # Fetch by source only, then keep those whose target is also a member.
        found: set[Relationship] = set()
        for chunk in _chunks(sorted(members)):
            for doc in rels_coll.find({"$or": self._node_filter("from.", chunk)}, {"_id": 0}):
                rel = self._rel_from_doc(doc)
                if rel.target in members:
                    found.add(rel)
        return sorted(found)

    def relationships_of(self, project: str, nodes: Collection[NodeRef]) -> list[Relationship]:
        nodes = self._nodes(nodes)
        if not nodes:
            return []
        _, rels_coll = self._collections(project)
        return sorted(self._touching(rels_coll, nodes))

    def delete_nodes(self, project: str, nodes: Iterable[NodeRef]) -> int:
        nodes = self._nodes(nodes)
        if not nodes:
            return 0
        nodes_coll, rels_coll = self._collections(project)
        deleted = 0
        for chunk in _chunks(nodes):
            # Relationships first: a crash in between leaves nodes without edges, never
            # edges pointing at missing nodes.
            rels_coll.delete_many({"$or": self._node_filter("from.", chunk)
                                   + self._node_filter("to.", chunk)})
            deleted += nodes_coll.delete_many({"$or": self._node_filter("", chunk)}).deleted_count
        return deleted

    def delete_relationships(self, project: str, rels: Iterable[Relationship]) -> int:
        rels = self._validated(rels)
        if not rels:
            return 0
        _, rels_coll = self._collections(project)
        return sum(rels_coll.delete_many({"$or": [self._rel_key(r) for r in chunk]}).deleted_count
                   for chunk in _chunks(rels))

    def list_all(self, project: str) -> tuple[list[NodeRef], list[Relationship]]:
        nodes_coll, rels_coll = self._collections(project)
        nodes = sorted(NodeRef(d["collection"], d["id"]) for d in nodes_coll.find({}, {"_id": 0}))
        rels = sorted(self._rel_from_doc(d) for d in rels_coll.find({}, {"_id": 0}))
        return nodes, rels

    def drop_project(self, project: str) -> None:
        db = self._database_for(_check_project(project))
        db.drop_collection(NODES_COLLECTION)
        db.drop_collection(RELATIONSHIPS_COLLECTION)
        # Dropping the collections dropped their indexes too.
        self._indexed.discard(project)


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
