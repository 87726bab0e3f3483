"""Conditions on a stored document, each decided two ways that cannot drift apart: rendered as a
MongoDB filter (lists, totals, pages) and evaluated in Python (a single read, a realtime event).

Every leaf tests the *kind* of one field path (missing, null, bool, number, string, array, object,
other) or a value of one kind, so MongoDB's own conveniences never leak in: without a kind guard a
filter ``{x: 1}`` also matches ``true`` (on the embedded server) and ``[1, 5]`` (everywhere). Paths
are only ever reached through objects: the semantics layer (:mod:`.semantics`) guards ancestors,
because MongoDB walks into arrays of objects where Polar's lookup fails."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

KINDS = ("missing", "null", "bool", "number", "string", "array", "object", "other")
#: Top-level fields Polar reads from a slot that is ``None`` when the stored document lacks them.
MISSING_AS_NULL = frozenset({"createdBy", "version"})
_MONGO_TYPES = {"bool": "bool", "number": "number", "string": "string", "object": "object"}
_OPS = {"eq": "$eq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}
_ABSENT = object()


class Cond:
    """A condition on one stored document."""

    def query(self) -> dict:
        raise NotImplementedError

    def evaluate(self, document: dict) -> bool:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Const(Cond):
    value: bool

    def query(self) -> dict:
        return {} if self.value else {"_id": {"$in": []}}

    def evaluate(self, document: dict) -> bool:
        return self.value


TRUE, FALSE = Const(True), Const(False)


@dataclasses.dataclass(frozen=True)
class All(Cond):
    parts: tuple

    def query(self) -> dict:
        return {"$and": [p.query() for p in self.parts]}

    def evaluate(self, document: dict) -> bool:
        return all(p.evaluate(document) for p in self.parts)


@dataclasses.dataclass(frozen=True)
class Any_(Cond):
    parts: tuple

    def query(self) -> dict:
        return {"$or": [p.query() for p in self.parts]}

    def evaluate(self, document: dict) -> bool:
        return any(p.evaluate(document) for p in self.parts)


@dataclasses.dataclass(frozen=True)
class Not(Cond):
    part: Cond

    def query(self) -> dict:
        return {"$nor": [self.part.query()]}  # the embedded server has no field-level $not

    def evaluate(self, document: dict) -> bool:
        return not self.part.evaluate(document)


@dataclasses.dataclass(frozen=True)
class IdNotIn(Cond):
    """Documents whose ``_id`` is none of ``ids``: files hidden with the documents that use them
    (``Inheritance`` in :mod:`.authorizer`), decided in a list and in hand alike."""

    ids: frozenset

    def query(self) -> dict:
        return {"_id": {"$nin": sorted(self.ids)}}

    def evaluate(self, document: dict) -> bool:
        return document.get("_id") not in self.ids


def all_of(parts) -> Cond:
    out: list[Cond] = []
    for p in parts:
        if p == FALSE:
            return FALSE
        if p == TRUE:
            continue
        out.extend(p.parts if isinstance(p, All) else (p,))
    if not out:
        return TRUE
    return out[0] if len(out) == 1 else All(tuple(dict.fromkeys(out)))


def any_of(parts) -> Cond:
    out: list[Cond] = []
    for p in parts:
        if p == TRUE:
            return TRUE
        if p == FALSE:
            continue
        out.extend(p.parts if isinstance(p, Any_) else (p,))
    if not out:
        return FALSE
    return out[0] if len(out) == 1 else Any_(tuple(dict.fromkeys(out)))


def negate(cond: Cond) -> Cond:
    if isinstance(cond, Const):
        return Const(not cond.value)
    if isinstance(cond, Not):
        return cond.part
    return Not(cond)


# --- leaves ------------------------------------------------------------------------------


def kind_of(value: Any) -> str:
    """A Python (decoded BSON) value's kind as Polar tells values apart."""
    if value is _ABSENT:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "other"


