"""The embedded document server's departures from MongoDB (``core/nx_compat.py``), each shown on
the real server: with the workaround the product sees MongoDB's behaviour, and where the product
avoids a departure instead, the departure is still there (when an upgrade fixes it, this says so)."""

from __future__ import annotations

import datetime as dt
import uuid
from importlib import metadata

import pymongo
import pytest
from bson import Binary, ObjectId

from core import nx_compat
from core.collection_names import ProjectDatabase, declared_name, stored_name
from tests.conftest import docstore_uri


@pytest.fixture
def db():
    client = pymongo.MongoClient(docstore_uri())
    name = "nx_compat_" + uuid.uuid4().hex[:8]
    yield client[name]
    client.drop_database(name)
    client.close()


def test_the_departures_were_checked_on_the_installed_versions():
    installed = {name: metadata.version(name) for name in nx_compat.CHECKED}
    assert installed == nx_compat.CHECKED, (
        f"nx-27017/neosqlite changed ({installed}, checked {nx_compat.CHECKED}): re-check every departure "
        f"in core/nx_compat.py against the new versions, then update CHECKED")


def test_updates_keep_mongodb_types(db):
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 123000)
    doc_id = db.c.insert_one({"n": 1}).inserted_id
    db.c.update_one({"_id": doc_id}, {"$set": {"flag": True, "at": at, "nested.at": at, "obj": {"at": at}},
                                      "$inc": {"n": 1}})
    db.c.update_one({"_id": doc_id}, {"$push": {"log": {"at": at, "ok": False}}})
    db.c.update_one({"_id": doc_id}, {"$set": {"blob": Binary(b"\x00\x01")}})
    db.c.replace_one({"_id": doc_id}, {**db.c.find_one({"_id": doc_id}), "blob2": Binary(b"\x02")})
    stored = db.c.find_one({"_id": doc_id})
    assert stored["flag"] is True and stored["n"] == 2
    assert stored["at"] == stored["nested"]["at"] == stored["obj"]["at"] == at
    assert stored["log"] == [{"at": at, "ok": False}]
    assert stored["blob"] == b"\x00\x01" and stored["blob2"] == b"\x02"


def test_dotted_projections_are_nested(db):
    db.c.insert_one({"status": "x", "content": {"panels": [{"d": 1, "c": "a"}, 7], "title": "t"}})
    assert db.c.find_one({}, {"_id": 0, "status": 1, "content.panels.d": 1}) == \
        {"status": "x", "content": {"panels": [{"d": 1}]}}
    assert db.c.find_one({}, {"_id": 0, "content.title": 0}) == {"status": "x", "content": {"panels": [{"d": 1, "c": "a"}, 7]}}


@pytest.mark.parametrize("query", [
    {"content.secret": {"$ne": True}}, {"$nor": [{"content.secret": True}]}, {"x": 2}, {"x": None},
    {"$or": [{"content.secret": True}, {"x": 2}]}, {"$nor": [{"x": {"$gt": 1}}]}, {"x": {"$nin": [2]}},
])
def test_counts_agree_with_find(db, query):
    db.c.insert_many([{"content": {"name": "a"}}, {"content": {"name": "b", "secret": True}},
                      {"content": {"secret": False}}, {"x": [1, 2]}, {"x": None}])
    assert nx_compat.is_nx(db.client)
    assert nx_compat.count(db.c, query) == len(list(db.c.find(query)))


@pytest.mark.parametrize("name", ["order", "select", "unique", "group", "values", "index"])
def test_sql_keyword_collections_work_under_their_declared_names(db, name):
    assert stored_name(name) == "_" + name and declared_name("_" + name) == name
    project_db = ProjectDatabase.wrap(db)
    project_db[name].insert_one({"createdAt": 1})
    project_db[name].create_index([("createdAt", 1)])
    assert project_db[name].count_documents({}) == 1 and name in project_db.list_collection_names()
    with pytest.raises(pymongo.errors.OperationFailure, match="syntax error"):
        db[name].insert_one({"a": 1})  # the departure the mapping works around


def test_ordinary_names_are_stored_as_declared(db):
    assert stored_name("scenes") == "scenes" and stored_name("$cmd") == "$cmd" and stored_name("_graph") == "_graph"


