"""The embedded store's per-thread clients: reused by later threads, always seeing current data."""

import threading

import pytest
from bson import ObjectId

from core.db import _ThreadLocalLiteMongo


def _in_thread(fn):
    out = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join()
    return out[0]


def test_a_finished_threads_client_serves_the_next_thread(tmp_path):
    store = _ThreadLocalLiteMongo(str(tmp_path / "mongo"))
    first = _in_thread(lambda: (store["db"]["c"].insert_one({"n": 1}), store._client())[1])
    assert store._idle == [first]
    second = _in_thread(lambda: store._client())
    assert second is first  # handed over, not reopened


def test_concurrent_threads_get_distinct_clients_and_see_each_others_writes(tmp_path):
    store = _ThreadLocalLiteMongo(str(tmp_path / "mongo"))
    other = _ThreadLocalLiteMongo(str(tmp_path / "mongo"))  # another process's view of the files
    # litemongo cannot create one new collection file from two connections at once (its own
    # race); the product creates collections before concurrent use (project creation, indexes).
    store["db"]["c"].insert_one({"n": 0})
    barrier = threading.Barrier(2)
    clients, seen = [], []

    def work(n):
        clients.append(store._client())
        barrier.wait()
        store["db"]["c"].insert_one({"n": n})

    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clients[0] is not clients[1]
    other["db"]["c"].insert_one({"n": 3})
    seen = _in_thread(lambda: sorted(d["n"] for d in store["db"]["c"].find()))
    assert seen == [0, 1, 2, 3]


def test_embedded_databases_are_recognised_and_counted_without_a_scan(tmp_path, monkeypatch):
    """Lookups are sized by these: the thread-local wrapper once hid litemongo from the check
    (5,000-id $in lists on a store that tests each candidate against the list)."""
    import mongomock

    from core.db import estimated_count, find_by_ids, is_embedded

    store = _ThreadLocalLiteMongo(str(tmp_path / "mongo"))
    db = store["proj"]
    db["c"].insert_many([{"n": n} for n in range(25)])
    assert is_embedded(db) and is_embedded(mongomock.MongoClient()["x"])
    coll = db["c"]
    ids = [d["_id"] for d in coll.find({}, sort=[("n", 1)])]
    expected = list(coll.find({"_id": {"$in": ids[:10]}, "n": {"$gte": 5}}))
    # By key from litemongo's table: its find() (an index of the whole collection, a deep copy
    # per result) is never asked, and the matches are exactly find()'s.
    monkeypatch.setattr(type(coll), "find", lambda *a, **k: pytest.fail("went through find()"))
    got = list(find_by_ids(coll, ids[:10] + [ObjectId()], {"n": {"$gte": 5}}))
    assert got == expected and [d["n"] for d in got] == list(range(5, 10))
    got[0]["n"] = -1  # the caller's own copy
    assert [d["n"] for d in find_by_ids(coll, ids[5:6])] == [5]
    monkeypatch.undo()
    monkeypatch.setattr(type(coll), "count_documents", lambda *a, **k: pytest.fail("decoded every document"))
    assert estimated_count(coll) == 25
