"""The realtime protocol under the faults of issue 21 (items 4-6): a reconnecting client's
presence, field deletion and null through ``yjs_commit``, and refused updates that a client
recovers from. Two ``cli.py serve`` processes of one installation, stock JavaScript clients
where the client's own behaviour is the question."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e.realtime_support import JS_DIR, installed, npm_ready, serving_pair
from tests.waiting import TIMEOUT


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


def run_node(script: str, *args: str) -> dict:
    """Run a stock-client script from ``tests/js`` to its end; its last output line (JSON)."""
    done = subprocess.run(["node", str(JS_DIR / script), *args], cwd=JS_DIR, capture_output=True, text=True,
                          timeout=2 * TIMEOUT)
    assert done.returncode == 0, f"{script} failed: {done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_reconnecting_clients_presence_is_seen_again_from_its_reannouncement(installation, servers, node):
    """The client drops its connection (the server removes its entry), reconnects and
    re-announces its state under the clock it had, as stock providers do. The watcher, a stock
    y-protocols Awareness on the other process, shows it again from that announcement, not
    from a later renewal (the client's clock has not moved when the watcher sees it)."""
    a, b = servers
    doc_id = installation.create_doc(title="Presence")
    seen = run_node("awareness_reconnect.mjs", a.url, b.url, installation.token("editor"),
                    installation.token("owner"), installation.pid, "scenes", doc_id)
    print(f"\npresence visible again {seen['reappearedMs']} ms after the reconnecting client re-announced")
    assert seen["removedSeen"]
    assert seen["clockWhenSeen"] == seen["clockBefore"], seen

