"""An index on each reference field naming media (videos' ``content.mediaId``): a file follows the
visibility of the documents using it, found through that field (``core/media_access.py``).
Creation makes it too (``core.indexes.ensure_indexes``); this covers older projects."""

SCOPE = "project"


def upgrade(app, db) -> None:
    from core.indexes import ensure_indexes

    ensure_indexes(db, app.extensions["aladdin"].content_types.values())
