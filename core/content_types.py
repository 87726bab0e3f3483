"""Content types: what a plugin declares for a collection every project database gets."""

from __future__ import annotations

import copy
import dataclasses
import re

import marshmallow as ma

COLLECTION_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}\Z")


class RelatedDocumentSchema(ma.Schema):
    collection = ma.fields.String(required=True, validate=ma.validate.Regexp(COLLECTION_RE))
    documentId = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))


#: Top-level fields the platform writes with plain values only (ids as strings, counters, flags).
PLATFORM_SCALARS = frozenset({"createdBy", "updatedBy", "version", "isClone", "cloneDepth"})


@dataclasses.dataclass
class ContentType:
    """A collection every project database gets, declared by a plugin."""

    name: str
    title: str = ""
    fields: dict[str, ma.fields.Field] = dataclasses.field(default_factory=dict)
    reference_fields: tuple = ()     # dotted paths holding ids: "path" or ("path", "collection")
    sensitive_fields: tuple[str, ...] = ()  # dotted paths under content encrypted at rest
    indexes: tuple = ()              # extra pymongo index specs: ("field", ...) tuples
    readonly_fields: tuple[str, ...] = ()  # top-level fields only the platform writes (media's storageKey)
    description: str = ""
    unique: tuple = ()               # field sets unique per project: ("content.number",) or ("a", "b") tuples
    belongs_to: tuple = ()           # ("content.sceneId", "scenes"): deep clones of a scene bring its docs

    def __post_init__(self):
        if not COLLECTION_RE.match(self.name):
            raise ValueError(f"content type name {self.name!r} must match {COLLECTION_RE.pattern}")
        for spec in self.unique:
            fields = spec if isinstance(spec, (list, tuple)) else (spec,)
            if not fields or any(not isinstance(f, str) or is_sensitive({self.name: self}, self.name, f)
                                 for f in fields):
                raise ValueError(f"{self.name}: unique={spec!r} must name dotted paths, none encrypted")
        for item in self.belongs_to:
            if not (isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
                raise ValueError(f"{self.name}: belongs_to items are (field path, collection), got {item!r}")
        self.title = self.title or self.name.capitalize()
        self._schemas: dict[bool, ma.Schema] = {}

    @property
    def scalar_fields(self) -> frozenset[str]:
        """Top-level fields that only ever hold a plain value (never an array or an object): the
        platform's own and this type's string, number and boolean fields. A count of equalities on
        them can be answered the server's fastest way (``core.nx_compat.count``)."""
        typed = (ma.fields.String, ma.fields.Integer, ma.fields.Float, ma.fields.Boolean)
        return PLATFORM_SCALARS | {name for name, field in self.fields.items()
                                   if isinstance(field, typed) and name not in self.sensitive_fields}

    def schema(self, partial: bool = False) -> ma.Schema:
        """The marshmallow schema validating POST (and, partial, PATCH) bodies of this type."""
        if partial not in self._schemas:
            attrs = {
                "content": ma.fields.Dict(keys=ma.fields.String()),
                "relatedDocuments": ma.fields.List(ma.fields.Nested(RelatedDocumentSchema)),
                **{name: copy.deepcopy(field) for name, field in self.fields.items()},
            }
            cls = ma.Schema.from_dict(attrs, name=f"{self.title}Write")
            self._schemas[partial] = cls(partial=partial, unknown=ma.RAISE)
        return self._schemas[partial]


def is_sensitive(content_types: dict, collection: str, path: str) -> bool:
    """Does the stored field ``path`` of ``collection`` hold, or lie inside, an encrypted field?"""
    ctype = content_types.get(collection)
    return any(path == field or path.startswith(field + ".") or field.startswith(path + ".")
               for field in (ctype.sensitive_fields if ctype else ()))

