"""The public clone plan handed to ``aladdin_before_clone``: what a clone will write, as plain data.

The clone plugin builds it from its own planner; plugins read it (and only it), so they never
depend on the clone plugin's internals. Every id here is a string."""

from __future__ import annotations

import dataclasses
from typing import Iterator, NamedTuple


class PlanRoot(NamedTuple):
    """The document the clone was asked for."""

    collection: str
    source_id: str
    new_id: str


class PlannedDocument(NamedTuple):
    """One document the clone will write.

    ``document`` is the copy exactly as it will be inserted into the target project (references
    already rewritten to new ids, provenance in ``clonedFrom``, overrides applied; ``_id`` is
    the new ``ObjectId``). Read it, do not change it: refuse the clone instead."""

    collection: str
    source_id: str
    new_id: str
    document: dict


class PlannedMedia(NamedTuple):
    """One storage object the clone will copy server-side."""

    source_id: str
    new_id: str
    source_key: str
    target_key: str
    size: int
    filename: str

    def as_dict(self) -> dict:
        """As the clone's answer lists it (camelCase)."""
        return {"sourceId": self.source_id, "id": self.new_id, "sourceKey": self.source_key,
                "storageKey": self.target_key, "bytes": self.size}


class PlannedRelationship(NamedTuple):
    """One graph relationship the clone will create, between new ids in the target project."""

    from_collection: str
    from_id: str
    to_collection: str
    to_id: str
    type: str


@dataclasses.dataclass(frozen=True)
class ClonePlan:
    """Everything a clone will write, decided before its first write.

    ``dangling`` and ``hidden`` are the report entries the answer carries (``collection``,
    ``documentId``, ``path``, ``references``, ``referencedCollection``); ``warnings`` are strings."""

    source_project_id: str
    target_project_id: str
    root: PlanRoot
    documents: list[PlannedDocument]
    media: list[PlannedMedia]
    relationships: list[PlannedRelationship]
    dry_run: bool
    deep: bool = True
    dangling: list[dict] = dataclasses.field(default_factory=list)
    hidden: list[dict] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def document_count(self) -> int:
        return len(self.documents)

    def documents_in(self, collection: str) -> Iterator[PlannedDocument]:
        """The planned documents of one collection."""
        return (d for d in self.documents if d.collection == collection)

    def collections(self) -> dict[str, int]:
        """Documents per collection, sorted by name."""
        counts: dict[str, int] = {}
        for d in self.documents:
            counts[d.collection] = counts.get(d.collection, 0) + 1
        return dict(sorted(counts.items()))

