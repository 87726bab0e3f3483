"""Runs the numbered modules in ``migrations/`` once per database, recording each application.

A migration module defines ``SCOPE`` ("platform" or "project") and ``upgrade(app, db)`` where
``db`` is the pymongo database (the platform one, or each project's in turn)."""

from __future__ import annotations

import importlib
import pkgutil
import re

from .models import MigrationRecord, Project

NAME_RE = re.compile(r"^m(\d{4})_[a-z0-9_]+\Z")


def available() -> list:
    import migrations

    names = sorted(m.name for m in pkgutil.iter_modules(migrations.__path__) if NAME_RE.match(m.name))
    return [importlib.import_module(f"migrations.{name}") for name in names]


def _targets(app, module):
    ext = app.extensions["aladdin"]
    if module.SCOPE == "platform":
        yield ext.db.platform_db_name, ext.db.platform()
    else:
        for project in Project.objects.order_by("slug"):
            yield ext.db.project_db_name(project.slug), ext.db.project(project.slug)


def status(app) -> list[dict]:
    applied = {(r.database, r.name) for r in MigrationRecord.objects}
    out = []
    for module in available():
        name = module.__name__.rsplit(".", 1)[-1]
        for database, _db in _targets(app, module):
            out.append({"migration": name, "database": database, "applied": (database, name) in applied})
    return out


def migrate(app) -> list[tuple[str, str]]:
    """Apply what is pending; returns (migration, database) pairs applied, in order."""
    done = []
    applied = {(r.database, r.name) for r in MigrationRecord.objects}
    for module in available():
        name = module.__name__.rsplit(".", 1)[-1]
        for database, db in _targets(app, module):
            if (database, name) in applied:
                continue
            module.upgrade(app, db)
            _record(db, name, database)
            done.append((name, database))
    return done


def _record(db, name: str, database: str) -> None:
    """Recorded twice: in the platform database (for ``--status``) and in the database itself,
    so a project database restored or moved elsewhere still says which migrations it has."""
    record = MigrationRecord(name=name, database=database)
    if not MigrationRecord.objects(database=database, name=name).first():
        record.save()
    db["_aladdin_migrations"].update_one({"_id": name}, {"$set": {"appliedAt": record.appliedAt}}, upsert=True)


def mark_project_current(app, slug: str) -> None:
    """A new project is created at the latest schema: record project migrations as applied."""
    ext = app.extensions["aladdin"]
    database = ext.db.project_db_name(slug)
    for module in available():
        if module.SCOPE != "project":
            continue
        name = module.__name__.rsplit(".", 1)[-1]
        db = ext.db.project(slug)
        module.upgrade(app, db)
        _record(db, name, database)
