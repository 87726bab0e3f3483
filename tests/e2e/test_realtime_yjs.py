"""Yjs over ``/collab`` end to end: stock JavaScript peers, pycrdt peers, restarts, two servers."""

from __future__ import annotations

import json
import subprocess

import pytest
import requests
from pycrdt import Doc, Map, Text

from tests.e2e.realtime_support import (JS_DIR, Collab, Installation, installation_env, npm_ready, Server,
                                        YClient)
from tests.waiting import wait_for


@pytest.fixture(scope="session")
def node_peer():
    reason = npm_ready()
    if reason:
        pytest.skip(reason)
    return JS_DIR / "yjs_peer.mjs"


@pytest.fixture(scope="module")
def installation(tmp_path_factory, redis_server):
    tmp = tmp_path_factory.mktemp("realtime-yjs")
    inst = Installation(installation_env(tmp, redis_server, ALADDIN_REALTIME_COMPACT_EVERY="25"))
    inst.tmp = tmp
    yield inst
    inst.close()


@pytest.fixture
def servers(installation):
    started = []

    def start():
        server = Server(installation.env, installation.tmp).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def ref(installation, doc_id):
    return {"projectId": installation.pid, "collection": "scenes", "documentId": doc_id}


def y_client(server, installation, role, doc_id, clients) -> YClient:
    client = YClient(server.url, installation.token(role), ref(installation, doc_id))
    clients.append(client)
    assert client.call("join", {"projectId": installation.pid})["ok"]
    client.sync()
    return client


def operations(installation, doc_id) -> list[dict]:
    db = installation.app.extensions["aladdin"].db.project(installation.project.slug)
    return list(db["operations"].find({"documentId": doc_id}))


def stored_doc(installation, doc_id) -> Doc:
    doc = Doc()
    records = operations(installation, doc_id)
    for record in sorted((r for r in records if r["kind"] != "head"), key=lambda r: r["kind"] != "snapshot"):
        doc.apply_update(bytes(record["update"]))
    return doc


