"""MongoEngine connections: the platform database and one database per project (``open_<slug>``).

Every alias of one server shares a single client (MongoEngine reuses a client when the
connection settings match), so 50 projects cost 50 aliases, not 50 connection pools.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

import mongoengine
from mongoengine.connection import get_connection, get_db
from pymongo import monitoring

from . import nx_compat
from .collection_names import ProjectDatabase

PROJECT_DB_PREFIX = "open_"


def is_embedded(db) -> bool:
    """Whether ``db`` (a database handle) lives in mongomock (single-process tests of pure
    functions) rather than on a server: its query costs differ (see :func:`find_by_ids`)."""
    return type(db.client).__module__.startswith("mongomock")


def estimated_count(collection) -> int:
    """``estimated_document_count()``: collection metadata on a server; mongomock counts."""
    if is_embedded(collection.database):
        return collection.count_documents({})
    return collection.estimated_document_count()


def count_matching(collection, query: dict, scalar_fields: frozenset = frozenset()) -> int:
    """How many documents of ``collection`` match ``query``: a list's total, which must count
    exactly what its pages show. The embedded server counts its own way (``core.nx_compat``),
    faster when the query only compares ``scalar_fields`` (fields never holding arrays or objects)."""
    if not query:
        return estimated_count(collection)
    if not is_embedded(collection.database) and nx_compat.is_nx(collection.database.client):
        return nx_compat.count(collection, query, scalar_fields)
    return collection.count_documents(query)


def list_sort(keys: Sequence[tuple[str, int]] | None) -> list[tuple[str, int]]:
    """The sort a content list runs: ``keys`` (default: ``createdAt`` ascending), then ``_id``
    as the tie-breaker in the direction of the last key before it.

    Documents written in the same millisecond share ``createdAt``; without a tie-breaker their
    order is whatever the backend happens to return, and one ascending ``_id`` for every
    direction made ``sort=-createdAt`` list same-time documents oldest first. Following the last
    key (the one the tie is in) reverses the whole order with the sort, on every backend alike.
    An ``_id`` after other keys is that tie-breaker, whatever direction it names (callers, the
    HTTP layer among them, append one); ``_id`` as the first key is the whole sort (ids are
    unique, so later keys could never matter)."""
    chosen: list[tuple[str, int]] = []
    for name, direction in keys or [("createdAt", 1)]:
        if name == "_id":
            if not chosen:
                return [("_id", direction)]
            break
        chosen.append((name, direction))
    return [*chosen, ("_id", chosen[-1][1])]


def matched_count(cursor) -> int | None:
    """How many documents an exhausted mongomock cursor matched before skip and limit.

    mongomock filters and sorts every match before cutting the page, so the total a list needs
    is already known there; ``None`` on a server's cursor."""
    results = getattr(cursor, "_results", None)
    return len(results) if isinstance(results, list) else None


# Ids per ``$in`` query on a server (the ``_id`` index answers it; far below 16 MB).
SERVER_ID_CHUNK = 5000
# mongomock tests every candidate against the whole ``$in`` list: small lists keep it linear.
MOCK_ID_CHUNK = 16


def find_by_ids(collection, ids: Sequence[Any], query: dict | None = None,
                projection: dict | None = None) -> Iterator[dict]:
    """The documents of ``collection`` whose ``_id`` is in ``ids`` and that match ``query`` (a
    filter; ``None``: any), at a cost per id independent of the collection's size and of how
    many ids are asked at once: ``$in`` lists sized for the backend. ``projection`` may narrow
    what the server sends."""
    return find_by_values(collection, "_id", ids, query, projection)


def find_by_values(collection, field: str, values: Sequence[Any], query: dict | None = None,
                   projection: dict | None = None) -> Iterator[dict]:
    """:func:`find_by_ids` on any indexed ``field`` (e.g. the documents whose ``content.sceneId``
    names one of ``values``), in the same backend-sized ``$in`` lists."""
    values = list(values)
    if not values:
        return iter(())
    chunk = MOCK_ID_CHUNK if is_embedded(collection.database) else SERVER_ID_CHUNK
    return _find_in_chunks(collection, field, values, query, projection, chunk)


def delete_by_ids(collection, ids: Sequence[Any]) -> int:
    """Delete the documents of ``collection`` whose ``_id`` is in ``ids``; how many there were.

    In ``$in`` lists sized for the backend: the embedded stores test each candidate against the
    whole list, so one ``delete_many`` of a 50,000-document clone's ids would cost 50,000²."""
    ids = list(ids)
    chunk = MOCK_ID_CHUNK if is_embedded(collection.database) else SERVER_ID_CHUNK
    return sum(collection.delete_many({"_id": {"$in": ids[start:start + chunk]}}).deleted_count
               for start in range(0, len(ids), chunk))


def _find_in_chunks(collection, field: str, ids: list, query: dict | None, projection: dict | None,
                    chunk: int) -> Iterator[dict]:
    for start in range(0, len(ids), chunk):
        part: dict = {field: {"$in": ids[start:start + chunk]}}
        yield from collection.find({"$and": [part, query]} if query else part, projection)


LITEMONGO_REPLACED = (
    "the litemongo store was replaced by the embedded document server (a MongoDB wire-protocol "
    "server under the data dir); unset ALADDIN_MONGODB_URI and copy the old data once with "
    "`aladdin store import-litemongo PATH`")