def lookup(document: dict, field: str) -> Any:
    """The value at a dotted path reached through objects only (``_ABSENT`` when missing)."""
    value: Any = document
    for name in field.split("."):
        if not isinstance(value, dict) or name not in value:
            return None if field in MISSING_AS_NULL else _ABSENT
        value = value[name]
    if field == "_id" and isinstance(value, ObjectId):
        return str(value)
    return value


@dataclasses.dataclass(frozen=True)
class Kind(Cond):
    """The field's kind is ``kind`` (its ancestors being objects or missing)."""

    field: str
    kind: str

    def query(self) -> dict:
        f = self.field
        if f == "_id":
            return {} if self.kind == "string" else FALSE.query()
        if f in MISSING_AS_NULL and self.kind == "missing":
            return FALSE.query()
        not_array = {"$nor": [{f: {"$type": "array"}}]}  # MongoDB's $type also matches elements
        if self.kind == "missing":
            return {f: {"$exists": False}}
        if self.kind == "array":
            return {f: {"$type": "array"}}
        if self.kind == "null":
            if f in MISSING_AS_NULL:
                return {f: {"$eq": None}}
            return {"$and": [{f: {"$exists": True}}, {f: {"$eq": None}}, not_array]}
        if self.kind == "other":
            named = [Kind(f, k).query() for k in KINDS if k != "other"]
            return {"$nor": named}
        return {"$and": [{f: {"$type": _MONGO_TYPES[self.kind]}}, not_array]}

    def evaluate(self, document: dict) -> bool:
        return kind_of(lookup(document, self.field)) == self.kind


@dataclasses.dataclass(frozen=True)
class Compare(Cond):
    """The field holds a value of ``kind`` and ``value op constant`` (``op``: eq, lt, lte, gt, gte)."""

    field: str
    kind: str
    op: str
    constant: Any

    def query(self) -> dict:
        f, c = self.field, self.constant
        if f == "_id":
            return {f: {_OPS[self.op]: _object_id(c, self.op)}}
        return {"$and": [Kind(f, self.kind).query(), {f: {_OPS[self.op]: c}}]}

    def evaluate(self, document: dict) -> bool:
        value = lookup(document, self.field)
        if kind_of(value) != self.kind:
            return False
        return {"eq": value == self.constant, "lt": value < self.constant, "lte": value <= self.constant,
                "gt": value > self.constant, "gte": value >= self.constant}[self.op]


def _object_id(value: str, op: str) -> Any:
    """Ids are stored as ObjectIds and read as their hex strings by policies."""
    try:
        oid = ObjectId(value)
    except (InvalidId, TypeError):
        oid = None
    if oid is not None and str(oid) == value:
        return oid
    if op == "eq":
        return value  # not an id: matches no stored ObjectId, as Polar's string comparison
    raise ValueError(f"{value!r} is not a document id; ids can be ordered only against ids")


@dataclasses.dataclass(frozen=True)
class Element(Cond):
    """The field is an array with an element of ``kind`` equal to ``constant``."""

    field: str
    kind: str
    constant: Any

    def query(self) -> dict:
        return {self.field: {"$elemMatch": {"$eq": self.constant, "$type": _MONGO_TYPES[self.kind]}}}

    def evaluate(self, document: dict) -> bool:
        value = lookup(document, self.field)
        return isinstance(value, list) and any(
            kind_of(e) == self.kind and e == self.constant for e in value)


@dataclasses.dataclass(frozen=True)
class Substring(Cond):
    """The field is a string containing the character ``constant`` (Polar's ``"x" in doc.title``)."""

    field: str
    constant: str

    def query(self) -> dict:
        return {"$and": [Kind(self.field, "string").query(), {self.field: {"$regex": re.escape(self.constant)}}]}

    def evaluate(self, document: dict) -> bool:
        value = lookup(document, self.field)
        return isinstance(value, str) and self.constant in value
