"""Team plugin over HTTP: the invitation flow with real tokens, two app instances sharing Redis,
every failure answer, rate limits and delivery (outbox, a real local SMTP server, a plugin)."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import datetime as dt
import hashlib
import socket

import pytest

from core.app import create_app
from core.hookspecs import hookimpl
from core.models import Membership, utcnow
from plugins.team.models import Invitation, OutboxMessage
from tests.conftest import make_settings


def invite(client, pid, user, email, role="viewer"):
    return client.post(f"/api/v1/projects/{pid}/team/invitations", json={"email": email, "role": role},
                       headers=user.headers)


def accept(client, token, user):
    return client.post(f"/api/v1/invitations/{token}/accept", headers=user.headers)


@pytest.fixture
def app_b(settings):
    """A second app instance of the same installation: same database URI and the same Redis."""
    other = create_app(dataclasses.replace(settings, extra=dict(settings.extra)), load_entry_points=False)
    other.testing = True
    yield other
    other.extensions["aladdin"].db.close()


def test_whole_flow_across_two_app_instances(app, app_b, client, team, actors):
    pid, owner = team["project"].slug, team["owner"]
    client_b = app_b.test_client()
    newbie = actors.user("Newbie@Example.com")
    posts = f"/api/v1/projects/{pid}/content/characters"

    r = invite(client, pid, owner, "newbie@example.COM", "viewer")
    assert r.status_code == 201, r.json
    body = r.json
    assert body["status"] == "pending" and body["email"] == "newbie@example.com" and body["role"] == "viewer"
    assert body["id"] and body["token"].startswith("inv_")
    # No serve, no ALADDIN_PUBLIC_URL: the default server URL, never the request host ("localhost").
    assert body["acceptUrl"] == f"http://127.0.0.1:5000/api/v1/invitations/{body['token']}/accept"
    expires = dt.datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00")).replace(tzinfo=None)
    assert dt.timedelta(days=6, hours=23) < expires - utcnow() <= dt.timedelta(days=7)
    # The token is stored only as its hash, and shown only in the answer above.
    raw = app.extensions["aladdin"].db.platform()["invitations"].find_one({})
    assert raw["tokenHash"] == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"] not in str(raw)
    listed = client.get(f"/api/v1/projects/{pid}/team/invitations", headers=owner.headers).json
    assert [i["id"] for i in listed["items"]] == [body["id"]] and "token" not in listed["items"][0]

    # Not a member yet, in either instance (app B caches that "no role" answer in Redis).
    assert client_b.get(f"/api/v1/projects/{pid}", headers=newbie.headers).status_code == 404
    assert client.get(f"/api/v1/projects/{pid}", headers=newbie.headers).status_code == 404

    ok = accept(client, body["token"], newbie)
    assert ok.status_code == 200, ok.json
    assert ok.json["member"]["role"] == "viewer" and ok.json["project"]["slug"] == pid
    assert ok.json["invitation"]["status"] == "accepted"
    # The role applies at once, also in app B.
    got = client_b.get(f"/api/v1/projects/{pid}", headers=newbie.headers)
    assert got.status_code == 200 and got.json["role"] == "viewer"
    assert client_b.post(posts, json={"content": {"name": "A"}}, headers=newbie.headers).status_code == 403

    # A role change through app A takes effect on the very next request in app B.
    r = client.patch(f"/api/v1/projects/{pid}/team/{newbie.id}", json={"role": "editor"}, headers=owner.headers)
    assert r.status_code == 200 and r.json["role"] == "editor"
    assert client_b.post(posts, json={"content": {"name": "A"}}, headers=newbie.headers).status_code == 201
    r = client_b.patch(f"/api/v1/projects/{pid}/team/{newbie.id}", json={"role": "viewer"}, headers=owner.headers)
    assert r.status_code == 200
    assert client.post(posts, json={"content": {"name": "B"}}, headers=newbie.headers).status_code == 403

    # Removal (through app B): the removed user learns nothing about the project any more.
    assert client_b.delete(f"/api/v1/projects/{pid}/team/{newbie.id}", headers=owner.headers).status_code == 204
    assert client.get(f"/api/v1/projects/{pid}", headers=newbie.headers).status_code == 404
    assert client_b.get(f"/api/v1/projects/{pid}", headers=newbie.headers).status_code == 404
    assert client.get(posts, headers=newbie.headers).status_code == 404


def test_roles_really_come_from_the_cache(app, app_b, client, team):
    """A write that bypasses the member events is invisible while cached: the cache, not the
    membership collection, answered; the TTL bounds how long that can last."""
    pid, viewer = team["project"].slug, team["viewer"]
    client_b = app_b.test_client()
    assert client_b.get(f"/api/v1/projects/{pid}", headers=viewer.headers).json["role"] == "viewer"
    Membership.objects(projectId=str(team["project"].id), userId=str(viewer.id)).update(set__role="editor")
    assert client_b.get(f"/api/v1/projects/{pid}", headers=viewer.headers).json["role"] == "viewer"
    redis = app.extensions["aladdin"].jobs.redis
    keys = redis.keys(f"aladdin:{app.extensions['aladdin'].settings.platform_db}:team:roles:{team['project'].id}:*")
    assert keys and all(0 < redis.ttl(k) <= 300 for k in keys)


def test_invite_permissions_and_validation(client, team):
    pid = team["project"].slug
    assert invite(client, pid, team["editor"], "a@example.com").status_code == 403
    assert invite(client, pid, team["collaborator"], "a@example.com").status_code == 403
    assert invite(client, pid, team["viewer"], "a@example.com").status_code == 403
    assert invite(client, pid, team["outsider"], "a@example.com").status_code == 404
    for role in ("owner", "admin", ""):
        r = invite(client, pid, team["owner"], "a@example.com", role)
        assert r.status_code == 422 and "owner is reached only through transfer" in str(r.json), r.json
    assert invite(client, pid, team["owner"], "not-an-email").status_code == 422
    assert client.post(f"/api/v1/projects/{pid}/team/invitations", json={"email": "a@example.com"},
                       headers=team["owner"].headers).status_code == 422
    # An existing member (any case of its email) cannot be invited again.
    r = invite(client, pid, team["owner"], "EDITOR@example.com")
    assert r.status_code == 409 and "already a member" in r.json["message"]
    assert invite(client, pid, team["owner"], "a@example.com").status_code == 201
    dup = invite(client, pid, team["owner"], "A@example.com", "editor")
    assert dup.status_code == 409 and dup.json["invitationId"]
    assert Invitation.objects(projectId=str(team["project"].id)).count() == 1


def test_accept_failures_answer_clear_4xx(app, client, team, actors):
    pid, owner = team["project"].slug, team["owner"]
    bob = actors.user("bob@example.com")
    mallory = actors.user("mallory@example.com")
    token = invite(client, pid, owner, "bob@example.com").json["token"]

    # Unknown, forged and malformed tokens.
    for bad in ("inv_" + "A" * 43, token[:-1] + ("A" if token[-1] != "A" else "B"), "nonsense", token.upper()):
        r = accept(client, bad, bob)
        assert r.status_code == 404 and r.json["reason"] == "unknown", (bad, r.json)
    assert client.post(f"/api/v1/invitations/{token}/accept").status_code == 401
    # The wrong person: refused, and the invitation stays usable for the right one.
    r = accept(client, token, mallory)
    assert r.status_code == 403 and r.json["reason"] == "email_mismatch"
    assert accept(client, token, bob).status_code == 200
    # Replayed (already used), by the same user or anyone else.
    for user in (bob, mallory):
        r = accept(client, token, user)
        assert r.status_code == 409 and r.json["reason"] == "used"

    # Expired → 410.
    carol = actors.user("carol@example.com")
    expired = invite(client, pid, owner, "carol@example.com").json
    Invitation.objects(id=expired["id"]).update(set__expiresAt=utcnow() - dt.timedelta(seconds=1))
    r = accept(client, expired["token"], carol)
    assert r.status_code == 410 and r.json["reason"] == "expired"
    assert client.get(f"/api/v1/projects/{pid}", headers=carol.headers).status_code == 404
    listed = client.get(f"/api/v1/projects/{pid}/team/invitations?status=expired", headers=owner.headers).json
    assert [i["status"] for i in listed["items"]] == ["expired"]

    # Revoked → 410; revoking twice → 409; an unknown invitation → 404.
    dave = actors.user("dave@example.com")
    inv = invite(client, pid, owner, "dave@example.com").json
    base = f"/api/v1/projects/{pid}/team/invitations"
    assert client.delete(f"{base}/{inv['id']}", headers=team["editor"].headers).status_code == 403
    assert client.delete(f"{base}/{inv['id']}", headers=team["outsider"].headers).status_code == 404
    revoked = client.delete(f"{base}/{inv['id']}", headers=owner.headers)
    assert revoked.status_code == 200 and revoked.json["status"] == "revoked"
    assert client.delete(f"{base}/{inv['id']}", headers=owner.headers).status_code == 409
    assert client.delete(f"{base}/{'0' * 24}", headers=owner.headers).status_code == 404
    assert client.delete(f"{base}/bogus", headers=owner.headers).status_code == 404
    r = accept(client, inv["token"], dave)
    assert r.status_code == 410 and r.json["reason"] == "revoked"
    assert client.get(f"/api/v1/projects/{pid}", headers=dave.headers).status_code == 404

    # Someone who became a member another way: 409, and nothing is consumed.
    erin = actors.user("erin@example.com")
    pending = invite(client, pid, owner, "erin@example.com").json
    from core.projects import add_member

    add_member(app, team["project"], erin, "viewer", owner)
    r = accept(client, pending["token"], erin)
    assert r.status_code == 409 and r.json["reason"] == "member"
    assert Invitation.objects(id=pending["id"]).first().status == "pending"
    assert Membership.objects(projectId=str(team["project"].id), userId=str(erin.id)).first().role == "viewer"


def test_accept_after_project_deleted_is_gone(client, team, actors):
    pid, owner = team["project"].slug, team["owner"]
    frank = actors.user("frank@example.com")
    token = invite(client, pid, owner, "frank@example.com").json["token"]
    assert client.delete(f"/api/v1/projects/{pid}", headers=owner.headers).status_code == 204
    r = accept(client, token, frank)
    assert r.status_code == 410 and r.json["reason"] == "project_deleted"


def test_twenty_first_invitation_within_the_hour_is_429(client, team, actors):
    pid, owner = team["project"].slug, team["owner"]
    for n in range(20):
        assert invite(client, pid, owner, f"guest{n}@example.com").status_code == 201, n
    r = invite(client, pid, owner, "guest20@example.com")
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0 and r.json["code"] == 429
    assert Invitation.objects(projectId=str(team["project"].id)).count() == 20
    # The limit is per project, and outsiders cannot spend (or probe) it.
    other = client.post("/api/v1/projects", json={"name": "Other", "slug": "other-film"}, headers=owner.headers)
    assert invite(client, other.json["slug"], owner, "guest20@example.com").status_code == 201
    assert invite(client, pid, team["outsider"], "x@example.com").status_code == 404


def test_invitation_limit_is_configurable(tmp_path, redis_server, actors):
    app = create_app(make_settings(tmp_path, redis_server, INVITATION_RATE_LIMIT="2/hour",
                                   INVITATION_TTL_DAYS="1.5"), load_entry_points=False)
    app.testing = True
    try:
        with app.app_context():
            from core.projects import create_project
            from tests.conftest import Actors

            owner = Actors(app).user("boss@example.com")
            create_project(app, owner, "Small", "small-film")
            client = app.test_client()
            first = invite(client, "small-film", owner, "g1@example.com").json
            expires = dt.datetime.fromisoformat(first["expiresAt"].replace("Z", "+00:00")).replace(tzinfo=None)
            assert dt.timedelta(hours=35) < expires - utcnow() <= dt.timedelta(hours=36)
            assert invite(client, "small-film", owner, "g2@example.com").status_code == 201
            assert invite(client, "small-film", owner, "g3@example.com").status_code == 429
    finally:
        app.extensions["aladdin"].db.close()


def test_default_delivery_records_an_encrypted_outbox_message(app, client, team):
    body = invite(client, team["project"].slug, team["owner"], "gina@example.com", "collaborator").json
    assert body["delivery"] == {"delivered": True, "channel": "outbox", "messageId": body["delivery"]["messageId"]}
    message = OutboxMessage.objects(invitationId=body["id"]).get()
    assert message.to == "gina@example.com" and message.acceptUrl == body["acceptUrl"]
    assert "Team Film" in message.subject and body["acceptUrl"] in message.body and "collaborator" in message.body
    raw = app.extensions["aladdin"].db.platform()["outbox"].find_one({"invitationId": body["id"]})
    assert body["token"] not in str(raw) and raw["body"].startswith("enc:v1:")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_smtp_delivery_to_a_local_server(tmp_path, redis_server):
    from aiosmtpd.controller import Controller

    class Collect:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode()))
            return "250 OK"

    handler = Collect()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    app = create_app(make_settings(tmp_path, redis_server, SMTP_URL=f"smtp://127.0.0.1:{port}",
                                   SMTP_FROM="team@aladdin.test", public_url="https://cms.example.org"),
                     load_entry_points=False)
    app.testing = True
    try:
        with app.app_context():
            from core.projects import create_project
            from tests.conftest import Actors

            owner = Actors(app).user("boss@example.com")
            create_project(app, owner, "Mail Film", "mail-film")
            client = app.test_client()
            body = invite(client, "mail-film", owner, "hank@example.com", "editor").json
            assert body["delivery"]["delivered"] is True and body["delivery"]["channel"] == "smtp"
            assert body["acceptUrl"].startswith("https://cms.example.org/api/v1/invitations/inv_")
            assert len(handler.messages) == 1
            sender, rcpts, text = handler.messages[0]
            assert sender == "team@aladdin.test" and rcpts == ["hank@example.com"]
            mail = email.message_from_string(text, policy=email.policy.default)
            assert mail["Subject"] == "You are invited to join Mail Film on Aladdin"
            assert body["acceptUrl"] in mail.get_content() and body["token"] in mail.get_content()
            assert OutboxMessage.objects(invitationId=body["id"]).get().status == "sent"
            controller.stop()
            # The server is gone: the invitation is still made, the failure is reported and kept.
            failed = invite(client, "mail-film", owner, "ivy@example.com", "viewer")
            assert failed.status_code == 201 and failed.json["delivery"]["delivered"] is False
            assert "error" in failed.json["delivery"]
            assert OutboxMessage.objects(invitationId=failed.json["id"]).get().status == "failed"
            assert Invitation.objects(id=failed.json["id"]).get().status == "pending"
    finally:
        app.extensions["aladdin"].db.close()
        if controller._thread is not None:
            controller.stop()


def test_a_delivery_plugin_takes_over(tmp_path, redis_server):
    sent = []

    class Courier:
        @hookimpl
        def aladdin_send_invitation(self, app, invitation, accept_url):
            sent.append((invitation["email"], invitation["projectName"], accept_url))
            return {"delivered": True, "channel": "courier"}

    app = create_app(make_settings(tmp_path, redis_server), plugins=(Courier(),), load_entry_points=False)
    app.testing = True
    try:
        with app.app_context():
            from core.projects import create_project
            from tests.conftest import Actors

            owner = Actors(app).user("boss@example.com")
            create_project(app, owner, "Courier Film", "courier-film")
            body = invite(app.test_client(), "courier-film", owner, "jo@example.com").json
            assert body["delivery"] == {"delivered": True, "channel": "courier"}
            assert sent == [("jo@example.com", "Courier Film", body["acceptUrl"])]
            assert OutboxMessage.objects.count() == 0
    finally:
        app.extensions["aladdin"].db.close()
