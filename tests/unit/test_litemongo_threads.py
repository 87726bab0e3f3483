"""The embedded store's per-thread clients: reused by later threads, always seeing current data."""

import threading

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
