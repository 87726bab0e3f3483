"""People sign in: passwords (argon2), sessions of an access and a refresh token, logout that
drops sockets, lockout and rate limits, password resets through the outbox, and an invitation
link a new person opens in a browser to sign up and join in one step."""

from __future__ import annotations

import threading

import pytest
import socketio

from core.models import ApiToken, User
from core.testing.serving import served as served_app
from plugins.team.models import Invitation, OutboxMessage
from tests.waiting import wait_for

PASSWORD = "correct horse battery"


@pytest.fixture
def person(actors, cli_runner):
    """A user with a password, set the operator's way."""
    user = actors.user("pat@example.com", "Pat")
    done = cli_runner.invoke(["users", "set-password", "pat@example.com", "--password", "-"], input=PASSWORD + "\n")
    assert done.exit_code == 0, done.output
    assert "password set for pat@example.com" in done.output
    return user


def login(client, email="pat@example.com", password=PASSWORD):
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_person_signs_in_and_the_session_works_like_a_token(client, person, team):
    signed = login(client, "  PAT@example.com ")
    assert signed.status_code == 200, signed.json
    body = signed.json
    assert body["tokenType"] == "Bearer" and body["expiresIn"] == 900
    assert body["accessToken"].startswith("ald_") and body["refreshToken"].startswith("alr_")
    assert body["user"] == {**person.to_json()} and "passwordHash" not in body["user"]
    me = client.get("/api/v1/auth/me", headers=bearer(body["accessToken"]))
    assert me.status_code == 200 and me.json["email"] == "pat@example.com"
    # The stored hash is argon2id, never the password.
    stored = User.objects(id=person.id).first().passwordHash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_wrong_passwords_and_unknown_addresses_get_one_answer(client, person):
    wrong = login(client, password="not the password")
    unknown = login(client, email="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json["message"] == unknown.json["message"] == "wrong email or password"
    assert login(client, password="").status_code == 401
    assert client.post("/api/v1/auth/login", json={"email": "pat@example.com"}).status_code == 422
    # An account without a password (API tokens only) cannot be signed into.
    assert login(client, email="owner@example.com").status_code == 401


def test_an_account_locks_after_repeated_failures_and_a_new_password_unlocks_it(make_app, cli_runner):
    app = make_app(LOGIN_MAX_FAILURES=3, LOGIN_LOCKOUT_SECONDS=600)
    client = app.test_client()
    from core.testing.actors import Actors
    from core.sessions import set_password

    user = Actors(app).user("lock@example.com")
    with app.app_context():
        set_password(user, PASSWORD)
    for _ in range(3):
        assert login(client, "lock@example.com", "guess guess guess").status_code == 401
    locked = login(client, "lock@example.com", PASSWORD)  # even the right password, while locked
    assert locked.status_code == 429 and "too many failed sign-ins" in locked.json["message"]
    assert 0 < int(locked.headers["Retry-After"]) <= 600
    with app.app_context():
        set_password(user, "another good password")  # what a reset does
    assert login(client, "lock@example.com", "another good password").status_code == 200


def test_sign_in_attempts_are_limited_per_client_address(make_app):
    app = make_app(LOGIN_RATE_LIMIT="4/minute")
    client = app.test_client()
    answers = [login(client, f"someone{i}@example.com", "whatever it is").status_code for i in range(5)]
    assert answers == [401, 401, 401, 401, 429]


def test_an_access_token_expires_and_the_refresh_token_is_used_once(make_app):
    app = make_app(ACCESS_TOKEN_TTL=1)
    client = app.test_client()
    from core.sessions import set_password
    from core.testing.actors import Actors

    user = Actors(app).user("short@example.com")
    with app.app_context():
        set_password(user, PASSWORD)
    first = login(client, "short@example.com").json
    assert client.get("/api/v1/auth/me", headers=bearer(first["accessToken"])).status_code == 200
    wait_for(lambda: client.get("/api/v1/auth/me", headers=bearer(first["accessToken"])).status_code == 401,
             message="the one-second access token to expire")
    second = client.post("/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert second.status_code == 200 and second.json["sessionId"] == first["sessionId"]
    assert second.json["refreshToken"] != first["refreshToken"]
    assert client.get("/api/v1/auth/me", headers=bearer(second.json["accessToken"])).status_code == 200
    # The used refresh token again: someone copied it, so the whole session ends.
    replay = client.post("/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert replay.status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(second.json["accessToken"])).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refreshToken": second.json["refreshToken"]}).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refreshToken": "alr_made_up"}).status_code == 401


def test_logout_ends_this_session_only_and_api_tokens_stay(client, person):
    one, two = login(client).json, login(client).json
    assert client.post("/api/v1/auth/logout", json={}, headers=bearer(one["accessToken"])).status_code == 204
    assert client.get("/api/v1/auth/me", headers=bearer(one["accessToken"])).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refreshToken": one["refreshToken"]}).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(two["accessToken"])).status_code == 200
    # An API token is not a session: it is revoked by the operator's command, not by logout.
    refused = client.post("/api/v1/auth/logout", json={}, headers=person.headers)
    assert refused.status_code == 400 and "revoke-tokens" in refused.json["message"]
    assert client.post("/api/v1/auth/logout", json={"everywhere": True},
                       headers=bearer(two["accessToken"])).status_code == 204
    assert client.get("/api/v1/auth/me", headers=bearer(two["accessToken"])).status_code == 401
    assert client.get("/api/v1/auth/me", headers=person.headers).status_code == 200


def test_changing_the_password_ends_the_other_sessions(client, person):
    old = login(client).json
    wrong = client.post("/api/v1/auth/password", json={"currentPassword": "nope nope nope", "newPassword": "x" * 12},
                        headers=bearer(old["accessToken"]))
    assert wrong.status_code == 403
    weak = client.post("/api/v1/auth/password", json={"currentPassword": PASSWORD, "newPassword": "short"},
                       headers=bearer(old["accessToken"]))
    assert weak.status_code == 422 and "10 to 1024 characters" in weak.json["message"]
    changed = client.post("/api/v1/auth/password", json={"currentPassword": PASSWORD, "newPassword": "a new passphrase"},
                          headers=bearer(old["accessToken"]))
    assert changed.status_code == 200
    assert client.get("/api/v1/auth/me", headers=bearer(old["accessToken"])).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(changed.json["accessToken"])).status_code == 200
    assert login(client).status_code == 401 and login(client, password="a new passphrase").status_code == 200


