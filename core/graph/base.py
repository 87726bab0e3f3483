"""The graph's vocabulary: the GraphStore interface, NodeRef and Relationship, and the checks
every store applies before anything is written (relationship-type whitelist, depth, project)."""
from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from typing import Any, Collection, Iterable, Mapping, Sequence

DEFAULT_RELATIONSHIP_TYPES: frozenset[str] = frozenset({
    "APPEARS_IN", "LOCATED_AT", "PART_OF", "RIVAL_OF", "ALLY_OF", "KNOWS", "RELATED_TO",
    "REFERENCES", "USES_MEDIA", "FEATURES", "FOLLOWS", "PRECEDES", "OWNS", "FAMILY_OF",
})

MIN_DEPTH = 1
MAX_DEPTH = 5  # beyond this a film graph's neighbourhood is most of the project: use list_all

# fullmatch, not match+$: "$" would also accept a trailing newline.
_TYPE_PATTERN = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


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