def test_stock_js_peers_converge_and_state_survives_a_restart(installation, servers, clients, node_peer):
    server = servers()
    doc_id = installation.create_doc(title="Storm")
    args = [server.url, installation.token("editor"), installation.pid, "scenes", doc_id]
    peers = [subprocess.Popen(["node", str(node_peer), *args, label, "30", "60"], cwd=JS_DIR,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for label in "AB"]
    results = []
    for peer in peers:
        out, err = peer.communicate(timeout=90)
        assert peer.returncode == 0, err + server.log()[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    a, b = results
    assert a["text"] == b["text"] and len(a["text"]) == 60
    assert sorted(a["text"]) == sorted("A" * 30 + "B" * 30)
    # The server seeded the stored title; each peer added its own entry.
    assert a["content"] == b["content"] == {"title": "Storm", "by_A": "written by A", "by_B": "written by B"}

    # A late-joining Python peer gets the whole state from the server's pycrdt document.
    late = y_client(server, installation, "viewer", doc_id, clients)
    assert late.text() == a["text"]
    assert late.doc.get("content", type=Map).to_py() == a["content"]

    # Every update is stored once, and periodic compaction folded most into a snapshot.
    records = operations(installation, doc_id)
    assert [r for r in records if r["kind"] == "snapshot"]
    assert str(stored_doc(installation, doc_id).get("text", type=Text)) == a["text"]

    # A restarted server loads the document from storage.
    server.stop()
    restarted = servers()
    fresh = y_client(restarted, installation, "owner", doc_id, clients)
    assert fresh.text() == a["text"]

    # The server saved the Y.Map "content" by itself (autosave, at the latest when the peers
    # left), through the versioned write path; an explicit commit then has nothing to write.
    stored = installation.get_doc(doc_id)
    assert stored["content"] == {"title": "Storm", "by_A": "written by A", "by_B": "written by B"}
    assert stored["version"] > 1
    stale = fresh.call("yjs_commit", {**ref(installation, doc_id), "baseVersion": stored["version"] + 5})
    assert stale["error"] == "conflict" and stale["version"] == stored["version"]
    done = fresh.call("yjs_commit", {**ref(installation, doc_id), "baseVersion": stored["version"]})
    assert done["ok"] and done["unchanged"] and done["version"] == stored["version"]


def test_viewers_sync_but_cannot_change_the_document(installation, servers, clients):
    server = servers()
    doc_id = installation.create_doc()
    editor = y_client(server, installation, "editor", doc_id, clients)
    assert editor.edit(lambda d: d.get("text", type=Text).insert(0, "hello")) == {"ok": True}
    viewer = y_client(server, installation, "viewer", doc_id, clients)
    assert viewer.text() == "hello"
    before = len(operations(installation, doc_id))
    refused = viewer.edit(lambda d: d.get("text", type=Text).insert(0, "spam "))
    assert refused["error"] == "forbidden"
    assert len(operations(installation, doc_id)) == before
    assert viewer.call("yjs_commit", {**ref(installation, doc_id), "baseVersion": 1})["error"] == "forbidden"
    late = y_client(server, installation, "owner", doc_id, clients)
    assert late.text() == "hello"


def test_two_server_processes_share_presence_and_edits(installation, servers, clients):
    one, two = servers(), servers()
    doc_id = installation.create_doc()
    a = y_client(one, installation, "owner", doc_id, clients)
    b = y_client(two, installation, "editor", doc_id, clients)
    # Presence crosses processes both ways.
    assert str(installation.users["owner"].id) in [u["userId"] for u in b.call(
        "join", {"projectId": installation.pid})["users"]]
    a.wait_for("user_joined", lambda d: d["userId"] == str(installation.users["editor"].id))
    b.call("cursor_move", {"projectId": installation.pid, "documentId": doc_id, "position": 3})
    assert a.wait_for("cursor_move")["userId"] == str(installation.users["editor"].id)
    # Yjs edits cross processes, and each is stored exactly once.
    assert a.edit(lambda d: d.get("text", type=Text).insert(0, "one ")) == {"ok": True}
    b.wait_for("yjs", lambda d: d["message"][1] == 2)
    assert b.text() == "one "
    assert b.edit(lambda d: d.get("text", type=Text).insert(4, "two")) == {"ok": True}
    a.wait_for("yjs", lambda d: d["message"][1] == 2)
    assert a.text() == b.text() == "one two"
    assert len([r for r in operations(installation, doc_id) if r["kind"] == "update"]) == 2
    # Each server's own copy has the other's edit: late joiners on either side get it all.
    for server in (one, two):
        assert y_client(server, installation, "viewer", doc_id, clients).text() == "one two"
    # Versioned edits cross processes too.
    ack = b.call("content_change", {**ref(installation, doc_id), "patch": {"content.title": "Two"},
                                    "baseVersion": 1})
    assert ack["version"] == 2
    assert a.wait_for("content_change", lambda d: d["documentId"] == doc_id and d["version"] == 2)["patch"] == {"content.title": "Two"}
    b.close()
    a.wait_for("user_left", lambda d: d["userId"] == str(installation.users["editor"].id))


def test_malformed_input_is_refused_and_the_server_keeps_serving(installation, servers, clients):
    server = servers()
    doc_id = installation.create_doc(title="Keep")
    client = y_client(server, installation, "owner", doc_id, clients)
    document = ref(installation, doc_id)
    ops_before = len(operations(installation, doc_id))
    cases = [
        ("no_such_event", {"x": 1}, "unknown_event"),
        ("join", "not an object", "invalid"),
        ("join", ["a", "list"], "invalid"),
        ("join", {"projectId": 12}, "invalid"),
        ("cursor_move", {"projectId": installation.pid, "documentId": "../../etc", "position": 1}, "invalid"),
        ("cursor_move", {"projectId": installation.pid, "documentId": doc_id, "position": "x" * (1024 * 1024 + 10)},
         "too_large"),
        ("content_change", {**document, "patch": {"content.title": "y" * (1024 * 1024 + 10)}, "baseVersion": 1},
         "too_large"),
        ("content_change", {**document, "patch": ["content.title"], "baseVersion": 1}, "invalid"),
        ("content_change", {**document, "patch": {"content.title": "z"}, "baseVersion": "1"}, "invalid"),
        ("content_change", {**document, "patch": {"version": 99}, "baseVersion": 1}, "invalid"),
        ("content_change", {**document, "patch": {"content.title": "z"}}, "invalid"),
        ("yjs", {**document, "message": "not bytes"}, "invalid"),
        ("yjs", {**document, "message": b"\x00"}, "invalid"),
        ("yjs", {**document, "message": b"\x01\x05\x00\x00\x00\x00\x00"}, "invalid"),
        ("yjs", {**document, "message": b"\x00\x02\x05garba"}, "invalid"),
        ("yjs", {**document, "message": b"\x00\x02\x7f\x01"}, "invalid"),
        ("yjs", {**document, "message": b"\x00\x09\x01\x00"}, "invalid"),
        ("yjs", {**document, "message": b"\x00\x00\x03\xff\xff\xff"}, "invalid"),
        ("awareness", {**document, "message": b"\x01\x05\x01\x03{{{"}, "invalid"),
        ("awareness", {**document, "message": b"\xff\xff\xff"}, "invalid"),
        ("yjs_commit", {**document, "baseVersion": "1"}, "invalid"),
        ("presence", {"projectId": installation.pid, "status": ["active"]}, "invalid"),
        ("typing_start", {"projectId": installation.pid}, "invalid"),
    ]
    for event, payload, code in cases:
        ack = client.call(event, payload)
        assert ack["error"] == code, (event, ack)
        assert "Traceback" not in json.dumps(ack)
    # Nothing was stored or changed, and the same connection still works.
    assert len(operations(installation, doc_id)) == ops_before
    assert installation.get_doc(doc_id)["version"] == 1
    assert client.call("presence", {"projectId": installation.pid})["ok"]
    assert client.edit(lambda d: d.get("text", type=Text).insert(0, "still fine")) == {"ok": True}
    other = Collab(server.url, installation.token("editor"))
    clients.append(other)
    assert other.call("join", {"projectId": installation.pid})["ok"]
    assert server.alive()


class JsPeer:
    """A stock JavaScript Yjs peer driven line by line (``yjs_peer.mjs ... drive``)."""

    def __init__(self, node_peer, server, installation, role, doc_id):
        self.proc = subprocess.Popen(
            ["node", str(node_peer), server.url, installation.token(role), installation.pid, "scenes", doc_id,
             "J", "0", "0", "drive"], cwd=JS_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        assert self.read() == {"ready": True}

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read()
        return json.loads(line)

    def ask(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def test_stock_js_peer_gets_the_seed_rest_writes_and_the_deletion(installation, servers, clients, node_peer):
    one, two = servers(), servers()
    doc_id = installation.create_doc(title="Storm at sea", mood="dark")
    js = JsPeer(node_peer, one, installation, "editor", doc_id)
    try:
        # The server seeded the stored document: the stock client reads it, never seeds it.
        assert js.ask(op="content") == {"content": {"title": "Storm at sea", "mood": "dark"}}
        assert js.ask(op="type", field="title", at=-1, text=" tonight") == {"ok": True}
        watcher = y_client(two, installation, "viewer", doc_id, clients)
        wait_for(lambda: str(watcher.doc.get("content", type=Map).get("title")) == "Storm at sea tonight",
                 message="the stock client's typing to reach the other process")
        # A REST write on the other process reaches the stock client as a minimal change: its
        # own typing in the same field survives.
        headers = {"Authorization": f"Bearer {installation.token('owner')}"}
        base = f"{two.url}/api/v1/projects/{installation.pid}/content/scenes/{doc_id}"
        resp = requests.patch(base, json={"content": {"title": "Big storm at sea"}, "baseVersion": 1},
                              headers=headers, timeout=60)
        assert resp.status_code == 200, resp.text
        got = js.ask(op="wait", field="title", value="Big storm at sea tonight")
        assert got == {"content": {"title": "Big storm at sea tonight", "mood": "dark"}}, got
        done = watcher.call("yjs_commit", {**ref(installation, doc_id), "baseVersion": 2})
        assert done["error"] == "forbidden"  # a viewer; an editor commits what the stock client typed
        editor = y_client(two, installation, "editor", doc_id, clients)
        done = editor.call("yjs_commit", {**ref(installation, doc_id), "baseVersion": 2})
        assert done["ok"] and installation.get_doc(doc_id)["content"]["title"] == "Big storm at sea tonight"
        # Deleted: the stock client's next frame is refused like a missing document's.
        assert requests.delete(base, headers=headers, timeout=60).status_code in (200, 204)
        assert js.ask(op="sync")["error"] == "not_found"
        assert operations(installation, doc_id) == []
    finally:
        js.close()