def test_a_password_reset_goes_through_the_outbox_and_works_once(client, person):
    before = login(client).json
    assert client.post("/api/v1/auth/password-reset", json={"email": "nobody@example.com"}).status_code == 202
    assert OutboxMessage.objects(kind="password_reset").count() == 0  # nothing tells who has an account
    assert client.post("/api/v1/auth/password-reset", json={"email": "Pat@Example.com"}).status_code == 202
    message = OutboxMessage.objects(kind="password_reset").first()
    assert message.to == "pat@example.com" and "/reset-password#alp_" in message.body
    token = message.body.split("/reset-password#")[1].split()[0]
    page = client.get("/reset-password")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    weak = client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": "short"})
    assert weak.status_code == 422  # the link is not spent by a refused password
    done = client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": "reset passphrase"})
    assert done.status_code == 200 and done.json["user"]["email"] == "pat@example.com"
    assert client.get("/api/v1/auth/me", headers=bearer(before["accessToken"])).status_code == 401
    again = client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": "another passphrase"})
    assert again.status_code == 400
    assert login(client, password="reset passphrase").status_code == 200 and login(client).status_code == 401


@pytest.fixture
def served(app):
    with served_app(app) as url:
        yield url


def test_logout_disconnects_the_sessions_sockets_at_once(client, person, team, served, actors):
    actors.member(team["project"], person, "viewer")
    session = login(client).json
    gone = threading.Event()
    sio = socketio.Client(reconnection=False)
    sio.on("disconnect", lambda *args: gone.set(), namespace="/collab")
    sio.connect(served, namespaces=["/collab"], auth={"token": session["accessToken"]}, transports=["websocket"],
                wait_timeout=60)
    try:
        joined = sio.call("join", {"projectId": team["project"].slug}, namespace="/collab", timeout=60)
        assert joined.get("ok"), joined
        assert client.post("/api/v1/auth/logout", json={}, headers=bearer(session["accessToken"])).status_code == 204
        assert gone.wait(60), "the socket of the ended session is still connected"
    finally:
        sio.disconnect()


