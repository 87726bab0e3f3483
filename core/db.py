"""MongoEngine connections: the platform database and one database per project (``open_<slug>``).

Every alias of one server shares a single client (MongoEngine reuses a client when the
connection settings match), so 50 projects cost 50 aliases, not 50 connection pools.
"""

from __future__ import annotations

import os
import threading
import uuid
import weakref
from typing import Any, Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

import mongoengine
from mongoengine.connection import get_connection, get_db

PROJECT_DB_PREFIX = "open_"


class LiteMongoClient:
    """Adapter giving litemongo the ``MongoClient(host=...)`` signature MongoEngine calls.

    litemongo keeps each collection in an SQLite file under the data dir, so the server,
    CLI and workers of one installation see the same data."""

    def __new__(cls, host=None, **kwargs):
        if isinstance(host, (list, tuple)):
            host = host[0]
        path = host.split("://", 1)[1] if "://" in host else host
        # MongoEngine already shares one client between aliases with equal settings.
        return _ThreadLocalLiteMongo(path)


class _ThreadLocalLiteMongo:
    """litemongo keeps SQLite connections that one thread may use at a time, while the web
    server and Socket.IO run each connection in a thread of its own. Each thread holds a client
    on the same files; when the thread ends its client goes back to a small idle pool for the
    next thread. Reuse matters: a fresh client reloads every collection it touches (about 1 ms
    each), which on the per-connection threads of ``serve`` cost more than the request itself."""

    MAX_IDLE = 32

    def __init__(self, path: str):
        self._path = path
        self._local = threading.local()
        self._idle: list = []
        self._lock = threading.Lock()

    def _client(self):
        holder = getattr(self._local, "holder", None)
        if holder is None:
            with self._lock:
                client = self._idle.pop() if self._idle else None
            if client is None:
                import litemongo

                _allow_handover()
                # litemongo's own check-then-mkdir races when two threads open a new store.
                os.makedirs(self._path, exist_ok=True)
                client = litemongo.MongoClient(litemongo.client.create_store(self._path))
            holder = self._local.holder = _ClientHolder(client, self)
        return holder.client

    def _release(self, client) -> None:
        with self._lock:
            if len(self._idle) < self.MAX_IDLE:
                self._idle.append(client)
                return
        client.close()

    def __getitem__(self, name: str):
        return _ThreadLocalLiteDatabase(self, name)

    def get_database(self, name: str, **kwargs):
        return _ThreadLocalLiteDatabase(self, name)

    def __getattr__(self, name: str):
        return getattr(self._client(), name)


class _ClientHolder:
    """Lives in one thread's locals: dropped when the thread ends, it hands the client back."""

    def __init__(self, client, owner: _ThreadLocalLiteMongo):
        self.client = client
        self._owner = weakref.ref(owner)

    def __del__(self):
        owner = self._owner()
        if owner is not None:
            owner._release(self.client)


_handover_allowed = False


def _allow_handover() -> None:
    """Let a litemongo client's SQLite connections pass to the next thread once their thread ended.

    sqlite3 refuses use from a thread other than the creator by default; a client here is only
    ever used by one thread at a time (it returns to the pool when its thread is gone), which
    is what SQLite itself requires."""
    global _handover_allowed
    if _handover_allowed:
        return
    import sqlite3

    from litemongo import sqlite_store

    class _Sqlite3:
        def __getattr__(self, name):
            return getattr(sqlite3, name)

        @staticmethod
        def connect(*args, **kwargs):
            kwargs.setdefault("check_same_thread", False)
            return sqlite3.connect(*args, **kwargs)

    sqlite_store.sqlite3 = _Sqlite3()
    _handover_allowed = True


class _ThreadLocalLiteDatabase:
    """A database handle resolved per thread (MongoEngine caches one handle per alias)."""

    def __init__(self, client: _ThreadLocalLiteMongo, name: str):
        self._tl_client = client
        self.name = name
        # litemongo creates a database's folder with a check-then-mkdir that fails when two
        # threads touch a new database at once; creating it here first makes that a no-op.
        os.makedirs(os.path.join(client._path, name), exist_ok=True)

    def _db(self):
        return self._tl_client._client()[self.name]

    def __getitem__(self, name: str):
        return self._db()[name]

    def __getattr__(self, name: str):
        return getattr(self._db(), name)

    @property
    def client(self):
        return self._tl_client


def is_embedded_uri(uri: str) -> bool:
    """Whether ``uri`` names the embedded default store (litemongo under the data dir), which
    the installation manages itself -- ``serve`` migrates it at start. Anything else, including
    ``mongomock://`` (a per-process stand-in for a server), is treated as an operator's database."""
    return uri.startswith("litemongo://")


def is_embedded(db) -> bool:
    """Whether ``db`` (a database handle) lives in an embedded store (litemongo, mongomock)
    rather than on a MongoDB server: their query costs differ (see :func:`estimated_count`)."""
    client = db.client
    if isinstance(client, _ThreadLocalLiteMongo):
        return True
    return type(client).__module__.startswith(("mongomock", "litemongo"))


def estimated_count(collection) -> int:
    """``estimated_document_count()`` at metadata cost on every backend.

    A server answers it from collection metadata; the embedded stores implement it as
    ``count_documents({})``, which decodes and copies every document (about 13 ms per 1,000
    on litemongo), so they are asked for their row count instead."""
    if is_embedded(collection.database):
        store = getattr(collection, "_store", None)
        if store is not None:
            try:
                return len(store)
            except Exception:  # noqa: BLE001 - a store without a row count: the generic way
                pass
    return collection.estimated_document_count()


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
    """How many documents an exhausted embedded-store cursor matched before skip and limit.

    mongomock and litemongo filter and sort every match before cutting the page, so the total
    a list needs is already known; asking ``count_documents`` would scan the collection again.
    ``None`` when the cursor does not hold it (a server's cursor, another store version)."""
    results = getattr(cursor, "_results", None)
    return len(results) if isinstance(results, list) else None


