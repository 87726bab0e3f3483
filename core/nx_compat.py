"""Where the embedded document server (nx-27017 0.8.1 over neosqlite 1.17) departs from MongoDB
semantics the product relies on, and the one workaround for each; applied inside the server
process (``core.embedded_mongo``), so clients stay plain pymongo.

Departures (the README lists them too):

1. Update operators applied in SQL bind their values as SQL parameters: a boolean comes back as
   1 or 0, a ``datetime`` set by
   ``$set`` / ``$setOnInsert`` / ``$max`` comes back as a string, and an object or list pushed by
   ``$push`` / ``$addToSet`` as a JSON string. neosqlite's Python update tier applies the same
   operators with MongoDB's types, so updates carrying any value that is not a JSON scalar take
   that tier (:func:`install`). It runs under the server's per-database lock, like the SQL tier,
   so compare-and-set and ``$inc`` stay atomic.
2. Collections named after SQL keywords fail: handled for every backend in ``core.collection_names``.
3. Counting departs from ``find``: ``count_documents`` decodes every match in Python (2.8 s for
   10,000 of 100,000) and misses documents whose field is missing for ``{field: null}``; the
   ``$count`` stage is fast but misses array elements and documents without the field under
   ``$ne`` / ``$nor``; the ``count`` command is fast and agrees with ``find`` except under
   negations. A list's total must count exactly what its pages show, so :func:`count` asks the
   ``count`` command, or counts the ids ``find`` returns when the filter negates. A conjunction
   of equalities on fields known to hold scalars (a content type's typed top-level fields) has
   none of those cases, so it takes ``$count`` (30 ms for 50,000 matches; ``count``: 250 ms).
4. A compound index cannot include ``_id``; the default list order is served by the ``createdAt``
   index, ties by ``_id`` being sorted within equal timestamps only (``core.content.ensure_indexes``).
5. Regular expressions cannot be sent in a query; the product matches emails exactly on their
   normalised (lower-case) form instead (``core.models.normalise_email``).
6. A field other than ``_id`` holding an ObjectId never matches a filter (neosqlite stores it
   as an object and compares its hex string, in SQL and in Python alike): the product matches
   ids outside ``_id`` as strings (``ApiToken.userId``; content and memberships always did).
7. A projection naming a dotted path returns a flat key (``{"content.panels": [...]}``) where
   MongoDB returns the nested field, and a dotted exclusion is ignored: projections with dotted
   paths are applied here instead (:func:`project`), with MongoDB's rules.
8. Binary values (BSON binary arrives as ``bytes``) in a replacement or an update of an existing
   document fail ("Object of type bytes is not JSON serializable"); inserts take them. Writes
   hand neosqlite its own ``Binary`` type, which every path stores (:func:`install`).
9. Unique indexes on dotted paths hold under concurrent writers, but ``findAndModify`` answers a
   duplicate with "no document matched" instead of error 11000 (``ContentService.update`` tells it
   from a lost compare-and-set by the unchanged version); a plain index on the same keys silently
   wins over a later unique one (``core.indexes.create_unique_index`` drops it first); nulls never
   clash (MongoDB's partial unique index lets only missing fields pass).
10. ``{field: {$exists: false}}`` in SQL also matched a field holding null (and ``$exists: true``
   missed it): read rules tell a missing field (below every value) from null (which Polar
   cannot order), so ``$exists`` is asked of SQLite's ``json_type``, which tells them apart
   (:func:`install`). Also noted, and avoided by the read compiler rather than patched: ``{x: 1}``
   matches ``true``, ``$type`` never matches array elements, ``$not`` is not implemented
   (``$nor`` is), and an implicit equality on a dotted path fails ("malformed JSON") where
   ``$eq`` works."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

#: The versions these departures were found in (``tests/unit/test_nx_compat.py`` checks them).
CHECKED = {"nx-27017": "0.8.1", "neosqlite": "1.17.2"}
_SCALARS = (str, int, float, bool, type(None))


def sql_safe(value: Any) -> bool:
    """Whether neosqlite's SQL update tier stores ``value`` as MongoDB would."""
    return isinstance(value, _SCALARS) and not isinstance(value, (bool, dt.datetime))  # SQL binds True as 1


