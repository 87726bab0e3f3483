"""Pages on other origins: one setting (``ALADDIN_CORS_ORIGINS``) opens REST and Socket.IO alike,
preflights are answered before authentication, and the default lets no other origin in."""

from __future__ import annotations

import pytest
import socketio

from core.cors import parse_origins
from core.testing.actors import Actors
from core.testing.serving import served as served_app

STUDIO, ELSEWHERE = "https://studio.example", "https://elsewhere.example"


def preflight(client, url: str, origin: str, method: str = "PATCH"):
    return client.options(url, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                        "Access-Control-Request-Headers": "authorization, content-type, if-match"})


@pytest.fixture
def studio_app(make_app):
    return make_app(cors_origins=(STUDIO,))


def _scene_url(app) -> tuple[str, object]:
    actors = Actors(app)
    owner = actors.user("owner@studio.example")
    project = actors.project(owner, slug="cors-film")
    doc = actors.content(project, "scenes", {"content": {"title": "Dawn"}})
    return f"/api/v1/projects/{project.slug}/content/scenes/{doc['id']}", owner


def test_by_default_no_other_origin_may_call_the_api(app, client):
    url, owner = _scene_url(app)
    pre = preflight(client, url, ELSEWHERE)
    assert pre.status_code == 200 and "Access-Control-Allow-Origin" not in pre.headers
    got = client.get(url, headers={**owner.headers, "Origin": ELSEWHERE})
    assert got.status_code == 200 and "Access-Control-Allow-Origin" not in got.headers


def test_an_allowed_origin_gets_its_preflight_without_credentials_and_reads_answers(studio_app):
    client = studio_app.test_client()
    url, owner = _scene_url(studio_app)
    pre = preflight(client, url, STUDIO)  # no Authorization: browsers never send it on a preflight
    assert pre.status_code == 200, pre.get_data(as_text=True)
    assert pre.headers["Access-Control-Allow-Origin"] == STUDIO
    allowed = {h.strip().lower() for h in pre.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "if-match"} <= allowed
    assert "PATCH" in pre.headers["Access-Control-Allow-Methods"] and pre.headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in pre.headers  # bearer tokens, never cookies

    got = client.get(url, headers={**owner.headers, "Origin": STUDIO})
    assert got.status_code == 200 and got.headers["Access-Control-Allow-Origin"] == STUDIO
    assert "etag" in got.headers["Access-Control-Expose-Headers"].lower()  # a page can send If-Match
    # Errors carry the headers too, so the page can tell a 401 from a network failure.
    refused = client.get(url, headers={"Origin": STUDIO})
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == STUDIO
    # The setting names origins exactly: another one gets nothing.
    other = preflight(client, url, ELSEWHERE)
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Access-Control-Allow-Origin" not in client.get(url, headers={**owner.headers, "Origin": ELSEWHERE}).headers


def test_the_setting_is_checked_and_loopback_and_any_are_spelled_out():
    assert parse_origins(" https://Studio.example:8443 , loopback,") == ("https://studio.example:8443", "loopback")
    assert parse_origins("") == ()
    for wrong in ("https://studio.example/", "studio.example", "https://studio.example/app", "ftp://x.example"):
        with pytest.raises(ValueError, match="is not an origin"):
            parse_origins(wrong)


def test_a_bad_setting_stops_the_command_with_one_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {"PATH": "/usr/bin:/bin", "ALADDIN_DATA_DIR": str(tmp_path / "data"),
           "ALADDIN_CORS_ORIGINS": "https://studio.example/"}
    done = subprocess.run([sys.executable, str(root / "cli.py"), "plugins", "list"], env=env, capture_output=True,
                          text=True, timeout=120, cwd=root)
    assert done.returncode != 0
    assert "ALADDIN_CORS_ORIGINS: 'https://studio.example/' is not an origin" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def served(make_app):
    """A real server for ``STUDIO`` (Socket.IO checks origins on its HTTP handshake)."""
    app = make_app(cors_origins=(STUDIO,))
    with served_app(app) as url:
        yield app, url


def _connects(url: str, token: str, origin: str | None) -> bool:
    client = socketio.Client(reconnection=False)
    headers = {"Origin": origin} if origin else {}
    try:
        client.connect(url, namespaces=["/collab"], auth={"token": token}, headers=headers,
                       transports=["polling"], wait_timeout=60)
    except socketio.exceptions.ConnectionError:
        return False
    client.disconnect()
    return True


def test_sockets_follow_the_same_setting(served):
    app, url = served
    owner = Actors(app).user("socket@studio.example")
    assert _connects(url, owner.token, STUDIO)
    assert _connects(url, owner.token, url)        # the server's own pages
    assert _connects(url, owner.token, None)       # not a browser: no Origin header
    assert not _connects(url, owner.token, ELSEWHERE)
