"""Moving an installation made before the document server (its data in litemongo files under
``$ALADDIN_DATA_DIR/mongo``) onto the server: copied once, counted, old files left in place.

litemongo is read here and nowhere else: it left the product's path, but operators' data is in it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from .collection_names import ProjectDatabase

BATCH = 1000
#: What the litemongo default left under the data dir.
LEGACY_DIR = "mongo"


class ImportRefused(Exception):
    """The copy cannot start (nothing to read, or the new store already holds that data)."""


def legacy_path(data_dir: Path) -> Path:
    return Path(data_dir) / LEGACY_DIR


def has_legacy_data(data_dir: Path) -> bool:
    """Whether the data dir holds litemongo data (a database folder with collection files)."""
    root = legacy_path(data_dir)
    return root.is_dir() and any(child.is_dir() and any(child.iterdir()) for child in root.iterdir())


def _open_legacy(path: Path):
    import litemongo

    if not path.is_dir():
        raise ImportRefused(f"no litemongo data at {path}")
    return litemongo.MongoClient(litemongo.client.create_store(str(path)))


def import_litemongo(path: Path, client) -> Iterator[tuple[str, str, int]]:
    """Copy every database and collection of the litemongo store at ``path`` into the server
    ``client`` talks to, with their indexes; yields (database, collection, documents) as each
    is copied and verified. Refuses before writing anything when a target collection has data."""
    source = _open_legacy(path)
    plan = [(db_name, name) for db_name in sorted(source.list_database_names())
            for name in sorted(source[db_name].list_collection_names())]
    if not plan:
        raise ImportRefused(f"no collections in the litemongo data at {path}")
    for db_name, name in plan:
        if ProjectDatabase.wrap(client[db_name])[name].estimated_document_count():
            raise ImportRefused(f"the document server already holds {db_name}.{name}; "
                                f"import into an installation whose server is empty")
    for db_name, name in plan:
        yield db_name, name, _copy(source[db_name][name], ProjectDatabase.wrap(client[db_name])[name])


def _copy(source, target) -> int:
    for index_name, info in source.index_information().items():
        if index_name == "_id_":
            continue
        options = {k: info[k] for k in ("unique", "sparse", "expireAfterSeconds") if k in info}
        target.create_index(list(info["key"]), **options)
    batch: list[dict] = []
    for doc in source.find({}):
        batch.append(doc)
        if len(batch) >= BATCH:
            target.insert_many(batch, ordered=True)
            batch = []
    if batch:
        target.insert_many(batch, ordered=True)
    expected, copied = source.count_documents({}), target.count_documents({})
    if copied != expected:
        raise RuntimeError(f"{target.database.name}.{target.name}: copied {copied} of {expected} documents")
    return copied
