"""List indexes in every project database: each filterable or sortable field with ``createdAt``
(``core.indexes.ensure_indexes``), so pages stay flat as collections grow; covers older projects."""

SCOPE = "project"


def upgrade(app, db) -> None:
    from core.indexes import ensure_indexes

    ensure_indexes(db, app.extensions["aladdin"].content_types.values())