def test_object_ids_outside_id_still_never_match(db):
    """The product matches such ids as strings (``ApiToken.userId``). When this fails, the server
    matches ObjectIds: the string copies can go."""
    user = ObjectId()
    db.c.insert_one({"user": user, "userId": str(user)})
    assert db.c.count_documents({"userId": str(user)}) == 1
    assert db.c.find_one({"user": user}) is None


def test_regular_expressions_are_still_refused(db):
    """Emails are matched on their normalised form, activity prefixes as ranges."""
    import re

    db.c.insert_one({"email": "ada@example.com"})
    with pytest.raises(pymongo.errors.OperationFailure, match="Regex"):
        db.c.find_one({"email": re.compile("^ADA", re.I)})


def test_unique_indexes_hold_but_find_and_modify_hides_a_duplicate(db):
    """Departure 9: a unique index on a dotted path refuses duplicates (insert, replace, update) with
    error 11000, but ``findAndModify`` answers one with "no document matched"; ``ContentService.update``
    tells the two apart by the unchanged version. A plain index on the same keys wins over a later
    unique one (``core.indexes.create_unique_index`` drops it first); nulls never clash."""
    db.s.create_index([("content.number", 1)], unique=True)
    db.s.insert_one({"_id": 1, "content": {"number": 1}})
    db.s.insert_one({"_id": 2, "content": {"number": 2}})
    with pytest.raises(pymongo.errors.DuplicateKeyError):
        db.s.insert_one({"content": {"number": 1}})
    with pytest.raises(pymongo.errors.DuplicateKeyError):
        db.s.replace_one({"_id": 2}, {"content": {"number": 1}})
    assert db.s.find_one_and_replace({"_id": 2}, {"content": {"number": 1}}) is None  # departure: no error
    assert db.s.find_one({"_id": 2})["content"]["number"] == 2
    db.s.insert_many([{"content": {"number": None}}, {"content": {"number": None}}, {"content": {}}])  # departure
    db.p.create_index([("k", 1)])
    db.p.create_index([("k", 1)], unique=True)
    db.p.insert_many([{"k": 1}, {"k": 1}])  # departure: the plain index stayed, the unique one was not made


@pytest.mark.parametrize("query", [{"s": "3"}, {"flag": False}, {"n": 2}, {"$and": [{"s": "3"}, {"n": 1}]},
                                   {"s": "3", "flag": True}])
def test_equalities_on_scalar_fields_count_from_sql_and_agree_with_find(db, query):
    db.c.insert_many([{"flag": i % 2 == 0, "n": i % 3, "s": str(i % 4)} for i in range(60)] + [{"other": 1}])
    assert nx_compat._scalar_equalities(query, frozenset({"s", "flag", "n"}))
    assert nx_compat.count(db.c, query, frozenset({"s", "flag", "n"})) == len(list(db.c.find(query)))


def test_only_declared_scalar_fields_take_the_fast_count():
    assert not nx_compat._scalar_equalities({"tags": "x"}, frozenset({"s"}))  # may be an array
    assert not nx_compat._scalar_equalities({"s": None}, frozenset({"s"}))  # null matches missing fields
    assert not nx_compat._scalar_equalities({"s": {"$ne": "x"}}, frozenset({"s"}))
    assert not nx_compat._scalar_equalities({"$or": [{"s": "x"}]}, frozenset({"s"}))


def test_exists_tells_a_missing_field_from_null(db):
    """Departure 10: read rules order a missing field below every value but raise on null, so
    the compiled filter must tell them apart, at any depth."""
    db.t.insert_many([{"_id": "missing"}, {"_id": "null", "x": None}, {"_id": "one", "x": 1},
                      {"_id": "deep_null", "x": {"s": None}}, {"_id": "deep", "x": {"s": 1}}])
    found = lambda query: sorted(d["_id"] for d in db.t.find(query))  # noqa: E731
    assert found({"x": {"$exists": False}}) == ["missing"]
    assert found({"x": {"$exists": True}}) == ["deep", "deep_null", "null", "one"]
    assert found({"x.s": {"$exists": False}}) == ["missing", "null", "one"]
    assert found({"x.s": {"$exists": True}}) == ["deep", "deep_null"]
