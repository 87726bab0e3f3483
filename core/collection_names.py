"""Collection names as the server stores them: a content type may be called anything its name
rule allows (``order``, ``select``, ``unique``, ``group`` included), on every backend.

The embedded document server (nx-27017) keeps each collection in an SQLite table named after it
and does not quote the name everywhere, so a collection named after an SQL keyword fails there
("near "order": syntax error"). Such names are stored as ``_<name>``: content type names start
with a letter, so no declared type can ever take that name. The mapping is the same on every
backend, so a dump of the embedded server restores into MongoDB unchanged."""

from __future__ import annotations

import functools
import re
import sqlite3

from pymongo.collection import Collection
from pymongo.database import Database

PREFIX = "_"
#: Names a content type may declare (``core.content.COLLECTION_RE``); only these are mapped.
DECLARABLE = re.compile(r"[a-z][a-z0-9_]*")


@functools.lru_cache(maxsize=4096)
def clashes_with_sql(name: str) -> bool:
    """Whether ``name`` used bare in the statements such a server writes is a syntax error.

    Asked of SQLite itself (the library the server runs on), not a word list that could lag
    behind its version: the statements mirror what a table of documents needs."""
    probe = sqlite3.connect(":memory:")
    try:
        for statement in (f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, data TEXT)",
                          f"CREATE INDEX idx_{name}_data ON {name}(data)",
                          f"INSERT INTO {name} (data) VALUES ('x')",
                          f"UPDATE {name} SET data = 'y' WHERE id = 1",
                          f"SELECT id, data FROM {name} WHERE data = 'y' ORDER BY id LIMIT 1",
                          f"DELETE FROM {name} WHERE id = 1",
                          f"DROP TABLE {name}"):
            probe.execute(statement)
        return False
    except sqlite3.Error:
        return True
    finally:
        probe.close()


def stored_name(name: str) -> str:
    """The server-side name of collection ``name``."""
    return PREFIX + name if DECLARABLE.fullmatch(name) and clashes_with_sql(name) else name


def declared_name(stored: str) -> str:
    """The collection name the product uses for a server-side ``stored`` name."""
    name = stored[len(PREFIX):]
    if stored.startswith(PREFIX) and DECLARABLE.fullmatch(name) and clashes_with_sql(name):
        return name
    return stored


class ProjectDatabase(Database):
    """A project's pymongo database whose collections are addressed by their declared names."""

    @classmethod
    def wrap(cls, db: Database) -> "ProjectDatabase":
        if isinstance(db, cls) or not isinstance(db, Database):
            return db  # already wrapped, or mongomock (which stores any name as given)
        return cls(db.client, db.name, codec_options=db.codec_options, read_preference=db.read_preference,
                   write_concern=db.write_concern, read_concern=db.read_concern)

    def __getitem__(self, name: str) -> Collection:
        return Collection(self, stored_name(name))

    def get_collection(self, name: str, *args, **kwargs) -> Collection:
        return super().get_collection(stored_name(name), *args, **kwargs)

    def create_collection(self, name: str, *args, **kwargs) -> Collection:
        return super().create_collection(stored_name(name), *args, **kwargs)

    def drop_collection(self, name_or_collection, *args, **kwargs):
        if isinstance(name_or_collection, str):
            name_or_collection = stored_name(name_or_collection)
        return super().drop_collection(name_or_collection, *args, **kwargs)

    def list_collection_names(self, *args, **kwargs) -> list[str]:
        return [declared_name(name) for name in super().list_collection_names(*args, **kwargs)]
