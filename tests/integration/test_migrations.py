"""Numbered migrations: recorded in the platform database and in each project database, once."""

from __future__ import annotations

import sys

import pytest

import migrations
from core.hookspecs import hookimpl
from core.migrations_runner import available, migrate, status
from core.models import MigrationRecord
from core.projects import create_project
from core.testing import Actors

NEW = "m9001_mark_characters"
NEW_PLATFORM = "m9000_platform_marker"
#: The shipped migrations by scope (a project created now is born with every project one applied).
PROJECT_MIGRATIONS = {"m0002_project_content_indexes", "m0003_list_indexes", "m0005_declared_indexes",
                      "m0006_media_reference_indexes"}
PLATFORM_MIGRATIONS = ["m0001_platform_indexes", "m0004_token_user_ids"]


@pytest.fixture
def extra_migrations(tmp_path, monkeypatch):
    """Two more numbered modules (one per scope) on the migrations package path, plus a
    module whose name is not numbered and must be ignored."""
    (tmp_path / f"{NEW}.py").write_text(
        'SCOPE = "project"\n\n'
        "def upgrade(app, db):\n"
        '    db["characters"].update_many({}, {"$set": {"content.migrated": True}})\n'
        '    db["_test_runs"].insert_one({"m": "%s"})\n' % NEW)
    (tmp_path / f"{NEW_PLATFORM}.py").write_text(
        'SCOPE = "platform"\n\n'
        "def upgrade(app, db):\n"
        '    db["_test_runs"].insert_one({"m": "%s"})\n' % NEW_PLATFORM)
    (tmp_path / "helpers.py").write_text("raise RuntimeError('not a migration; must never be imported')\n")
    monkeypatch.setattr(migrations, "__path__", [*migrations.__path__, str(tmp_path)])
    yield
    for name in (NEW, NEW_PLATFORM):
        sys.modules.pop(f"migrations.{name}", None)


def _project_records(app, slug: str) -> set[str]:
    return {d["_id"] for d in app.extensions["aladdin"].db.project(slug)["_aladdin_migrations"].find()}


def _platform_records(database: str) -> set[str]:
    return {r.name for r in MigrationRecord.objects(database=database)}


def test_modules_are_numbered_and_ordered():
    names = [m.__name__.rsplit(".", 1)[-1] for m in available()]
    assert names == sorted(names) and names[:2] == ["m0001_platform_indexes", "m0002_project_content_indexes"]
    for module in available():
        assert module.SCOPE in ("platform", "project") and callable(module.upgrade) and module.__doc__


def test_new_project_is_marked_current_in_both_places(app, team):
    assert _project_records(app, "team-film") == PROJECT_MIGRATIONS
    assert _platform_records("open_team-film") == PROJECT_MIGRATIONS
    rows = {(r["migration"], r["database"]): r["applied"] for r in status(app)}
    assert rows[("m0002_project_content_indexes", "open_team-film")] is True
    assert rows[("m0001_platform_indexes", app.extensions["aladdin"].db.platform_db_name)] is False


def test_migrate_applies_each_once_per_database_and_records_it(app, team, extra_migrations):
    """team-film exists before the new modules appear (an older project); second-film after."""
    ext = app.extensions["aladdin"]
    owner = team["owner"]
    second = create_project(app, owner, "Second", "second-film")
    ext.content.create(team["project"], "characters", {"content": {"name": "Mara"}}, owner)
    platform = ext.db.platform_db_name
    pending = {(r["migration"], r["database"]) for r in status(app) if not r["applied"]}
    platform_done = [(name, platform) for name in (*PLATFORM_MIGRATIONS, NEW_PLATFORM)]
    assert pending == {*platform_done, (NEW, "open_team-film")}

    done = migrate(app)
    assert done == [*platform_done, (NEW, "open_team-film")]
    assert all(r["applied"] for r in status(app))
    assert NEW in _project_records(app, "team-film") and NEW in _project_records(app, second.slug)
    assert {NEW_PLATFORM, *PLATFORM_MIGRATIONS} <= _platform_records(platform)
    assert {d["_id"] for d in ext.db.platform()["_aladdin_migrations"].find()} == {NEW_PLATFORM, *PLATFORM_MIGRATIONS}
    assert ext.db.project("team-film")["characters"].find_one({})["content"]["migrated"] is True
    indexes = ext.db.platform()["api_tokens"].index_information().values()
    assert any(dict(ix["key"]) == {"tokenHash": 1} and ix.get("unique") for ix in indexes)
    # Idempotent: a second run applies nothing and no upgrade runs twice anywhere.
    assert migrate(app) == []
    assert ext.db.project("team-film")["_test_runs"].count_documents({}) == 1
    assert ext.db.project(second.slug)["_test_runs"].count_documents({}) == 1
    assert ext.db.platform()["_test_runs"].count_documents({}) == 1


def test_project_created_after_migrations_is_current(app, actors, extra_migrations):
    owner = actors.user("late@example.com")
    migrate(app)
    late = create_project(app, owner, "Late", "late-film")
    assert _project_records(app, late.slug) == {*PROJECT_MIGRATIONS, NEW}
    assert app.extensions["aladdin"].db.project(late.slug)["_test_runs"].count_documents({}) == 1
    assert migrate(app) == []
    assert all(r["applied"] for r in status(app))


class ShotsMigrations:
    """A plugin shipping a project migration and a platform one (``aladdin_migrations``)."""

    __name__ = "shots"

    class IndexNumbers:
        NAME, SCOPE = "m0001_index_numbers", "project"

        @staticmethod
        def upgrade(app, db):
            db["_test_runs"].insert_one({"m": "shots:m0001_index_numbers"})

    class Seed:
        NAME, SCOPE = "m0001_seed", "platform"

        @staticmethod
        def upgrade(app, db):
            db["_test_runs"].insert_one({"m": "shots:m0001_seed"})

    @hookimpl
    def aladdin_migrations(self):
        return [self.IndexNumbers, self.Seed]


def test_plugin_migrations_apply_once_after_the_cores_under_the_plugins_name(make_app):
    app = make_app(plugins=(ShotsMigrations(),))
    with app.app_context():
        ext = app.extensions["aladdin"]
        owner = Actors(app).user("owner@example.com")
        older = create_project(app, owner, "Older", "older-film")
        ext.db.project("older-film")["_aladdin_migrations"].delete_one({"_id": "shots:m0001_index_numbers"})
        MigrationRecord.objects(database="open_older-film", name="shots:m0001_index_numbers").delete()
        platform = ext.db.platform_db_name
        pending = [(r["migration"], r["database"]) for r in status(app) if not r["applied"]]
        assert pending[-2:] == [("shots:m0001_index_numbers", "open_older-film"), ("shots:m0001_seed", platform)]
        done = migrate(app)
        assert done[-2:] == pending[-2:]  # the plugin's after the core's, in name order
        assert migrate(app) == [] and all(r["applied"] for r in status(app))
        assert [d["m"] for d in ext.db.project("older-film")["_test_runs"].find()] == ["shots:m0001_index_numbers"] * 2
        newer = create_project(app, owner, "Newer", "newer-film")  # born with the project migration applied
        assert "shots:m0001_index_numbers" in _project_records(app, newer.slug)
        assert older.slug != newer.slug
