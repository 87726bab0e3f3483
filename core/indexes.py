"""The indexes of project databases — list order, filters, declared unique and inbound fields —
and the 409 a write answers when it would duplicate a declared unique value.

Uniqueness is the database's job: a check-then-write in Python would let two concurrent writers
both pass. Both backends enforce a unique index on a dotted path on insert and replace (probed on
nx-27017 0.8.1); their one departure is handled here and in ``ContentService.update``: nx-27017's
``findAndModify`` answers a duplicate with "no document matched" instead of error 11000."""

from __future__ import annotations

from typing import Any, Iterable

from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from .dotted import get_path
from .errors import Conflict

#: A ``core.content.ContentType`` (not imported: ``core.content`` imports this module).
ContentType = Any

_MISSING = object()

#: Top-level platform fields lists filter or sort on, and the fields the policy guide's worked
#: read rules test (docs/policies.md), which reach every list as part of its query.
LIST_FIELDS = ("createdBy", "updatedAt", "version", "isClone", "content.status", "content.secret")
DUPLICATE_KEY = 11000


class DuplicateValues(RuntimeError):
    """A unique index cannot be created because stored documents already share its values."""


def unique_specs(ctype: ContentType) -> list[tuple[str, ...]]:
    """The type's ``unique`` declaration as tuples of dotted paths (a bare string is one field)."""
    return [tuple(spec) if isinstance(spec, (list, tuple)) else (spec,) for spec in ctype.unique]


def ensure_indexes(db, content_types: Iterable[ContentType]) -> None:
    """Create the indexes every project database needs (called when a project is created, and by
    migrations for older projects): the default list order (``createdAt``, ties by ``_id``, which
    the server keeps in key order), and for each field a list may filter or sort on, that field
    then ``createdAt``, so a filtered page is read in the default order from one index; then the
    type's declared ``unique`` indexes, an index on each ``belongs_to`` field (deep clones find a
    document's members through it), on each reference field naming media (a file's visibility
    follows the documents using it) and its extra ``indexes``."""
    for ctype in content_types:
        coll = db[ctype.name]
        coll.create_index([("createdAt", 1)])
        coll.create_index([("clonedFrom.documentId", 1)])
        for field in dict.fromkeys((*LIST_FIELDS, *ctype.fields)):
            coll.create_index([(field, 1), ("createdAt", 1)])
        uniques = unique_specs(ctype)
        for fields in uniques:
            create_unique_index(coll, fields)
        plain = [(path,) for path, _ in ctype.belongs_to]
        # A file's users are found through these (core/media_access.py: files follow their documents).
        plain += [(item[0],) for item in ctype.reference_fields if not isinstance(item, str) and item[1] == "media"]
        plain += [tuple(s) if isinstance(s, (list, tuple)) else (s,) for s in ctype.indexes]
        for fields in dict.fromkeys(plain):
            if fields not in uniques:  # the unique index serves these lookups already
                coll.create_index([(f, 1) for f in fields])


def create_unique_index(coll, fields: tuple[str, ...]) -> None:
    """A unique index on ``fields``; documents missing one of them take no part.

    A plain index on the same keys is dropped first: nx-27017 names indexes by their keys and
    silently keeps the plain one (the uniqueness lost) when both are asked for. Stored duplicates
    raise :class:`DuplicateValues` naming them, so an operator can fix the data and migrate again."""
    keys = [(f, 1) for f in fields]
    for name, info in coll.index_information().items():
        if [tuple(k) for k in info.get("key", ())] == keys and not info.get("unique"):
            coll.drop_index(name)
    try:
        coll.create_index(keys, unique=True, name="unique_" + "_".join(fields),
                          partialFilterExpression={f: {"$exists": True} for f in fields})
    except OperationFailure as exc:
        if exc.code not in (None, DUPLICATE_KEY) and "UNIQUE" not in str(exc) and "duplicate" not in str(exc):
            raise
        raise DuplicateValues(
            f"{coll.database.name}.{coll.name}: documents already share values of {', '.join(fields)}, "
            f"which the content type declares unique; make them distinct, then run `aladdin migrate` "
            f"again") from exc


def is_duplicate_key(exc: BaseException) -> bool:
    """Whether a write failed on a unique index (a single write, or any write of a bulk)."""
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        return any(e.get("code") == DUPLICATE_KEY for e in exc.details.get("writeErrors", ()))
    return False


def duplicate_conflict(ctype: ContentType, coll, document: dict) -> Conflict:
    """The 409 for ``document`` clashing with a stored one on a declared unique field set: names
    the fields and values it shares (read from the unique indexes), never the other document."""
    for fields in unique_specs(ctype):
        values = {f: get_path(document, f, _MISSING) for f in fields}
        if any(v is _MISSING for v in values.values()):
            continue
        query: dict[str, Any] = {**values, "_id": {"$ne": document.get("_id")}}
        if coll.find_one(query, {"_id": 1}) is not None:
            shown = ", ".join(f"{f} = {v!r}" for f, v in values.items())
            return Conflict(f"another {ctype.name} document already has {shown} "
                            f"({', '.join(fields)} must be unique in a project)",
                            fields=list(fields))
    return Conflict(f"the write would duplicate a value {ctype.name} declares unique "
                    f"({'; '.join(', '.join(s) for s in unique_specs(ctype))})",
                    fields=[f for s in unique_specs(ctype) for f in s])