def invite(client, team, email, role="editor"):
    answer = client.post(f"/api/v1/projects/{team['project'].slug}/team/invitations",
                         json={"email": email, "role": role}, headers=team["owner"].headers)
    assert answer.status_code == 201, answer.json
    return answer.json


def test_an_invited_person_signs_up_and_joins_in_one_step(client, team):
    invitation = invite(client, team, "newcomer@example.com")
    link = invitation["acceptUrl"].split("://", 1)[1].split("/", 1)[1]
    page = client.get("/" + link, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200 and page.mimetype == "text/html" and "Create my account and join" in page.text
    info = client.get("/" + link, headers={"Accept": "application/json"})
    assert info.status_code == 200
    assert info.json == {"email": "newcomer@example.com", "role": "editor", "status": "pending",
                         "expiresAt": invitation["expiresAt"], "projectName": "Team Film", "accountExists": False}
    signup = f"/api/v1/invitations/{invitation['token']}/signup"
    weak = client.post(signup, json={"name": "Nia", "password": "short"})
    assert weak.status_code == 422 and User.by_email("newcomer@example.com") is None  # nothing half-made
    joined = client.post(signup, json={"name": "Nia", "password": "a long passphrase"})
    assert joined.status_code == 201, joined.json
    body = joined.json
    assert body["member"]["role"] == "editor" and body["project"]["slug"] == team["project"].slug
    assert body["session"]["user"]["email"] == "newcomer@example.com" and body["session"]["user"]["name"] == "Nia"
    scenes = client.get(f"/api/v1/projects/{team['project'].slug}/content/scenes",
                        headers=bearer(body["session"]["accessToken"]))
    assert scenes.status_code == 200
    again = client.post(signup, json={"name": "Nia", "password": "a long passphrase"})
    assert again.status_code == 409
    assert login(client, "newcomer@example.com", "a long passphrase").status_code == 200
    assert ApiToken.objects(userId=body["session"]["user"]["id"], sessionId=None).count() == 0  # no API token made


def test_an_invited_person_with_an_account_signs_in_and_accepts(client, team, actors):
    from core.sessions import set_password

    existing = actors.user("regular@example.com", "Reg")
    set_password(existing, PASSWORD)
    invitation = invite(client, team, "regular@example.com", "viewer")
    info = client.get(f"/api/v1/invitations/{invitation['token']}/accept")
    assert info.json["accountExists"] is True
    refused = client.post(f"/api/v1/invitations/{invitation['token']}/signup",
                          json={"name": "Someone Else", "password": "a long passphrase"})
    assert refused.status_code == 409 and "sign in" in refused.json["message"]
    assert Invitation.objects(id=invitation["id"]).first().status == "pending"
    session = login(client, "regular@example.com").json
    accepted = client.post(f"/api/v1/invitations/{invitation['token']}/accept", headers=bearer(session["accessToken"]))
    assert accepted.status_code == 200 and accepted.json["member"]["role"] == "viewer"
    assert client.get("/api/v1/invitations/inv_unknown/accept").status_code == 404


def test_a_plugin_can_deliver_the_reset_mail_itself(make_app):
    from core.hookspecs import hookimpl
    from core.sessions import set_password
    from core.testing.actors import Actors

    class Postman:
        sent: list = []

        @hookimpl(tryfirst=True)
        def aladdin_send_mail(self, to, subject, body, kind):
            self.sent.append((to, subject, kind, body))
            return True

    postman = Postman()
    app = make_app(plugins=(postman,))
    user = Actors(app).user("mailme@example.com")
    with app.app_context():
        set_password(user, PASSWORD)
    assert app.test_client().post("/api/v1/auth/password-reset", json={"email": "mailme@example.com"}).status_code == 202
    [(to, subject, kind, body)] = postman.sent
    assert (to, subject, kind) == ("mailme@example.com", "Reset your Aladdin password", "password_reset")
    assert "/reset-password#alp_" in body
    with app.app_context():
        assert OutboxMessage.objects(kind="password_reset").count() == 0  # the first deliverer wins
