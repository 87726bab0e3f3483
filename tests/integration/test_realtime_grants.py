"""A socket's Yjs frames are authorized once per socket and document version, not once per
keystroke (``Realtime.grants``), and a change of role still reaches the very next frames."""

from __future__ import annotations

import time

import pytest
from pycrdt import Map

from core.testing.actors import Actors
from core.testing.serving import served
from tests.e2e.realtime_support import YClient
from tests.waiting import wait_for

from plugins.realtime.audience import TTL


@pytest.fixture
def live(make_app):
    """A served app, an editor's synced Yjs client on a scene, and a count of write decisions."""
    app = make_app()
    actors = Actors(app)
    owner, editor = actors.user("owner@grants.example"), actors.user("editor@grants.example")
    project = actors.project(owner, "Grants Film", "grants-film")
    actors.member(project, editor, "editor")
    scene = str(actors.content(project, "scenes", {"content": {"title": "x"}}, owner)["_id"])
    content = app.extensions["aladdin"].content
    decisions = []
    may_write = content.may_write

    def counted(*args, **kwargs):
        decisions.append(time.monotonic())
        return may_write(*args, **kwargs)

    content.may_write = counted
    with served(app) as url:
        client = YClient(url, editor.token, {"projectId": str(project.id), "collection": "scenes",
                                             "documentId": scene})
        try:
            assert client.call("join", {"projectId": str(project.id)})["ok"]
            client.sync()
            yield app, project, owner, editor, client, decisions
        finally:
            client.close()


def type_(client, n: int) -> None:
    for i in range(n):
        ack = client.edit(lambda doc: doc.get("content", type=Map).get("title").insert(0, "a"))
        assert ack == {"ok": True}, ack


def test_typing_is_authorized_once_per_document_version(live):
    _app, _project, _owner, _editor, client, decisions = live
    started, before = time.monotonic(), len(decisions)
    type_(client, 40)
    elapsed = time.monotonic() - started
    # One decision per grant lifetime at most (a slow machine may outlive one), never one per frame.
    assert len(decisions) - before <= 1 + int(elapsed / TTL) + 1 < 40
    assert str(client.doc.get("content", type=Map).get("title")).startswith("a" * 40)


def test_a_role_change_reaches_the_next_frames(live):
    app, project, owner, editor, client, _decisions = live
    app.extensions["realtime"].grants.ttl = 3600  # only the role change can make it decide again
    type_(client, 3)
    from core.projects import set_role

    with app.app_context():
        set_role(app, project, str(editor.id), "viewer", owner)

    def refused():
        ack = client.edit(lambda doc: doc.get("content", type=Map).get("title").insert(0, "b"))
        return ack if ack != {"ok": True} else None

    ack = wait_for(refused, message="the viewer's frames to be refused", interval=0.05)
    assert ack["error"] == "forbidden" and ack.get("resync") is True
