"""A plain-WebSocket handshake goes to its endpoint ahead of Flask's request context
(``plugins/realtime/ywebsocket/ahead.py``): behind trusted proxies it sees the request as every
other request does, and what it refuses is answered by Flask as REST answers it."""

from __future__ import annotations

import requests
from flask import request

from core.testing.serving import UPGRADE, served, upgrade_answer


def test_a_handshake_behind_a_trusted_proxy_is_judged_by_the_forwarded_origin(make_app):
    app = make_app(trusted_proxies=1)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "studio.example", "X-Forwarded-For": "203.0.113.9"}
    with served(app) as url:
        where = f"{url}/collab/yjs/{'0' * 24}/scenes/{'1' * 24}"
        # The page's own origin, as the proxy forwards it: allowed, then refused for its missing token.
        answer = requests.get(where, headers={**UPGRADE, **forwarded, "Origin": "https://studio.example"}, timeout=30)
        assert answer.status_code == 401 and answer.json()["code"] == 401
        assert answer.headers["X-Content-Type-Options"] == "nosniff"  # answered as every request is
        # Without the forwarded host, that origin is another one: refused as such.
        answer = requests.get(where, headers={**UPGRADE, "Origin": "https://studio.example"}, timeout=30)
        assert answer.status_code == 403 and "origin" in answer.json()["message"]


def test_a_handshake_is_served_without_a_flask_request(app, actors, team):
    scene = actors.content(team["project"], "scenes", {"content": {"title": "Opening"}})
    through_flask: list = []
    app.before_request_funcs.setdefault(None, []).append(lambda: through_flask.append(request.path))
    with served(app) as url:
        path = f"/collab/yjs/{team['project'].id}/scenes/{scene['id']}?token={team['editor'].token}"
        assert upgrade_answer(url, path).startswith(b"HTTP/1.1 101 ")
        assert requests.get(f"{url}/healthz", timeout=30).status_code in (200, 503)  # Flask still answers the rest
    assert through_flask and not [p for p in through_flask if p.startswith("/collab/yjs/")]
