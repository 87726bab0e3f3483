"""MongoEngine internals: documents built from stored dicts, databases resolved per call (MongoEngine 0.29.3).

Why no public API serves: ``Document.from_json`` round-trips a stored dict through extended-JSON
text, several times the cost of ``_from_son`` on per-request paths (token owner, project
lookup); and MongoEngine finds a document's database only through the class-level hooks
``_get_db``/``_get_collection`` (``switch_db`` mutates the class, so it is not thread-safe)."""

from __future__ import annotations

import threading
from typing import TypeVar

import mongoengine as me
from mongoengine.connection import get_db

D = TypeVar("D", bound=me.Document)

_indexed: set[tuple[str, str]] = set()
_indexed_lock = threading.Lock()


def from_son(model: type[D], son: dict) -> D:
    """``son`` (a stored document as pymongo returns it) as a ``model``, neither new nor changed."""
    return model._from_son(son)


def is_new(document: me.Document) -> bool:
    """Was ``document`` made in memory rather than loaded or saved (MongoEngine's ``_created``)?"""
    return document._created


def collection_name(model: type[me.Document]) -> str:
    return model._get_collection_name()


def collection_of(model: type[me.Document]):
    """The pymongo collection ``model`` reads and writes now (for plain pymongo lookups)."""
    return model._get_collection()


class PerCallDatabaseDocument(me.Document):
    """A document whose database is resolved on every call from :meth:`database_alias`.

    MongoEngine caches a collection on the class, which would pin every app in a process to
    the first one's database; resolving it per call keeps apps apart without class-level
    mutation, so it is thread-safe. Indexes are made once per database alias."""

    meta = {"abstract": True}

    @classmethod
    def database_alias(cls) -> str:
        raise NotImplementedError

    @classmethod
    def _get_db(cls):
        return get_db(cls.database_alias())

    @classmethod
    def _get_collection(cls):
        alias = cls.database_alias()
        name = cls._get_collection_name()
        collection = get_db(alias)[name]
        if (alias, name) not in _indexed:
            with _indexed_lock:
                if (alias, name) not in _indexed:
                    _indexed.add((alias, name))
                    cls.ensure_indexes()
        return collection
