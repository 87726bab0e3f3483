"""The clone request (:class:`CloneOptions`) and what it will write (:class:`ClonePlan`; media as ``core.cloneplan.PlannedMedia``).

Plain data: the planner fills a plan, the executor writes it."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

from bson import ObjectId

from core import cloneplan
from core.graph import NodeRef, Row


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
    media: list[cloneplan.PlannedMedia] = dataclasses.field(default_factory=list)
    relationships: list[Row] = dataclasses.field(default_factory=list)  # rows on the target ids
    dangling: list[dict] = dataclasses.field(default_factory=list)
    # References left naming a source document the cloning user may not view (not copied):
    # the same entry shape as ``dangling``, ``referencedCollection`` being where it lives.
    hidden: list[dict] = dataclasses.field(default_factory=list)
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
            "hidden": self.hidden,
            "warnings": self.warnings,
            "idMap": dict(self.id_map),
        }

    def public(self, dry_run: bool) -> cloneplan.ClonePlan:
        """The plan as ``aladdin_before_clone`` sees it (``core.cloneplan``: ids as strings)."""
        id_map = self.id_map
        documents = [cloneplan.PlannedDocument(collection, str(doc["clonedFrom"]["documentId"]),
                                               str(doc["_id"]), doc)
                     for collection, docs in self.copies.items() for doc in docs]
        return cloneplan.ClonePlan(
            source_project_id=str(self.source.id), target_project_id=str(self.target.id),
            root=cloneplan.PlanRoot(self.root[0], self.root[1], id_map[self.root[1]]),
            documents=documents,
            media=list(self.media),
            relationships=[cloneplan.PlannedRelationship(*row) for row in self.relationships],
            dry_run=dry_run, deep=self.options.deep, dangling=list(self.dangling),
            hidden=list(self.hidden), warnings=list(self.warnings))
