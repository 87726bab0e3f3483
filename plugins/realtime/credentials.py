"""A socket's credentials as they are now: re-checked on every event and whenever they change.

A socket keeps the token it connected with. Every event re-runs the authentication hook chain on
it (the default token check answers from the near cache, so this costs a dictionary lookup), and
when a user's tokens or account change (the core's ``user.credentials_changed`` event, relayed to
every server process over the realtime bus) each of that user's sockets is checked at once: one
whose token no longer authenticates as its user is disconnected."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from core.errors import AuthenticationFailed

from .emitter import NAMESPACE, emit_to

log = logging.getLogger("aladdin.realtime")

CREDENTIALS_CHANGED = "user.credentials_changed"
REVOKED_MESSAGE = "your API token was revoked or your account no longer exists"


class HandshakeRequest:
    """What the auth hook chain reads from a request, built from the socket's ``auth`` token."""

    def __init__(self, token: str, remote_addr: str | None = None):
        self.headers = {"Authorization": f"Bearer {token}"}
        self.args: dict = {}
        self.cookies: dict = {}
        self.path = "/socket.io/"
        self.method = "GET"
        self.remote_addr = remote_addr


def authenticate(app, token: str, remote_addr: str | None = None) -> Any:
    """The user ``token`` authenticates as now, or None (a refusal is None too)."""
    try:
        return app.extensions["aladdin"].pm.hook.aladdin_authenticate(
            app=app, request=HandshakeRequest(token, remote_addr))
    except AuthenticationFailed:
        return None


def current_user(app, session) -> Any:
    """The session's user as the credentials stand now, or None when they no longer hold
    (token revoked, user deleted, or the token now names somebody else)."""
    user = authenticate(app, session.token, session.remote_addr)
    if user is None or str(user.id) != session.user_id:
        return None
    if user is not session.user:  # a changed user (say, renamed): stamp the current name
        session.user, session.user_name = user, user.name or user.email
    return user


def drop(rt, session, *, delay: float = 0.0) -> None:
    """Revoked: the socket stops receiving and sending at once (its session, rooms, presence
    and open documents go now), is told why, and its connection is closed -- after ``delay``
    when called from the socket's own handler, so its error ack goes out first."""
    sid = session.sid
    rt.disconnect(sid, at_once=True)
    server = rt.socketio.server
    try:
        # This process's socket: delivered directly (not through the queue), so ahead of the close.
        emit_to(server, "access_revoked", {"projectId": None, "reason": "credentials", "message": REVOKED_MESSAGE},
                sid, ignore_queue=True)
    except Exception:  # already gone
        pass

    def close():
        if delay:
            time.sleep(delay)
        try:
            server.disconnect(sid, namespace=NAMESPACE, ignore_queue=True)
        except Exception:
            log.debug("socket %s was already closed", sid)

    if delay:
        threading.Thread(target=close, daemon=True).start()
    else:
        close()


def recheck_user(rt, user_id: str) -> int:
    """Check every local socket of ``user_id`` against its credentials now; returns how many
    were dropped."""
    dropped = 0
    for session in [s for s in list(rt.sessions.values()) if s.user_id == user_id]:
        try:
            user = current_user(rt.app, session)
        except Exception:  # cannot decide (the store is down): refuse, as a request would
            log.exception("could not re-check the credentials of socket %s", session.sid)
            user = None
        if user is None:
            drop(rt, session)
            dropped += 1
    return dropped