def update_is_sql_safe(update_spec: dict) -> bool:
    for operator, fields in update_spec.items():
        if not isinstance(fields, dict):
            return False
        for value in fields.values():
            if isinstance(value, dict) and operator in ("$push", "$addToSet", "$pull"):
                return False  # modifiers ($each) and object values alike
            if not sql_safe(value):
                return False
    return True


_NEGATIONS = ("$ne", "$nin", "$nor", "$not")
_servers: dict[int, bool] = {}


def is_nx(client) -> bool:
    """Whether ``client`` talks to nx-27017 (its ``buildInfo`` names the process); asked once."""
    key = id(client)
    if key not in _servers:
        try:
            _servers[key] = client.admin.command("buildInfo").get("process") == "nx_27017"
        except Exception:  # noqa: BLE001 - a server that refuses buildInfo is not nx-27017
            _servers[key] = False
    return _servers[key]


def _negates(query: Any) -> bool:
    if isinstance(query, dict):
        return any(key in _NEGATIONS or _negates(value) for key, value in query.items())
    if isinstance(query, list):
        return any(_negates(item) for item in query)
    return False


def _holds_object_id(value: Any) -> bool:
    if type(value).__name__ == "ObjectId":
        return True
    if isinstance(value, dict):
        return any(_holds_object_id(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_object_id(item) for item in value)
    return False


_PLAIN = (str, int, float, bool)


def _scalar_equalities(query: Any, scalar_fields: frozenset) -> bool:
    """Whether ``query`` only ANDs equalities of non-null plain values on ``scalar_fields``."""
    if not isinstance(query, dict) or not query:
        return False
    for field, value in query.items():
        if field == "$and":
            if not (isinstance(value, list) and all(_scalar_equalities(part, scalar_fields) for part in value)):
                return False
        elif field not in scalar_fields or type(value) not in _PLAIN:
            return False
    return True


def count(collection, query: dict, scalar_fields: frozenset = frozenset()) -> int:
    """How many documents ``collection.find(query)`` returns, on nx-27017 (departure 3; the
    ``count`` command also cannot take an ObjectId, even for ``_id``). ``scalar_fields``: fields
    every document holds as a plain value when it has them (no arrays, no objects)."""
    if _scalar_equalities(query, scalar_fields):
        result = list(collection.aggregate([{"$match": query}, {"$count": "n"}]))
        return result[0]["n"] if result else 0
    if _negates(query) or _holds_object_id(query):
        return sum(1 for _ in collection.find(query, {"_id": 1}))
    return int(collection.database.command("count", collection.name, query=query)["n"])


def project(projection: dict, document: dict) -> dict:
    """``document`` through ``projection`` (plain 1/0 values) as MongoDB projects it: dotted
    paths reach into sub-documents and into each sub-document of an array."""
    wanted = {k: v for k, v in projection.items() if k != "_id"}
    keep_id = bool(projection.get("_id", 1))
    if any(bool(v) for v in wanted.values()):
        result: dict = {}
        for path in wanted:
            _copy_path(document, result, path.split("."))
    else:
        result = copy.deepcopy(document)
        for path in wanted:
            _drop_path(result, path.split("."))
    result.pop("_id", None)
    if keep_id and "_id" in document:
        result = {"_id": document["_id"], **result}
    return result


def _copy_path(source: Any, target: dict, parts: list[str]) -> None:
    key, rest = parts[0], parts[1:]
    if not isinstance(source, dict) or key not in source:
        return
    value = source[key]
    if not rest:
        target[key] = copy.deepcopy(value)
    elif isinstance(value, dict):
        _copy_path(value, target.setdefault(key, {}), rest)
    elif isinstance(value, list):
        existing = target.get(key)
        items = existing if isinstance(existing, list) and len(existing) == len(value) else [{} for _ in value]
        for item, element in zip(items, value):
            _copy_path(element, item, rest)
        target[key] = [item for item, element in zip(items, value) if isinstance(element, dict)]


def _drop_path(target: Any, parts: list[str]) -> None:
    if isinstance(target, list):
        for element in target:
            _drop_path(element, parts)
        return
    if not isinstance(target, dict) or parts[0] not in target:
        return
    if len(parts) == 1:
        del target[parts[0]]
    else:
        _drop_path(target[parts[0]], parts[1:])


def as_binary(value: Any) -> Any:
    """``value`` with every ``bytes`` turned into neosqlite's ``Binary`` (departure 8)."""
    from neosqlite.binary import Binary

    if isinstance(value, bytes) and not isinstance(value, Binary):
        return Binary(bytes(value), getattr(value, "subtype", 0))
    if isinstance(value, dict):
        return {key: as_binary(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_binary(item) for item in value]
    return value


def _binary_safe(method):
    """A neosqlite write method whose second argument (update or replacement) is made binary-safe."""
    def write(self, filter, document, *args, **kwargs):
        return method(self, filter, as_binary(document), *args, **kwargs)

    write.__wrapped__ = method
    return write


def _plain_dotted(projection: Any) -> bool:
    return (isinstance(projection, dict) and any("." in key for key in projection)
            and all(isinstance(v, (bool, int)) for v in projection.values()))


def _exists_only(json_path: Any, operators: Any) -> bool:
    """An ``{$exists: bool}`` test of a document path (not of an ``$elemMatch`` element)."""
    return (isinstance(operators, dict) and set(operators) == {"$exists"}
            and isinstance(operators["$exists"], bool) and isinstance(json_path, str) and json_path.startswith("'$"))


def install() -> None:
    """Route updates with non-scalar values to neosqlite's Python update tier (departure 1),
    apply projections with dotted paths as MongoDB does (7), store binary values on every
    write path (8), and tell a missing field from null in ``$exists`` (10)."""
    from neosqlite.collection import Collection
    from neosqlite.collection.query_helper._sql_updates import SqlUpdatesMixin
    from neosqlite.collection.query_helper.aggregation import AggregationMixin

    original = SqlUpdatesMixin._can_use_sql_updates
    if getattr(original, "_aladdin_compat", False):
        return

    def can_use_sql_updates(self, update_spec, doc_id, original_doc=None):
        return update_is_sql_safe(update_spec) and original(self, update_spec, doc_id, original_doc)

    apply_projection = AggregationMixin._apply_projection

    def projection_as_mongodb(self, projection, document):
        if _plain_dotted(projection):
            return project(projection, document)
        return apply_projection(self, projection, document)

    from neosqlite.collection.query_helper._sql_query_builder import SqlQueryBuilderMixin

    build_operator_clause = SqlQueryBuilderMixin._build_operator_clause

    def exists_as_mongodb(self, json_path, operators, *args, **kwargs):
        if _exists_only(json_path, operators):
            negation = "NOT " if operators["$exists"] else ""
            return f"json_type(data, {json_path}) IS {negation}NULL", []
        return build_operator_clause(self, json_path, operators, *args, **kwargs)

    SqlQueryBuilderMixin._build_operator_clause = exists_as_mongodb
    can_use_sql_updates._aladdin_compat = True
    SqlUpdatesMixin._can_use_sql_updates = can_use_sql_updates
    AggregationMixin._apply_projection = projection_as_mongodb
    for name in ("update_one", "update_many", "replace_one", "find_one_and_update", "find_one_and_replace"):
        setattr(Collection, name, _binary_safe(getattr(Collection, name)))
