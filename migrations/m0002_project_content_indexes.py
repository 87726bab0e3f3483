"""Content indexes in every project database (creation makes them too; this covers older projects)."""

SCOPE = "project"


def upgrade(app, db) -> None:
    from core.indexes import ensure_indexes

    ensure_indexes(db, app.extensions["aladdin"].content_types.values())