def connection_kwargs(uri: str) -> tuple[dict, str | None]:
    """MongoEngine ``register_connection`` keywords for ``uri`` and the database it names.

    ``mongodb://`` / ``mongodb+srv://`` (a server: the embedded one or an operator's, used
    unchanged apart from the database path, which only names the platform database) and
    ``mongomock://name`` (single-process tests of pure functions)."""
    scheme = uri.split("://", 1)[0]
    if scheme == "litemongo":
        raise ValueError(LITEMONGO_REPLACED)
    if scheme == "mongomock":
        import mongomock

        name = uri.split("://", 1)[1].strip("/") or "localhost"
        return {"host": f"mongodb://{name}", "mongo_client_class": mongomock.MongoClient}, None
    if scheme in ("mongodb", "mongodb+srv"):
        parts = urlsplit(uri)
        db_name = parts.path.strip("/") or None
        # The path would make MongoEngine override every alias's database name.
        return {"host": urlunsplit((parts.scheme, parts.netloc, "/", parts.query, ""))}, db_name
    raise ValueError(f"ALADDIN_MONGODB_URI must start with mongodb:// or mongodb+srv://, got {uri!r}")


# Commands that change what a collection holds (compared lowercased: the wire says findAndModify).
WRITE_COMMANDS = frozenset({"insert", "update", "delete", "findandmodify", "drop", "dropdatabase"})


class WriteWatch(monitoring.CommandListener):
    """Tells ``on_write(database, collection)`` after each write command the server has answered
    (``collection`` is None when a whole database is dropped), before the call that made it
    returns to its caller: every write through this app's clients, MongoEngine's, raw pymongo's
    and plugins' alike, with no write site to remember. A failed command counts too: an
    unordered bulk insert that fails may have stored part of its documents."""

    def __init__(self):
        self.on_write = None
        self._pending: dict[int, tuple[str, str | None]] = {}

    def started(self, event):
        name = event.command_name.lower()
        if name in WRITE_COMMANDS:
            collection = None if name == "dropdatabase" else event.command.get(event.command_name)
            self._pending[event.request_id] = (event.database_name, collection)

    def succeeded(self, event):
        self._finish(event)

    def failed(self, event):
        self._finish(event)

    def _finish(self, event):
        target = self._pending.pop(event.request_id, None)
        if target is not None and self.on_write is not None:
            self.on_write(*target)


class Database:
    """The app's view of MongoDB: aliases are unique per app, so several apps live in one process.

    Without a URI it joins the installation's embedded document server under ``data_dir``
    (``core.embedded_mongo``) and leaves it on :meth:`close`."""

    def __init__(self, uri: str | None, platform_db: str = "aladdin", data_dir=None):
        self._embedded = None
        if not uri:
            from .embedded_mongo import EmbeddedMongo

            self._embedded = EmbeddedMongo(data_dir)
            uri = self._embedded.join()
        self.uri = uri
        self._kwargs, named_db = connection_kwargs(uri)
        self.writes = WriteWatch()
        if "mongo_client_class" not in self._kwargs:  # a server (mongomock publishes no events)
            self._kwargs["event_listeners"] = [self.writes]
        self.platform_db_name = named_db or platform_db
        self.uid = uuid.uuid4().hex[:10]
        self.platform_alias = f"aladdin-{self.uid}"
        self._project_aliases: dict[str, str] = {}
        self._lock = threading.Lock()
        mongoengine.register_connection(self.platform_alias, db=self.platform_db_name, **self._kwargs)

    @staticmethod
    def project_db_name(slug: str) -> str:
        return PROJECT_DB_PREFIX + slug

    def project_alias(self, slug: str) -> str:
        """The MongoEngine alias of a project's database, registered on first use."""
        alias = self._project_aliases.get(slug)
        if alias is None:
            with self._lock:
                alias = self._project_aliases.get(slug)
                if alias is None:
                    alias = f"{self.platform_alias}:{slug}"
                    mongoengine.register_connection(alias, db=self.project_db_name(slug), **self._kwargs)
                    self._project_aliases[slug] = alias
        return alias

    @property
    def client(self):
        return get_connection(self.platform_alias)

    def platform(self):
        """The platform pymongo database (users, tokens, projects, members, logs, jobs)."""
        return get_db(self.platform_alias)

    def project(self, slug: str):
        """A project's pymongo database, always through the project's alias; collection names
        reach the server through :mod:`core.collection_names` (one place for every caller)."""
        return ProjectDatabase.wrap(get_db(self.project_alias(slug)))

    def drop_project(self, slug: str) -> None:
        self.client.drop_database(self.project_db_name(slug))
        with self._lock:
            alias = self._project_aliases.pop(slug, None)
        if alias:
            mongoengine.disconnect(alias)

    def reset_after_fork(self) -> None:
        """pymongo clients are not fork-safe: drop inherited connections so the child reconnects."""
        from mongoengine import connection as conn

        for alias in [self.platform_alias, *self._project_aliases.values()]:
            conn._connections.pop(alias, None)
            conn._dbs.pop(alias, None)

    def close(self) -> None:
        for alias in list(self._project_aliases.values()):
            mongoengine.disconnect(alias)
        self._project_aliases.clear()
        mongoengine.disconnect(self.platform_alias)
        if self._embedded is not None:
            self._embedded.leave()
