"""The JavaScript provider (``clients/js``) tested with Node's test runner against two served
processes of one installation: convergence, a read-only viewer, presence, reconnects, saving,
REST writes shown live and refused pastes recovered from (``clients/js/test``)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.realtime_support import installed, serving_pair
from tests.installing import npm_ci

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "js"
DOCS = ("converge", "viewer", "presence", "reconnect", "save", "paste")


@pytest.fixture(scope="module")
def installation(tmp_path_factory, redis_server):
    yield from installed(tmp_path_factory, redis_server, "js-provider")


@pytest.fixture(scope="module")
def servers(installation):
    yield from serving_pair(installation)


def test_the_provider_suite_passes_against_served_aladdin(installation, servers):
    reason = npm_ci(CLIENT)
    if reason:
        pytest.skip(reason)
    a, b = servers
    env = {**os.environ,
           "ALADDIN_URL_A": a.url, "ALADDIN_URL_B": b.url, "ALADDIN_PROJECT": installation.pid,
           "ALADDIN_TOKENS": json.dumps({role: installation.token(role) for role in ("owner", "editor", "viewer")}),
           "ALADDIN_DOCS": json.dumps({name: installation.create_doc(title="Opening") for name in DOCS})}
    log = installation.tmp / "node-test.log"
    with log.open("w") as out:
        node = subprocess.Popen(["node", "--test", "--test-reporter=tap", "test/provider.test.mjs"], cwd=CLIENT,
                                env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            code = node.wait(timeout=600)  # each test has its own 90 s limit inside
        finally:
            if node.poll() is None:
                node.kill()
                node.wait()
    output = log.read_text()
    print(output[-4000:])
    assert code == 0, output[-8000:]
    assert f"# pass {len(DOCS)}" in output and "# fail 0" in output
