"""Indexes content types declare: ``unique`` field sets and the ``belongs_to`` fields deep clones
follow inbound (``core.indexes.ensure_indexes``); creation makes them too, this covers older projects.

Stored duplicates of a newly unique field stop the migration with a message naming the database,
collection and fields: make the values distinct and run ``aladdin migrate`` again."""

SCOPE = "project"


def upgrade(app, db) -> None:
    from core.indexes import ensure_indexes

    ensure_indexes(db, app.extensions["aladdin"].content_types.values())
