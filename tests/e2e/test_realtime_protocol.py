"""The realtime protocol under the faults of issue 21 (items 4-6): a reconnecting client's
presence, field deletion and null through ``yjs_commit``, and refused updates that a client
recovers from. Two ``cli.py serve`` processes of one installation, stock JavaScript clients
where the client's own behaviour is the question."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import requests
from pycrdt import Map

from tests.e2e.realtime_support import JS_DIR, installed, npm_ready, serving_pair, YClient
from tests.waiting import TIMEOUT, wait_for


@pytest.fixture(scope="module")
def installation(tmp_path_factory, redis_server):
    yield from installed(tmp_path_factory, redis_server, "realtime-protocol")


@pytest.fixture(scope="module")
def servers(installation):
    yield from serving_pair(installation)


@pytest.fixture(scope="session")
def node():
    reason = npm_ready()
    if reason:
        pytest.skip(reason)
    return JS_DIR


def ref(installation, doc_id: str) -> dict:
    return {"projectId": installation.pid, "collection": "scenes", "documentId": doc_id}


def run_node(script: str, *args: str, env: dict | None = None) -> dict:
    """Run a stock-client script from ``tests/js`` to its end; its last output line (JSON)."""
    done = subprocess.run(["node", str(JS_DIR / script), *args], cwd=JS_DIR, capture_output=True, text=True,
                          timeout=2 * TIMEOUT, env={**os.environ, **(env or {})})
    assert done.returncode == 0, f"{script} failed: {done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_reconnecting_clients_presence_is_seen_again_from_its_reannouncement(installation, servers, node):
    """The client drops its connection (the server removes its entry), reconnects and
    re-announces its state under the clock it had, as stock providers do. The watcher, a stock
    y-protocols Awareness on the other process, shows it again from that announcement: the
    script sends nothing else (no renewal), so with a removal clock above the client's (or a
    relay under it) the watcher never shows it and the script times out."""
    a, b = servers
    doc_id = installation.create_doc(title="Presence")
    seen = run_node("awareness_reconnect.mjs", a.url, b.url, installation.token("editor"),
                    installation.token("owner"), installation.pid, "scenes", doc_id)
    print(f"\npresence visible again {seen['reappearedMs']} ms after the reconnecting client re-announced")
    assert seen["removedSeen"] and seen["reannounced"] == {"ok": True}, seen


def peer(server, installation, role: str, doc_id: str, clients) -> YClient:
    client = YClient(server.url, installation.token(role), ref(installation, doc_id))
    clients.append(client)
    assert client.call("join", {"projectId": installation.pid})["ok"]
    client.sync()
    return client


def rest_get(server, installation, doc_id: str) -> dict:
    resp = requests.get(f"{server.url}/api/v1/projects/{installation.pid}/content/scenes/{doc_id}",
                        headers={"Authorization": f"Bearer {installation.token('owner')}"}, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_a_removed_field_is_removed_and_null_stays_null_through_a_commit(installation, servers, clients):
    a, b = servers
    doc_id = installation.create_doc(title="Keep", notes="drop me", mood="calm", **{"two words": "not mapped"})
    editor = peer(a, installation, "editor", doc_id, clients)
    watcher = peer(b, installation, "viewer", doc_id, clients)
    assert editor.edit(lambda d: d.get("content", type=Map).pop("notes")) == {"ok": True}
    wait_for(lambda: "notes" not in watcher.doc.get("content", type=Map), message="the removal on the other process")
    ack = editor.call("yjs_commit", {**ref(installation, doc_id), "baseVersion": 1})
    assert ack["ok"] and "unchanged" not in ack, ack
    stored = rest_get(b, installation, doc_id)
    assert stored["version"] == 2
    # Removed, and only that: a field the Y.Doc never holds (not a plain identifier) stays.
    assert stored["content"] == {"title": "Keep", "mood": "calm", "two words": "not mapped"}, stored

    def set_null(doc):
        doc.get("content", type=Map)["mood"] = None

    assert editor.edit(set_null) == {"ok": True}
    ack = editor.call("yjs_commit", {**ref(installation, doc_id), "baseVersion": 2})
    assert ack["ok"] and ack["document"]["content"]["mood"] is None, ack
    stored = rest_get(b, installation, doc_id)
    assert stored["content"] == {"title": "Keep", "mood": None, "two words": "not mapped"}, stored
    # The round trip is stable: the Y.Doc says what is stored, null included.
    again = editor.call("yjs_commit", {**ref(installation, doc_id), "baseVersion": 3})
    assert again["unchanged"] and again["version"] == 3, again
    late = peer(b, installation, "viewer", doc_id, clients)
    assert late.doc.get("content", type=Map).to_py() == {"title": "Keep", "mood": None}
    # A write made elsewhere that removes the null field removes it from the live document too.
    resp = requests.patch(f"{a.url}/api/v1/projects/{installation.pid}/content/scenes/{doc_id}",
                          json={"content": {"mood": None}, "baseVersion": 3},
                          headers={"Authorization": f"Bearer {installation.token('owner')}"}, timeout=60)
    assert resp.status_code == 200, resp.text
    wait_for(lambda: "mood" not in late.doc.get("content", type=Map), message="the REST removal in the Y.Doc")


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_refused_paste_does_not_wedge_the_client(installation, servers, clients, node, transport):
    """A stock client pastes over the limit (just over it, and over twice it: both answered in
    an ack, the connection stays), keeps typing (refused too, never acked ``ok``: its update
    builds on the refused paste), then resyncs as the refusal asks; every edit acked ``ok``
    reaches a peer on the other process and a late joiner, and nothing refused was stored.
    Over WebSocket and over HTTP long-polling alike."""
    a, b = servers
    doc_id = installation.create_doc(title="Opening")
    watcher = peer(b, installation, "viewer", doc_id, clients)
    limit = 1024 * 1024
    seen = run_node("paste_recovery.mjs", a.url, installation.token("editor"), installation.pid, "scenes", doc_id,
                    str(limit + 200 * 1024), str(2 * limit + 512 * 1024), env={"TRANSPORT": transport})
    acks = seen["acks"]
    assert acks["typed"] == {"ok": True}
    for ack in acks["pastes"]:
        assert ack["error"] == "too_large" and ack["resync"] is True, ack
    assert acks["kept"]["error"] == "out_of_sync" and acks["kept"]["resync"] is True, acks["kept"]
    assert acks["recovered"] == {"ok": True}
    assert seen["disconnects"] == 0 and seen["title"] == "Opening abc def", seen
    expected = "Opening abc def"
    wait_for(lambda: title(watcher) == expected, message=lambda: f"the acked typing on the other process: {title(watcher)!r}")
    for server in (a, b):
        assert title(peer(server, installation, "viewer", doc_id, clients)) == expected
    db = installation.app.extensions["aladdin"].db.project(installation.project.slug)
    assert all(len(bytes(r["update"])) < limit for r in db["operations"].find({"documentId": doc_id, "update": {"$exists": True}}))


def title(client: YClient) -> str:
    return str(client.doc.get("content", type=Map).get("title"))
