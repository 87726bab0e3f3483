"""Runs the numbered migrations once per database, recording each application: the core's modules
in ``migrations/``, then each plugin's (``aladdin_migrations``), recorded as ``plugin:name``.

A migration defines ``SCOPE`` ("platform" or "project") and ``upgrade(app, db)`` where ``db`` is
the pymongo database (the platform one, or each project's in turn)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from typing import Any, Callable

from .models import MigrationRecord, Project
from .plugin_problems import PluginProblem, defined_at, disable_hint

NAME_RE = re.compile(r"^m(\d{4})_[a-z0-9_]+\Z")
SCOPES = ("platform", "project")


@dataclasses.dataclass(frozen=True)
class Migration:
    """One migration: ``id`` is what records it (the core module's name, ``plugin:name`` for a
    plugin's, so a plugin's numbers never meet the core's or another plugin's)."""

    id: str
    scope: str
    upgrade: Callable[[Any, Any], None]


def available() -> list:
    """The core's migration modules, in order."""
    import migrations

    names = sorted(m.name for m in pkgutil.iter_modules(migrations.__path__) if NAME_RE.match(m.name))
    return [importlib.import_module(f"migrations.{name}") for name in names]


def every(app) -> list[Migration]:
    """The core's migrations, then the app's plugins' (collected at start-up, see :func:`plugin_migrations`)."""
    core = [Migration(m.__name__.rsplit(".", 1)[-1], m.SCOPE, m.upgrade) for m in available()]
    return core + list(app.extensions["aladdin"].plugin_migrations)


def plugin_migrations(plugin: str, items: Any) -> tuple[list[Migration], list[PluginProblem]]:
    """``plugin``'s ``aladdin_migrations`` answer (modules or objects with ``SCOPE``, ``upgrade``
    and a ``NAME``, a module's own name by default), in name order; or no migration and a problem
    for each one that is badly named, scoped or shaped, or named twice (records are kept by name)."""
    found: dict[str, Migration] = {}
    problems: list[PluginProblem] = []

    def problem(message: str, fix: str, item: Any) -> None:
        problems.append(PluginProblem(plugin, message, disable_hint(plugin, fix),
                                      where=defined_at(getattr(item, "upgrade", None)) or defined_at(item)))

    for item in items or ():
        name = getattr(item, "NAME", None) or (item.__name__.rsplit(".", 1)[-1] if inspect.ismodule(item) else None)
        if not isinstance(name, str) or not NAME_RE.match(name):
            problem(f"migration name {name!r} is not mNNNN_words", "name it like m0001_add_shot_index", item)
        elif getattr(item, "SCOPE", None) not in SCOPES or not callable(getattr(item, "upgrade", None)):
            problem(f"migration {name!r} needs SCOPE 'platform' or 'project' and upgrade(app, db)",
                    "give it both", item)
        elif name in found:
            problem(f"migration {name!r} is given twice (its second definition is here)",
                    "give each migration a name of its own (an applied one keeps its name)", item)
        else:
            found[name] = Migration(f"{plugin}:{name}", item.SCOPE, item.upgrade)
    if problems:
        return [], problems  # none of its migrations: a partial set would apply out of order
    return [found[name] for name in sorted(found)], []


def _targets(app, migration: Migration):
    ext = app.extensions["aladdin"]
    if migration.scope == "platform":
        yield ext.db.platform_db_name, ext.db.platform()
    else:
        for project in Project.objects.order_by("slug"):
            yield ext.db.project_db_name(project.slug), ext.db.project(project.slug)


def status(app) -> list[dict]:
    applied = {(r.database, r.name) for r in MigrationRecord.objects}
    out = []
    for migration in every(app):
        for database, _db in _targets(app, migration):
            out.append({"migration": migration.id, "database": database,
                        "applied": (database, migration.id) in applied})
    return out


def migrate(app) -> list[tuple[str, str]]:
    """Apply what is pending; returns (migration, database) pairs applied, in order."""
    done = []
    applied = {(r.database, r.name) for r in MigrationRecord.objects}
    for migration in every(app):
        for database, db in _targets(app, migration):
            if (database, migration.id) in applied:
                continue
            migration.upgrade(app, db)
            _record(db, migration.id, database)
            done.append((migration.id, database))
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
    for migration in every(app):
        if migration.scope != "project":
            continue
        db = ext.db.project(slug)
        migration.upgrade(app, db)
        _record(db, migration.id, database)
