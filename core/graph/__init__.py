"""Relationship graph between content items: the GraphStore interface, the embedded store kept in
each project's own database, and create_graph_store() choosing embedded or Neo4j."""
from __future__ import annotations

from .base import (DEFAULT_RELATIONSHIP_TYPES, MAX_DEPTH, MIN_DEPTH, GraphError, GraphStore,
                   InvalidNodeRef, InvalidRelationshipType, NodeRef, Relationship, Row, clamp_depth,
                   relationship_row, validate_relationship_type)
from .buckets import (BUCKET_BYTES, BUCKETS_COLLECTION, NODES_COLLECTION, RELATIONSHIPS_COLLECTION,
                      ROOT_BITS)
from .embedded import EmbeddedGraphStore
from .factory import create_graph_store, split_credentials

__all__ = [
    "BUCKET_BYTES", "BUCKETS_COLLECTION", "DEFAULT_RELATIONSHIP_TYPES", "MAX_DEPTH", "MIN_DEPTH",
    "NODES_COLLECTION", "RELATIONSHIPS_COLLECTION", "ROOT_BITS", "EmbeddedGraphStore", "GraphError",
    "GraphStore", "InvalidNodeRef", "InvalidRelationshipType", "NodeRef", "Relationship", "Row",
    "clamp_depth", "create_graph_store", "relationship_row", "split_credentials",
    "validate_relationship_type",
]
