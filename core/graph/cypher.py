"""Every Cypher statement of both Neo4j graph adapters: values are always $parameters, every
match is scoped by $project; only a validated relationship type or an int depth is spliced in."""
from __future__ import annotations

from typing import Collection

from .base import clamp_depth, validate_relationship_type

NODE_LABEL = "AladdinNode"

# Tried in order until one succeeds: the uniqueness constraint also makes concurrent
# MERGEs safe (Neo4j 5); 4.x falls back to a composite index, 3.5 to its older syntax.
SCHEMA_STATEMENTS: tuple[str, ...] = (
    "CREATE CONSTRAINT aladdin_node_unique IF NOT EXISTS FOR (n:AladdinNode) "
    "REQUIRE (n.project, n.collection, n.id) IS UNIQUE",
    "CREATE INDEX aladdin_node_key IF NOT EXISTS FOR (n:AladdinNode) "
    "ON (n.project, n.collection, n.id)",
    "CREATE INDEX ON :AladdinNode(project, collection, id)",
)

# $rows: [{collection, id}]
MERGE_NODES = """
UNWIND $rows AS row
MERGE (n:AladdinNode {project: $project, collection: row.collection, id: row.id})
"""

# Rows returned by the relationship readers below.
_REL_COLUMNS = """type(r) AS type,
       startNode(r).collection AS from_collection, startNode(r).id AS from_id,
       endNode(r).collection AS to_collection, endNode(r).id AS to_id"""


def merge_relationships(rel_type: str, allowed: Collection[str]) -> str:
    """MERGE one type's relationships (and their end nodes) from
    $rows: [{from_collection, from_id, to_collection, to_id}]."""
    rel_type = validate_relationship_type(rel_type, allowed)
    return f"""
UNWIND $rows AS row
MERGE (a:AladdinNode {{project: $project, collection: row.from_collection, id: row.from_id}})
MERGE (b:AladdinNode {{project: $project, collection: row.to_collection, id: row.to_id}})
MERGE (a)-[:{rel_type}]->(b)
"""


def neighbourhood(depth: int) -> str:
    """Nodes and relationships on paths of up to depth hops from ($collection, $id).

    One row: nodes [{collection, id}], relationships [{type, from_*, to_*}]; both empty
    when the root does not exist.
    """
    hops = int(clamp_depth(depth))
    # The zero-length path contributes the root; UNWIND of [null] keeps its row alive and
    # collect() drops the null. Every node on the path must be in the project, so a stray
    # edge to another project's node can never widen the answer.
    return f"""
MATCH p = (root:AladdinNode {{project: $project, collection: $collection, id: $id}})-[*0..{hops}]-(m:AladdinNode {{project: $project}})
WHERE all(x IN nodes(p) WHERE x.project = $project)
UNWIND (CASE WHEN length(p) = 0 THEN [null] ELSE relationships(p) END) AS r
WITH collect(DISTINCT m) AS ms, collect(DISTINCT r) AS rs
RETURN [x IN ms | {{collection: x.collection, id: x.id}}] AS nodes,
       [r IN rs | {{type: type(r),
                    from_collection: startNode(r).collection, from_id: startNode(r).id,
                    to_collection: endNode(r).collection, to_id: endNode(r).id}}] AS relationships
"""


# $nodes: [{collection, id}], deduplicated by the caller.
RELATIONSHIPS_AMONG = f"""
UNWIND $nodes AS k
MATCH (a:AladdinNode {{project: $project, collection: k.collection, id: k.id}})
WITH collect(a) AS members
UNWIND members AS a
MATCH (a)-[r]->(b:AladdinNode {{project: $project}})
WHERE b IN members
RETURN {_REL_COLUMNS}
"""

RELATIONSHIPS_OF = f"""
UNWIND $nodes AS k
MATCH (:AladdinNode {{project: $project, collection: k.collection, id: k.id}})-[r]-(:AladdinNode {{project: $project}})
WITH DISTINCT r
RETURN {_REL_COLUMNS}
"""

# $nodes: [{collection, id}]; the ones that exist come back.
EXISTING_NODES = """
UNWIND $nodes AS k
MATCH (n:AladdinNode {project: $project, collection: k.collection, id: k.id})
RETURN n.collection AS collection, n.id AS id
"""

DELETE_NODES = """
UNWIND $nodes AS k
MATCH (n:AladdinNode {project: $project, collection: k.collection, id: k.id})
DETACH DELETE n
"""

# Matching type(r) against a parameter keeps the type out of the text entirely.
# $rows: [{type, from_collection, from_id, to_collection, to_id}]
DELETE_RELATIONSHIPS = """
UNWIND $rows AS row
MATCH (:AladdinNode {project: $project, collection: row.from_collection, id: row.from_id})-[r]->(:AladdinNode {project: $project, collection: row.to_collection, id: row.to_id})
WHERE type(r) = row.type
DELETE r
"""

LIST_NODES = """
MATCH (n:AladdinNode {project: $project})
RETURN n.collection AS collection, n.id AS id
"""

LIST_RELATIONSHIPS = f"""
MATCH (:AladdinNode {{project: $project}})-[r]->(:AladdinNode {{project: $project}})
RETURN {_REL_COLUMNS}
"""

# Run repeatedly until deleted < $batch: one huge DETACH DELETE can exhaust server memory.
DROP_PROJECT_BATCH = """
MATCH (n:AladdinNode {project: $project})
WITH n LIMIT $batch
DETACH DELETE n
RETURN count(*) AS deleted
"""
