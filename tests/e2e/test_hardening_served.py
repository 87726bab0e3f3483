"""Issue 13 against served processes (``cli.py serve``): client IPs, activity details, URLs
and the Host header, 405 ``Allow``, download types with ``nosniff``, the port the CLI prints."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from tests.e2e.realtime_support import ROOT, Installation, Server, installation_env
from tests.integration.test_roles_matrix import _png
from tests.waiting import served_url, wait_for

FORGED_HOST = "evil.example"
PUBLIC = "https://cms.example"


@pytest.fixture(scope="module")
def installation(tmp_path_factory, redis_server):
    tmp = tmp_path_factory.mktemp("hardening")
    inst = Installation(installation_env(tmp, redis_server))
    inst.tmp = tmp
    yield inst
    inst.close()


@pytest.fixture(scope="module")
def plain(installation):
    """No proxies trusted, no public URL: the defaults."""
    srv = Server(installation.env, installation.tmp).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def proxied(installation, plain):
    """The same installation behind one trusted proxy, with a public URL."""
    env = {**installation.env, "ALADDIN_TRUSTED_PROXIES": "1", "ALADDIN_PUBLIC_URL": PUBLIC}
    srv = Server(env, installation.tmp).start()
    yield srv
    srv.stop()


def _auth(installation, role, **headers):
    return {"Authorization": f"Bearer {installation.token(role)}", **headers}


def _activity(server, installation, role, **params):
    r = requests.get(f"{server.url}/api/v1/projects/{installation.pid}/activity", params=params,
                     headers=_auth(installation, role), timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def _create(server, installation, title, **headers):
    r = requests.post(f"{server.url}/api/v1/projects/{installation.pid}/content/scenes",
                      json={"content": {"title": title}}, headers=_auth(installation, "owner", **headers),
                      timeout=60)
    assert r.status_code == 201, r.text
    return r.json()["id"]


# --- 1. client IPs ------------------------------------------------------------------------


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(plain, proxied, installation):
    spoofed = _create(plain, installation, "spoofed", **{"X-Forwarded-For": "6.6.6.6"})
    forwarded = _create(proxied, installation, "forwarded", **{"X-Forwarded-For": "203.0.113.7"})
    entries = {e["resourceId"]: e for e in _activity(plain, installation, "owner", action="content.created")}
    assert entries[spoofed]["ip"] == "127.0.0.1"
    assert entries[forwarded]["ip"] == "203.0.113.7"
    # The append-only audit log takes its IP from the same place.
    r = requests.post(f"{plain.url}/api/v1/projects/{installation.pid}/team/invitations",
                      json={"email": "audit-ip@example.com", "role": "viewer"},
                      headers=_auth(installation, "owner", **{"X-Forwarded-For": "6.6.6.6"}), timeout=60)
    assert r.status_code == 201, r.text
    audit = requests.get(f"{plain.url}/api/v1/projects/{installation.pid}/audit",
                         params={"action": "invitation.created"}, headers=_auth(installation, "owner"),
                         timeout=60).json()["items"]
    assert audit and {e["ip"] for e in audit} == {"127.0.0.1"}


# --- 2. activity details --------------------------------------------------------------------


def test_activity_details_only_for_team_view_details(plain, installation):
    r = requests.post(f"{plain.url}/api/v1/projects/{installation.pid}/team/invitations",
                      json={"email": "invitee-secret@example.com", "role": "viewer"},
                      headers=_auth(installation, "owner", **{"User-Agent": "owner-browser/1"}), timeout=60)
    assert r.status_code == 201, r.text
    owner_view = _activity(plain, installation, "owner", action="invitation.created")
    mine = [e for e in owner_view if e["details"].get("email") == "invitee-secret@example.com"]
    assert mine and mine[0]["ip"] == "127.0.0.1" and mine[0]["userAgent"] == "owner-browser/1"
    for role in ("editor", "collaborator", "viewer"):
        entries = _activity(plain, installation, role, action="invitation.created")
        assert {e["id"] for e in entries} == {e["id"] for e in owner_view}  # the same entries ...
        for entry in entries:  # ... without the personal fields
            assert "ip" not in entry and "userAgent" not in entry and "email" not in entry["details"]
            assert entry["details"]["role"] == "viewer"
        assert "invitee-secret" not in requests.get(
            f"{plain.url}/api/v1/projects/{installation.pid}/activity",
            headers=_auth(installation, role), timeout=60).text


# --- 6. URLs ----------------------------------------------------------------------------------


def _upload(server, installation, name, data, mimetype, **headers):
    return requests.post(f"{server.url}/api/v1/projects/{installation.pid}/media",
                         files={"file": (name, data, mimetype)},
                         headers=_auth(installation, "owner", **headers), timeout=60)


def test_a_forged_host_never_changes_handed_out_urls(plain, proxied, installation):
    for server, base in ((plain, plain.url), (proxied, PUBLIC)):
        media = _upload(server, installation, "dot.png", _png(), "image/png", Host=FORGED_HOST)
        assert media.status_code == 201, media.text
        assert media.json()["downloadUrl"].startswith(base + "/api/v1/files/")
        listed = requests.get(f"{server.url}/api/v1/projects/{installation.pid}/media",
                              headers=_auth(installation, "owner", Host=FORGED_HOST), timeout=60).json()
        assert all(item["downloadUrl"].startswith(base + "/") for item in listed["items"])
        invite = requests.post(f"{server.url}/api/v1/projects/{installation.pid}/team/invitations",
                               json={"email": f"host-{server.port}@example.com", "role": "viewer"},
                               headers=_auth(installation, "owner", Host=FORGED_HOST), timeout=60)
        assert invite.status_code == 201, invite.text
        assert invite.json()["acceptUrl"].startswith(base + "/api/v1/invitations/")
        assert FORGED_HOST not in media.text + listed.__repr__() + invite.text


def test_serve_and_one_off_commands_print_the_port_really_served(plain, installation):
    assert f"serving http://127.0.0.1:{plain.port} " in plain.log()
    assert ":5000" not in plain.log()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALADDIN_")}
    env.update(installation.env)
    out = subprocess.run([sys.executable, "cli.py", "team", "invite", installation.project.slug,
                          "cli-port@example.com", "viewer"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"http://127.0.0.1:{plain.port}/api/v1/invitations/" in out.stdout
    assert ":5000" not in out.stdout


# --- 7. 405 Allow ----------------------------------------------------------------------------


@pytest.mark.parametrize("method,path,allowed", [
    ("PUT", "/api/v1/projects", {"GET", "POST"}),
    ("DELETE", "/healthz", {"GET"}),
    ("PUT", "/api/v1/projects/{pid}/content/scenes", {"GET", "POST"}),
    ("POST", "/api/v1/projects/{pid}/activity", {"GET"}),
])
def test_405_answers_carry_allow(plain, installation, method, path, allowed):
    r = requests.request(method, plain.url + path.format(pid=installation.pid),
                         headers=_auth(installation, "owner"), timeout=60)
    assert r.status_code == 405
    assert allowed <= {m.strip() for m in r.headers["Allow"].split(",")}
    assert r.json()["code"] == 405 and r.json()["message"]


# --- 5. download types --------------------------------------------------------------------------


def test_downloads_carry_the_sniffed_type_with_nosniff(plain, installation):
    html_named = _png() + b"<html><script>alert(1)</script></html>"
    for declared in ("image/png", "application/octet-stream", ""):
        media = _upload(plain, installation, "evil.html", html_named, declared)
        assert media.status_code == 201, media.text
        assert media.json()["contentType"] == "image/png"
        download = requests.get(media.json()["downloadUrl"], timeout=60)
        assert download.status_code == 200 and download.content == html_named
        assert download.headers["Content-Type"] == "image/png"
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert download.headers["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize("name,stored_type", [
    ("page.html", "text/html"), ("drawing.svg", "image/svg+xml"), ("feed.xml", "application/xml"),
    ("app.js", "text/javascript"), ("page.html", None), ("drawing.svg", None),
])
def test_active_content_is_an_attachment_of_neutral_type(plain, installation, name, stored_type):
    ext = installation.app.extensions["aladdin"]
    key = f"projects/{installation.project.slug}/media/active/{name}"
    ext.storage.put(key, b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>")
    from core.media import download_url

    url = download_url(installation.app, key, name, stored_type)
    download = requests.get(url.replace(url.split("/api/")[0], plain.url), timeout=60)
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Disposition"].startswith("attachment;")


def test_every_api_answer_says_nosniff(plain, installation):
    for path in ("/healthz", f"/api/v1/projects/{installation.pid}", "/api/v1/nowhere"):
        r = requests.get(plain.url + path, headers=_auth(installation, "owner"), timeout=60)
        assert r.headers["X-Content-Type-Options"] == "nosniff", path


# --- 3 and 4 over Socket.IO: identifiers, content keys in socket edits and Yjs commits --------


def test_socket_identifiers_follow_the_core_rules(plain, installation):
    from tests.e2e.realtime_support import Collab, close_all

    client = Collab(plain.url, installation.token("owner"))
    try:
        slug = installation.project.slug
        for bad in (slug + "\n", installation.pid + "\n", "a" * 24 + "\n"):
            ack = client.call("join", {"projectId": bad})
            assert ack.get("error") == "invalid", (bad, ack)
        assert client.call("join", {"projectId": slug})["ok"]
        doc_id = installation.create_doc()
        ack = client.call("content_change", {"projectId": slug, "collection": "scenes\n", "documentId": doc_id,
                                             "patch": {"content.title": "x"}, "baseVersion": 1})
        assert ack.get("error") == "invalid", ack
        ack = client.call("content_change", {"projectId": slug, "collection": "scenes",
                                             "documentId": doc_id + "\n", "patch": {"content.title": "x"},
                                             "baseVersion": 1})
        assert ack.get("error") == "invalid", ack
    finally:
        close_all([client])


@pytest.mark.parametrize("patch", [
    {"content.$where": "1"}, {"content.title": {"$gt": ""}}, {"content.title": {"a.b": 1}},
    {"content.title": "nul\x00"}, {"content": {"$set": 1}},
])
def test_socket_edits_refuse_operator_and_dotted_content_keys(plain, installation, patch):
    from tests.e2e.realtime_support import Collab, close_all

    client = Collab(plain.url, installation.token("owner"))
    try:
        assert client.call("join", {"projectId": installation.pid})["ok"]
        doc_id = installation.create_doc()
        ack = client.call("content_change", {"projectId": installation.pid, "collection": "scenes",
                                             "documentId": doc_id, "patch": patch, "baseVersion": 1})
        assert ack.get("error") == "invalid", ack
        assert "not allowed" in ack["message"] or "NUL" in ack["message"], ack
        assert installation.get_doc(doc_id)["version"] == 1
    finally:
        close_all([client])


def test_yjs_commits_refuse_operator_keys(plain, installation):
    from pycrdt import Map

    from tests.e2e.realtime_support import YClient, close_all

    doc_id = installation.create_doc()
    ref = {"projectId": installation.pid, "collection": "scenes", "documentId": doc_id}
    client = YClient(plain.url, installation.token("owner"), ref)
    try:
        assert client.call("join", {"projectId": installation.pid})["ok"]
        client.sync()
        client.edit(lambda doc: doc.get("content", type=Map).__setitem__("title", Map({"$ne": "x"})))
        ack = client.call("yjs_commit", {**ref, "baseVersion": 1})
        assert ack.get("error") == "invalid" and "'$ne'" in ack["message"], ack
        assert installation.get_doc(doc_id)["version"] == 1
    finally:
        close_all([client])


def test_serve_on_port_0_prints_and_records_the_port_it_chose(installation, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALADDIN_")}
    env.update({**installation.env, "ALADDIN_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"})
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "cli.py", "serve", "--no-worker", "--port", "0"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = served_url(proc, log)
        assert not url.endswith(":0")
        assert (tmp_path / "data" / "server-url").read_text().strip() == url
        # up: 200, or 503 "degraded" as no worker runs beside this server
        wait_for(lambda: requests.get(f"{url}/healthz", timeout=2).status_code in (200, 503),
                 message=lambda: f"the server to answer /healthz:\n{log.read_text()}", interval=0.2,
                 ignoring=(requests.ConnectionError,))
    finally:
        proc.terminate()
        proc.wait(20)
