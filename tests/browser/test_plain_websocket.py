"""Yjs over the plain WebSocket in a real browser: two Debian Chromium pages (playwright-core), each
running the stock y-websocket ``WebsocketProvider`` and stock yjs (the locked packages of
``tests/js``, loaded as ES modules), on a page of another origin, against two served processes of
one installation. What a person's browser does: it is synced on opening (the document comes with
the handshake), typing crosses both ways between processes and is saved, and each page shows the
other person under the name the server gives, not the one the page claims.

Chromium and the npm packages are installed by this module when missing (``apt-get`` needs root,
as on CI); elsewhere the module is skipped and says why."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.e2e.realtime_support import installed, npm_ready, serving_pair
from tests.installing import npm_ci
from tests.waiting import wait_for

from .test_studio import HERE


@pytest.fixture(scope="module")
def installation(tmp_path_factory, redis_server):
    # The page is served from another loopback origin, as a studio's dev server would be.
    yield from installed(tmp_path_factory, redis_server, "browser-plain", ALADDIN_CORS_ORIGINS="loopback",
                         ALADDIN_REALTIME_AUTOSAVE_IDLE_SECONDS="0.3")


@pytest.fixture(scope="module")
def servers(installation):
    yield from serving_pair(installation)


@pytest.mark.timeout(300)
def test_stock_y_websocket_in_chromium_pages_on_two_processes(installation, servers, chromium):
    for reason in (npm_ci(HERE), npm_ready()):
        if reason:
            pytest.fail(reason)
    doc_id = installation.create_doc(title="Opening")
    users = installation.users["owner"], installation.users["editor"]
    data = {"servers": [server.url for server in servers], "tokens": [user.token for user in users],
            "names": [user.name for user in users], "room": f"{installation.pid}/scenes/{doc_id}",
            "chromium": chromium}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ALADDIN_")}, "PLAIN_DATA": json.dumps(data)}
    done = subprocess.run(["node", "ywebsocket_pages.mjs"], cwd=HERE, env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-4000:] + done.stdout[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    print(seen)
    assert seen["before"] == "Opening" and seen["after"] == "Opening night, exterior"
    assert all(isinstance(ms, (int, float)) for ms in seen["synced"])
    assert seen["othersOfA"] == [users[1].name] and not seen["errors"], seen
    wait_for(lambda: installation.get_doc(doc_id)["content"]["title"] == "Opening night, exterior",
             message="the typing to be saved")
