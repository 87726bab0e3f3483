"""The live Y.Doc and the stored document are one truth (issue 12, points 1-4 and 7): the server
seeds, writes made elsewhere flow in, a second process loses nothing, deletion closes, compaction.
Real ``cli.py serve`` processes sharing Redis and storage, real Socket.IO clients (pycrdt peers)."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from pycrdt import Map, Text

from tests.e2e.realtime_support import (NOT_FOUND, close_all, Collab, installed, Server, serving_pair,
                                        YClient)
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def installation(tmp_path_factory, redis_server):
    yield from installed(tmp_path_factory, redis_server, "realtime-ydoc", ALADDIN_REALTIME_COMPACT_EVERY="1000")


@pytest.fixture(scope="module")
def servers(installation):
    yield from serving_pair(installation)


def ref(installation, doc_id: str) -> dict:
    return {"projectId": installation.pid, "collection": "scenes", "documentId": doc_id}


def peer(server, installation, role: str, doc_id: str, clients, sync: bool = True) -> YClient:
    client = YClient(server.url, installation.token(role), ref(installation, doc_id))
    clients.append(client)
    assert client.call("join", {"projectId": installation.pid})["ok"]
    if sync:
        client.sync()
    return client


def field(client: YClient, name: str = "title"):
    value = client.doc.get("content", type=Map).get(name)
    return str(value) if isinstance(value, Text) else value


def content(client: YClient) -> dict:
    return client.doc.get("content", type=Map).to_py()


def type_at(client: YClient, at: int, text: str, name: str = "title") -> dict:
    return client.edit(lambda d: d.get("content", type=Map)[name].insert(at, text))


def operations(installation, doc_id: str) -> list[dict]:
    db = installation.app.extensions["aladdin"].db.project(installation.project.slug)
    return list(db["operations"].find({"documentId": doc_id}))


def kinds(installation, doc_id: str) -> list[str]:
    return sorted(r["kind"] for r in operations(installation, doc_id))


class Rest:
    def __init__(self, server, installation, role: str = "owner"):
        self.base = f"{server.url}/api/v1/projects/{installation.pid}/content/scenes"
        self.headers = {"Authorization": f"Bearer {installation.token(role)}"}

    def patch(self, doc_id: str, version: int, **content):
        return requests.patch(f"{self.base}/{doc_id}", json={"content": content, "baseVersion": version},
                              headers=self.headers, timeout=60)

    def delete(self, doc_id: str):
        return requests.delete(f"{self.base}/{doc_id}", headers=self.headers, timeout=60)


def test_the_server_seeds_once_when_many_open_together_on_two_processes(installation, servers, clients):
    one, two = servers
    doc_id = installation.create_doc(title="Storm", mood="dark", beats=[1, "two"], meta={"n": 2})
    made = [peer(server, installation, role, doc_id, clients, sync=False)
            for server in (one, two) for role in ("owner", "editor", "viewer")]
    threads = [threading.Thread(target=client.sync) for client in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    expected = {"title": "Storm", "mood": "dark", "beats": [1, "two"], "meta": {"n": 2}}
    for client in made:  # nobody seeded on the client side, and nothing was seeded twice
        wait_for(lambda: content(client) == expected, message=lambda: f"the seeded content, not {content(client)}")
        assert isinstance(client.doc.get("content", type=Map)["title"], Text)
    assert kinds(installation, doc_id) == ["head", "snapshot"]
    assert [r for r in operations(installation, doc_id) if r["kind"] == "snapshot"][0]["seeded"]


def test_writes_made_elsewhere_flow_into_the_live_document(installation, servers, clients):
    one, two = servers
    doc_id = installation.create_doc(title="Hello world", mood="calm")
    a = peer(one, installation, "owner", doc_id, clients)
    watcher = peer(one, installation, "viewer", doc_id, clients)
    # Live typing at the end of the title that the REST writer does not know about.
    assert type_at(a, len("Hello world"), "!!") == {"ok": True}
    wait_for(lambda: field(watcher) == "Hello world!!", message="the typing on the watcher")
    # A REST write on the other process (where nobody has it open) changes the start of the title.
    resp = Rest(two, installation).patch(doc_id, 1, title="Hi world", mood="tense")
    assert resp.status_code == 200, resp.text
    for client in (a, watcher):  # a server update: the typing elsewhere in the field survives
        wait_for(lambda: field(client) == "Hi world!!" and field(client, "mood") == "tense",
                 message=lambda: f"the REST write in the Y.Doc ({field(client)!r})")
    # A late joiner on either process gets it from the server.
    for server in (one, two):
        assert field(peer(server, installation, "viewer", doc_id, clients), "mood") == "tense"
    # A write from a process with no Socket.IO server at all (the CLI, a worker, a plugin).
    ext = installation.app.extensions["aladdin"]
    ext.content.update(installation.project, "scenes", doc_id, {"content.act": 2}, installation.users["owner"])
    wait_for(lambda: field(a, "act") == 2, message="the worker write in the Y.Doc")
    # A socket edit (content_change) flows in too.
    editor = Collab(two.url, installation.token("editor"))
    clients.append(editor)
    assert editor.call("join", {"projectId": installation.pid})["ok"]
    ack = editor.call("content_change", {**ref(installation, doc_id), "patch": {"content.mood": "grim"},
                                         "baseVersion": 3})
    assert ack["ok"] and ack["version"] == 4
    wait_for(lambda: field(a, "mood") == "grim", message="the socket edit in the Y.Doc")
    # A commit with the version a 409 returned cannot revert what it did not see: the Y.Doc has it.
    stale = a.call("yjs_commit", {**ref(installation, doc_id), "baseVersion": 1})
    assert stale["error"] == "conflict" and stale["version"] == 4
    done = a.call("yjs_commit", {**ref(installation, doc_id), "baseVersion": stale["version"]})
    assert done["ok"] and done["version"] == 5, done
    assert installation.get_doc(doc_id)["content"] == {"title": "Hi world!!", "mood": "grim", "act": 2}
    # Committing again changes nothing and stores nothing.
    again = a.call("yjs_commit", {**ref(installation, doc_id), "baseVersion": 5})
    assert again["ok"] and again["version"] == 5 and again.get("unchanged")
    # A REST write right before a commit on another process: the commit still includes it.
    resp = Rest(one, installation).patch(doc_id, 5, mood="bright")
    assert resp.status_code == 200
    b = peer(two, installation, "editor", doc_id, clients)
    assert type_at(b, 0, ">") == {"ok": True}
    done = b.call("yjs_commit", {**ref(installation, doc_id), "baseVersion": 6})
    assert done["ok"], done
    assert installation.get_doc(doc_id)["content"] == {"title": ">Hi world!!", "mood": "bright", "act": 2}


def test_no_update_is_lost_when_a_second_process_opens_mid_stream(installation, servers, clients):
    one, two = servers
    for round_ in range(20):
        doc_id = installation.create_doc(title="")
        a = peer(one, installation, "editor", doc_id, clients)
        acks: list = []

        def stream():
            for i in range(25):
                acks.append(type_at(a, len(field(a).encode()), "x"))
                time.sleep(0.002)  # what is tested: a stream still flowing while B opens (not a wait)

        streamer = threading.Thread(target=stream)
        streamer.start()
        wait_for(lambda: len(acks) >= 3 + round_ % 5, message="the first edits")
        b = peer(two, installation, "owner", doc_id, clients)
        streamer.join(30)
        assert acks == [{"ok": True}] * 25
        wait_for(lambda: field(b) == "x" * 25, message=lambda: f"round {round_}: B has {len(field(b) or '')}/25")
        done = b.call("yjs_commit", {**ref(installation, doc_id), "baseVersion": 1})
        assert done["ok"], done
        assert installation.get_doc(doc_id)["content"]["title"] == "x" * 25, f"round {round_}"
        # Each update stored exactly once (the seed is the snapshot).
        assert len([r for r in operations(installation, doc_id) if r["kind"] == "update"]) == 25
        close_all([a, b])
        clients.remove(a)
        clients.remove(b)


def test_deleting_a_document_closes_it_everywhere(installation, servers, clients):
    one, two = servers
    doc_id = installation.create_doc(title="Doomed")
    a, b = peer(one, installation, "owner", doc_id, clients), peer(two, installation, "editor", doc_id, clients)
    assert type_at(a, 0, "so ") == {"ok": True}
    wait_for(lambda: field(b) == "so Doomed", message="the typing on B")
    assert Rest(one, installation).delete(doc_id).status_code in (200, 204)
    # Each client learns of the deletion; its server has closed the document by then.
    for client in (a, b):
        client.wait_for("content_change", lambda d: d["documentId"] == doc_id and d["action"] == "deleted")
        assert type_at(client, 0, "zombie ") == NOT_FOUND
        assert client.call("yjs_commit", {**ref(installation, doc_id), "baseVersion": 1}) == NOT_FOUND
        assert client.call("yjs", {**ref(installation, doc_id), "message": b"\x00\x00\x01\x00"}) == NOT_FOUND
    # Opening it afresh is like opening a missing document, and nothing of it is left stored.
    late = peer(two, installation, "owner", doc_id, clients, sync=False)
    from pycrdt import Doc, create_sync_message

    assert late.call("yjs", {**ref(installation, doc_id), "message": create_sync_message(Doc())}) == NOT_FOUND
    # No wait: each server dropped the document before announcing the deletion, and the refused
    # frames above went through both after that, so no store of theirs can still be under way.
    assert operations(installation, doc_id) == []


def test_compaction_at_shutdown_after_a_crash_and_no_redundant_records_on_rejoin(installation, clients):
    server = Server(installation.env, installation.tmp).start()
    try:
        doc_id = installation.create_doc(title="Keep")
        a = peer(server, installation, "owner", doc_id, clients)
        for i in range(5):
            assert type_at(a, 0, str(i)) == {"ok": True}
        a.edit(lambda d: d.get("content", type=Map)["title"].__delitem__(slice(0, 2)))
        # Rejoining with everything the server has (a delete set only) stores nothing.
        before = len(operations(installation, doc_id))
        rejoin = YClient(server.url, installation.token("owner"), ref(installation, doc_id))
        clients.append(rejoin)
        rejoin.doc.apply_update(a.doc.get_update())
        assert rejoin.call("join", {"projectId": installation.pid})["ok"]
        rejoin.sync()
        # Its reply to the server's own sync step 1 is sent once that frame is recorded, and the
        # server handles a socket's events in order: a round trip after it has it handled.
        rejoin.wait_for("yjs", lambda d: d["message"][1] == 0)
        assert rejoin.call("presence", {"projectId": installation.pid})["ok"]
        assert len(operations(installation, doc_id)) == before
        close_all([rejoin])
        clients.remove(rejoin)
        # Shutdown compacts what the open document stored.
        server.stop()
        assert kinds(installation, doc_id) == ["head", "snapshot"]
        close_all([a])
        clients.remove(a)

        # A crash leaves updates; after the restart a read-only session compacts them on close.
        server = Server(installation.env, installation.tmp).start()
        b = peer(server, installation, "owner", doc_id, clients)
        for i in range(3):
            assert type_at(b, 0, "c") == {"ok": True}
        server.proc.kill()
        server.proc.wait(10)
        assert kinds(installation, doc_id).count("update") == 3
        close_all([b])
        clients.remove(b)
        server = Server(installation.env, installation.tmp).start()
        viewer = peer(server, installation, "viewer", doc_id, clients)
        assert field(viewer) == "ccc210Keep"
        close_all([viewer])
        clients.remove(viewer)
        wait_for(lambda: kinds(installation, doc_id) == ["head", "snapshot"], message="the compaction after restart")
    finally:
        server.stop()