# Ids per ``$in`` query on a MongoDB server (the ``_id`` index answers it; far below 16 MB).
SERVER_ID_CHUNK = 5000
# mongomock tests every candidate against the whole ``$in`` list: small lists keep it linear.
MOCK_ID_CHUNK = 16
# Deletes commit per document there anyway: a longer list only adds its comparisons.
EMBEDDED_DELETE_CHUNK = 100


def find_by_ids(collection, ids: Sequence[Any], query: dict | None = None,
                projection: dict | None = None) -> Iterator[dict]:
    """The documents of ``collection`` whose ``_id`` is in ``ids`` and that match ``query`` (a
    filter; ``None``: any), each the caller's own copy, at a cost per id independent of the
    collection's size and of how many ids are asked at once. ``projection`` may narrow what a
    server sends (the embedded store returns whole documents either way).

    A server answers ``$in`` queries of :data:`SERVER_ID_CHUNK` ids from the ``_id`` index.
    litemongo's ``find`` would cost far more than the documents it returns: its first query on
    a collection decodes every document to build an in-memory index, each candidate is tested
    against the whole ``$in`` list, each result is deep-copied after decoding, and its cursor
    copies its remaining results on every step (quadratic in the result count). So there the
    keys are read straight from the collection's SQLite table (primary-key lookups, decoded
    once: the copy is already the caller's) and ``query`` is matched by the same matcher
    litemongo's ``find`` uses."""
    ids = list(ids)
    if not ids:
        return iter(())
    table = _lite_table(collection)
    if table is not None:
        return _lite_find_by_ids(collection._store, table, ids, query)
    chunk = MOCK_ID_CHUNK if is_embedded(collection.database) else SERVER_ID_CHUNK
    return _find_in_chunks(collection, ids, query, projection, chunk)


def delete_by_ids(collection, ids: Sequence[Any]) -> int:
    """Delete the documents of ``collection`` whose ``_id`` is in ``ids``; how many there were.

    In ``$in`` lists sized for the backend: the embedded stores test each candidate against the
    whole list, so one ``delete_many`` of a 50,000-document clone's ids would cost 50,000²."""
    ids = list(ids)
    chunk = EMBEDDED_DELETE_CHUNK if is_embedded(collection.database) else SERVER_ID_CHUNK
    return sum(collection.delete_many({"_id": {"$in": ids[start:start + chunk]}}).deleted_count
               for start in range(0, len(ids), chunk))


def _find_in_chunks(collection, ids: list, query: dict | None, projection: dict | None,
                    chunk: int) -> Iterator[dict]:
    for start in range(0, len(ids), chunk):
        part: dict = {"_id": {"$in": ids[start:start + chunk]}}
        yield from collection.find({"$and": [part, query]} if query else part, projection)


def _lite_table(collection):
    """litemongo's SQLite table behind ``collection`` (``None`` on other backends)."""
    table = getattr(getattr(collection, "_store", None), "_documents", None)
    return table if callable(getattr(table, "get_many", None)) else None


def _lite_find_by_ids(store, table, ids: list, query: dict | None) -> Iterator[dict]:
    from litemongo._vendor.mongomock.filtering import filter_applies

    store._remove_expired_documents()  # as find() does (a no-op without TTL indexes)
    try:
        ids = list(dict.fromkeys(ids))  # like find(): each document once
    except TypeError:  # pragma: no cover - unhashable ids (embedded documents): as given
        pass
    for doc in table.get_many(ids):
        if query is None or filter_applies(query, doc):
            yield doc


def connection_kwargs(uri: str) -> tuple[dict, str | None]:
    """MongoEngine ``register_connection`` keywords for ``uri`` and the database it names.

    ``litemongo:///path`` (embedded default), ``mongomock://name`` (single-process tests),
    ``mongodb://`` / ``mongodb+srv://`` (a real server, used unchanged apart from the
    database path, which only names the platform database)."""
    scheme = uri.split("://", 1)[0]
    if scheme == "litemongo":
        # A bare path: MongoEngine would hand any "scheme://" host to pymongo's URI parser.
        return {"host": uri.split("://", 1)[1], "mongo_client_class": LiteMongoClient}, None
    if scheme == "mongomock":
        import mongomock

        name = uri.split("://", 1)[1].strip("/") or "localhost"
        return {"host": f"mongodb://{name}", "mongo_client_class": mongomock.MongoClient}, None
    if scheme in ("mongodb", "mongodb+srv"):
        parts = urlsplit(uri)
        db_name = parts.path.strip("/") or None
        # The path would make MongoEngine override every alias's database name.
        return {"host": urlunsplit((parts.scheme, parts.netloc, "/", parts.query, ""))}, db_name
    raise ValueError(
        f"ALADDIN_MONGODB_URI must start with mongodb://, mongodb+srv://, litemongo:// or "
        f"mongomock://, got {uri!r}"
    )


class Database:
    """The app's view of MongoDB: aliases are unique per app, so several apps live in one process."""

    def __init__(self, uri: str, platform_db: str = "aladdin"):
        self.uri = uri
        self._kwargs, named_db = connection_kwargs(uri)
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
        """A project's pymongo database, always through the project's alias."""
        return get_db(self.project_alias(slug))

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
