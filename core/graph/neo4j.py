"""Neo4j GraphStore adapters: the official neo4j driver (Neo4j 4.4+) and py2neo (up to 4.4).
Both run the same statements from core.graph.cypher; they differ only in how a transaction runs."""
from __future__ import annotations

import abc
import logging
import threading
from collections import defaultdict
from typing import Any, Collection, Iterable, Mapping, Sequence

from . import cypher
from .base import (DEFAULT_RELATIONSHIP_TYPES, GraphStore, NodeRef, Relationship, _check_project,
                   clamp_depth)

log = logging.getLogger(__name__)

Statement = tuple[str, Mapping[str, Any]]
# (records as dicts, update counters such as nodes_created) for one statement
StatementResult = tuple[list[dict[str, Any]], dict[str, int]]

_COUNTERS = ("nodes_created", "nodes_deleted", "relationships_created", "relationships_deleted")

# Rows per UNWIND: keeps each request message moderate while one transaction still covers
# the whole call, so a failure leaves nothing half-written.
_ROWS_PER_STATEMENT = 5000
_DROP_BATCH = 10000


def _chunks(rows: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        yield rows[start:start + _ROWS_PER_STATEMENT]


def _rel_from_row(row: Mapping[str, Any]) -> Relationship:
    return Relationship(NodeRef(row["from_collection"], row["from_id"]),
                        NodeRef(row["to_collection"], row["to_id"]), row["type"])


def _rel_row(rel: Relationship) -> dict[str, str]:
    return {"from_collection": rel.source.collection, "from_id": rel.source.id,
            "to_collection": rel.target.collection, "to_id": rel.target.id}


class CypherGraphStore(GraphStore):
    """GraphStore over core.graph.cypher; subclasses supply _execute() for their client library."""

    def __init__(self, allowed_types: Collection[str] = DEFAULT_RELATIONSHIP_TYPES) -> None:
        super().__init__(allowed_types)
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    @abc.abstractmethod
    def _execute(self, statements: Sequence[Statement], *, write: bool) -> list[StatementResult]:
        """Run statements in one transaction (retried on transient errors), in order."""

    def _total(self, results: Iterable[StatementResult], counter: str) -> int:
        return sum(counters.get(counter, 0) for _, counters in results)

    def _ensure_schema(self) -> None:
        # Lazily, on first write: no server round trip at construction or import time.
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            for statement in cypher.SCHEMA_STATEMENTS:
                try:
                    self._execute([(statement, {})], write=True)
                    break
                except Exception as exc:  # driver errors differ per library and version
                    log.debug("graph schema statement refused (%s): %s", exc, statement)
            else:
                # Only an optimisation: writes stay correct without the index, just slower.
                log.warning("could not create the AladdinNode index; graph queries will scan")
            self._schema_ready = True

    def add_nodes(self, project: str, nodes: Iterable[NodeRef]) -> int:
        _check_project(project)
        nodes = self._nodes(nodes)
        if not nodes:
            return 0
        self._ensure_schema()
        rows = [n.as_dict() for n in nodes]
        results = self._execute([(cypher.MERGE_NODES, {"project": project, "rows": list(chunk)})
                                 for chunk in _chunks(rows)], write=True)
        return self._total(results, "nodes_created")

    def add_relationships(self, project: str, rels: Iterable[Relationship]) -> int:
        _check_project(project)
        rels = self._validated(rels)
        if not rels:
            return 0
        by_type: dict[str, list[dict[str, str]]] = defaultdict(list)
        for rel in rels:
            by_type[rel.type].append(_rel_row(rel))
        statements = [(cypher.merge_relationships(rel_type, self.allowed_types),
                       {"project": project, "rows": list(chunk)})
                      for rel_type, rows in sorted(by_type.items()) for chunk in _chunks(rows)]
        self._ensure_schema()
        return self._total(self._execute(statements, write=True), "relationships_created")

    def neighbourhood(self, project: str, node: NodeRef, depth: int = 1) -> dict:
        _check_project(project)
        (root,) = self._nodes([node])
        [(records, _)] = self._execute([(cypher.neighbourhood(clamp_depth(depth)),
                                         {"project": project, **root.as_dict()})], write=False)
        record = records[0] if records else {"nodes": [], "relationships": []}
        if not record["nodes"]:
            return {"nodes": [], "relationships": []}
        return self._neighbourhood_result(
            root, (NodeRef(n["collection"], n["id"]) for n in record["nodes"]),
            (_rel_from_row(r) for r in record["relationships"]))

    def _read_rels(self, statement: str, project: str,
                   nodes: Collection[NodeRef]) -> list[Relationship]:
        _check_project(project)
        nodes = self._nodes(nodes)
        if not nodes:
            return []
        [(records, _)] = self._execute(
            [(statement, {"project": project, "nodes": [n.as_dict() for n in nodes]})],
            write=False)
        return sorted({_rel_from_row(r) for r in records})

    def relationships_among(self, project: str, nodes: Collection[NodeRef]) -> list[Relationship]:
        return self._read_rels(cypher.RELATIONSHIPS_AMONG, project, nodes)

    def relationships_of(self, project: str, nodes: Collection[NodeRef]) -> list[Relationship]:
        return self._read_rels(cypher.RELATIONSHIPS_OF, project, nodes)

    def existing_nodes(self, project: str, nodes: Collection[NodeRef]) -> set[NodeRef]:
        _check_project(project)
        rows = [n.as_dict() for n in self._nodes(nodes)]
        if not rows:
            return set()
        results = self._execute([(cypher.EXISTING_NODES, {"project": project, "nodes": list(chunk)})
                                 for chunk in _chunks(rows)], write=False)
        return {NodeRef(r["collection"], r["id"]) for records, _ in results for r in records}

    def delete_nodes(self, project: str, nodes: Iterable[NodeRef]) -> int:
        _check_project(project)
        nodes = self._nodes(nodes)
        if not nodes:
            return 0
        rows = [n.as_dict() for n in nodes]
        results = self._execute([(cypher.DELETE_NODES, {"project": project, "nodes": list(chunk)})
                                 for chunk in _chunks(rows)], write=True)
        return self._total(results, "nodes_deleted")

    def delete_relationships(self, project: str, rels: Iterable[Relationship]) -> int:
        _check_project(project)
        rels = self._validated(rels)
        if not rels:
            return 0
        rows = [{**_rel_row(r), "type": r.type} for r in rels]
        results = self._execute([(cypher.DELETE_RELATIONSHIPS,
                                  {"project": project, "rows": list(chunk)})
                                 for chunk in _chunks(rows)], write=True)
        return self._total(results, "relationships_deleted")

    def list_all(self, project: str) -> tuple[list[NodeRef], list[Relationship]]:
        _check_project(project)
        params = {"project": project}
        (node_records, _), (rel_records, _) = self._execute(
            [(cypher.LIST_NODES, params), (cypher.LIST_RELATIONSHIPS, params)], write=False)
        return (sorted(NodeRef(r["collection"], r["id"]) for r in node_records),
                sorted(_rel_from_row(r) for r in rel_records))

    def drop_project(self, project: str) -> None:
        _check_project(project)
        while True:
            [(records, _)] = self._execute(
                [(cypher.DROP_PROJECT_BATCH, {"project": project, "batch": _DROP_BATCH})],
                write=True)
            if not records or records[0]["deleted"] < _DROP_BATCH:
                return


class Neo4jDriverGraphStore(CypherGraphStore):
    """Neo4j through the official `neo4j` driver; managed transactions retry transient errors."""

    def __init__(self, uri: str, *, user: str | None = None, password: str | None = None,
                 database: str | None = None,
                 allowed_types: Collection[str] = DEFAULT_RELATIONSHIP_TYPES) -> None:
        super().__init__(allowed_types)
        import neo4j  # optional dependency: only needed when this adapter is chosen

        auth = (user, password or "") if user else None
        # The driver connects lazily, on the first session.
        self._driver = neo4j.GraphDatabase.driver(uri, auth=auth)
        self._database = database

    def _execute(self, statements: Sequence[Statement], *, write: bool) -> list[StatementResult]:
        def work(tx) -> list[StatementResult]:
            out: list[StatementResult] = []
            for text, params in statements:
                result = tx.run(text, dict(params))
                records = result.data()
                counters = result.consume().counters
                out.append((records, {name: getattr(counters, name) for name in _COUNTERS}))
            return out

        with self._driver.session(database=self._database) as session:
            return session.execute_write(work) if write else session.execute_read(work)

    def close(self) -> None:
        self._driver.close()


class Py2neoGraphStore(CypherGraphStore):
    """Neo4j through py2neo, for servers up to 4.4 (py2neo speaks Bolt up to 4.4)."""

    def __init__(self, uri: str, *, user: str | None = None, password: str | None = None,
                 database: str | None = None,
                 allowed_types: Collection[str] = DEFAULT_RELATIONSHIP_TYPES) -> None:
        super().__init__(allowed_types)
        import py2neo  # optional dependency: only needed when this adapter is chosen

        settings: dict[str, Any] = {}
        if user:
            settings["auth"] = (user, password or "")
        if database:
            settings["name"] = database
        # Unlike the neo4j driver, py2neo opens its connection pool here.
        self._graph = py2neo.Graph(uri, **settings)

    def _execute(self, statements: Sequence[Statement], *, write: bool) -> list[StatementResult]:
        out: list[StatementResult] = []

        def work(tx) -> None:
            out.clear()  # Graph.update may call us again after a transient error
            for text, params in statements:
                cursor = tx.run(text, dict(params))
                records = cursor.data()  # consume first: stats come with the summary
                stats = cursor.stats()
                out.append((records, {name: int(stats.get(name, 0)) for name in _COUNTERS}))

        if write:
            self._graph.update(work)
        else:
            tx = self._graph.begin(readonly=True)
            try:
                work(tx)
                self._graph.commit(tx)
            except BaseException:
                self._graph.rollback(tx)
                raise
        return list(out)

    def close(self) -> None:
        self._graph.service.connector.close()
