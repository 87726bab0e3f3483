"""create_graph_store(): the embedded store by default, a Neo4j adapter when a URI is configured."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Collection
from urllib.parse import unquote, urlsplit, urlunsplit

from .base import DEFAULT_RELATIONSHIP_TYPES, GraphStore
from .embedded import EmbeddedGraphStore

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pymongo.database

_DRIVER_SCHEMES = frozenset({"bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc"})
_PY2NEO_SCHEMES = _DRIVER_SCHEMES | {"http", "https"}


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """("bolt://u:p@host:7687") -> ("bolt://host:7687", "u", "p"); drivers want auth apart."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, unquote(user) or None, unquote(password) if sep else None


def create_graph_store(neo4j_uri: str | None,
                       database_for: Callable[[str], "pymongo.database.Database"], *,
                       driver: str = "neo4j", user: str | None = None,
                       password: str | None = None,
                       allowed_types: Collection[str] = DEFAULT_RELATIONSHIP_TYPES,
                       database: str | None = None) -> GraphStore:
    """The embedded store when neo4j_uri is empty, else a Neo4j adapter.

    driver "neo4j" (official driver, Neo4j 4.4+) or "py2neo" (servers up to 4.4).
    Credentials come from user/password, else from the URI's userinfo; database names a
    Neo4j database other than the server default.
    """
    if not neo4j_uri:
        return EmbeddedGraphStore(database_for, allowed_types)
    uri, uri_user, uri_password = split_credentials(neo4j_uri)
    user = user if user is not None else uri_user
    password = password if password is not None else uri_password
    scheme = urlsplit(uri).scheme.lower()
    kind = (driver or "neo4j").lower()
    # Imported here so the embedded default never loads the Neo4j adapters.
    from .neo4j import Neo4jDriverGraphStore, Py2neoGraphStore

    if kind == "neo4j":
        if scheme not in _DRIVER_SCHEMES:
            raise ValueError(f"unsupported Neo4j URI scheme {scheme!r} for the neo4j driver; "
                             f"use one of {', '.join(sorted(_DRIVER_SCHEMES))}")
        return Neo4jDriverGraphStore(uri, user=user, password=password, database=database,
                                     allowed_types=allowed_types)
    if kind == "py2neo":
        if scheme not in _PY2NEO_SCHEMES:
            raise ValueError(f"unsupported Neo4j URI scheme {scheme!r} for py2neo; "
                             f"use one of {', '.join(sorted(_PY2NEO_SCHEMES))}")
        return Py2neoGraphStore(uri, user=user, password=password, database=database,
                                allowed_types=allowed_types)
    raise ValueError(f"unknown graph driver {driver!r}: expected 'neo4j' or 'py2neo'")
