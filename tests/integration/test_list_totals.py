"""Lists' exact totals are counted once per collection state (``core.totals``): a repeated list
asks the server for no count, and any write -- by the content service, raw pymongo, another
process, a bulk insert that fails halfway, a deleted project -- shows in the very next total."""

from __future__ import annotations

import pymongo
import pytest
from bson import ObjectId
from pymongo import monitoring

from core.app import create_app
from core.projects import delete_project


class Counts(monitoring.CommandListener):
    """The count commands a client sends (how a list's total reaches the server)."""

    def __init__(self):
        self.sent = 0

    def started(self, event):
        if event.command_name == "count" or (event.command_name == "aggregate" and any(
                "$count" in stage or "$group" in stage for stage in event.command.get("pipeline", []))):
            self.sent += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture
def counts():
    listener = Counts()
    monitoring.register(listener)  # clients made from now on (the app below) report to it
    return listener


@pytest.fixture
def counted(settings, counts):
    """An app built after the listener: its clients report their count commands."""
    app = create_app(settings, load_entry_points=False)
    yield app
    app.extensions["aladdin"].close()


def listing(app, team, reader="viewer", **filters):
    ext = app.extensions["aladdin"]
    with app.app_context():
        return ext.content.list(team["project"], "scenes", reader=team[reader], filters=filters or None, limit=5)[1]


def scene(app, team, title="Dawn", author="owner"):
    ext = app.extensions["aladdin"]
    with app.app_context():
        return ext.content.create(team["project"], "scenes", {"content": {"title": title}}, team[author])


def test_a_total_is_counted_once_until_the_collection_is_written(app, team, counted, counts):
    for title in ("Dawn", "Dusk", "Night"):
        scene(app, team, title)
    assert listing(counted, team) == 3
    sent = counts.sent
    assert sent >= 1
    for _ in range(5):
        assert listing(counted, team) == 3
    assert counts.sent == sent, "a repeated list counted again"
    scene(app, team, "Noon")  # another app instance writes: another process, as far as caches go
    assert listing(counted, team) == 4
    assert counts.sent > sent


def test_every_kind_of_write_shows_in_the_next_total(app, team, counted):
    for title in ("Dawn", "Dusk"):
        scene(app, team, title)
    raw = app.extensions["aladdin"].content.collection(team["project"], "scenes")
    mine = str(team["owner"].id)
    assert listing(counted, team) == 2 and listing(counted, team, createdBy=mine) == 2

    raw.insert_one({"_id": ObjectId(), "content": {"title": "raw"}, "createdBy": mine})  # a plugin's raw pymongo
    assert listing(counted, team) == 3
    raw.update_many({}, {"$set": {"createdBy": "someone-else"}})  # moves documents out of a filter
    assert listing(counted, team, createdBy=mine) == 0
    taken = raw.find_one_and_update({}, {"$set": {"createdBy": mine}})
    assert taken and listing(counted, team, createdBy=mine) == 1
    first = raw.find_one({}, sort=[("_id", 1)])
    with pytest.raises(pymongo.errors.BulkWriteError):  # a duplicate: half of an unordered insert lands
        raw.insert_many([{"_id": first["_id"]}, {"_id": ObjectId(), "content": {}}], ordered=False)
    assert listing(counted, team) == 4
    raw.delete_many({"content.title": {"$in": ["Dawn", "raw"]}})
    assert listing(counted, team) == 2
    with app.app_context():
        ext = app.extensions["aladdin"]
        doc = raw.find_one({"content.title": "Dusk"})
        ext.content.delete(team["project"], "scenes", str(doc["_id"]), team["owner"])
    assert listing(counted, team) == 1


def test_a_deleted_and_recreated_project_lists_its_new_documents(app, team, counted):
    scene(app, team)
    assert listing(counted, team, reader="owner") == 1
    with app.app_context():
        delete_project(app, team["project"], team["owner"])
    from core.projects import add_member, create_project

    with app.app_context():
        again = create_project(app, team["owner"], team["project"].name, team["project"].slug)
        add_member(app, again, team["viewer"], "viewer", team["owner"])
    team = {**team, "project": again}
    assert listing(counted, team, reader="owner") == 0
    scene(app, team)
    assert listing(counted, team) == 1
