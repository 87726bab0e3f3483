"""Sign-in sessions for people: a short-lived access token plus a refresh token, logout, and
password resets, on top of the API-token machinery that scripts already use.

Why access tokens are API tokens: every surface (REST, Socket.IO, the near cache, revocation
that drops sockets at once) already authenticates ``ald_`` tokens, so a signed-in browser is
checked by exactly the same code as a script; a session token only adds ``expiresAt`` and its
``sessionId``. The refresh token is used once and replaced; presenting a used one again means
it was copied, so the whole session is revoked (refresh-token rotation with reuse detection).

Guessing is bounded twice: per client address by the login route's rate limit, and per account
by a lockout (``ALADDIN_LOGIN_MAX_FAILURES`` failures within ``ALADDIN_LOGIN_LOCKOUT_SECONDS``
lock sign-in for that long; a password reset still works)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets

from flask import current_app

from .errors import AladdinError, AuthenticationFailed
from .models import ApiToken, PasswordReset, RefreshToken, User, hash_token, normalise_email, utcnow
from .passwords import check_new_password, hash_password, verify_password
from .ratelimit import RateLimited

log = logging.getLogger("aladdin.sessions")

REFRESH_PREFIX = "alr_"
RESET_PREFIX = "alp_"
ACCESS_TTL = 900  # seconds
REFRESH_TTL_DAYS = 30
RESET_TTL = 1800  # seconds
LOGIN_RATE_LIMIT = "30/minute"  # per client address, refusals counted (sign-in, refresh, sign-up)
MAX_FAILURES = 5
LOCKOUT_SECONDS = 900
WRONG = "wrong email or password"  # one message: it never tells which accounts exist


def _settings():
    return current_app.extensions["aladdin"].settings


def _ttl(name: str, default):
    value = _settings().get(name, default)
    if value <= 0:
        raise AladdinError(f"ALADDIN_{name} must be positive", status=500)
    return value


def login_rate_limit() -> str:
    """``ALADDIN_LOGIN_RATE_LIMIT``: what every route that checks a password or a token spends."""
    return _settings().get("LOGIN_RATE_LIMIT", LOGIN_RATE_LIMIT)


# --- sessions ---------------------------------------------------------------------------------


def start_session(user: User) -> dict:
    """A new session for ``user``: what ``POST /auth/login`` answers (and a sign-up, which is
    a sign-in too)."""
    return _issue(user, secrets.token_hex(12))


def _issue(user: User, session_id: str) -> dict:
    now = utcnow()
    access_ttl = int(_ttl("ACCESS_TOKEN_TTL", ACCESS_TTL))
    access = ApiToken.issue(user, name=f"session:{session_id}", session_id=session_id,
                            expires_at=now + dt.timedelta(seconds=access_ttl))
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    RefreshToken(tokenHash=hash_token(refresh), sessionId=session_id, userId=str(user.id),
                 expiresAt=now + dt.timedelta(days=_ttl("REFRESH_TOKEN_TTL_DAYS", REFRESH_TTL_DAYS))).save()
    return {"tokenType": "Bearer", "accessToken": access, "expiresIn": access_ttl, "refreshToken": refresh,
            "sessionId": session_id, "user": user.to_json()}


def refresh_session(refresh: object) -> dict:
    """A new access token and a new refresh token for a live session; the one presented is used up."""
    if not isinstance(refresh, str) or not refresh.startswith(REFRESH_PREFIX):
        raise AuthenticationFailed("invalid refresh token")
    digest = hash_token(refresh)
    now = utcnow()
    # Compare-and-set: of two requests racing with one token, exactly one gets a new session token.
    taken = RefreshToken.objects(tokenHash=digest, used=False, revoked=False).update_one(set__used=True)
    record = RefreshToken.objects(tokenHash=digest).first()
    if record is None:
        raise AuthenticationFailed("invalid refresh token")
    if not taken:
        if record.used and not record.revoked:
            log.warning("refresh token of session %s presented twice: revoking the session", record.sessionId)
            end_session(record.userId, record.sessionId)
        raise AuthenticationFailed("invalid refresh token")
    user = User.objects(id=record.userId).first()
    if user is None or record.expiresAt <= now:
        raise AuthenticationFailed("the session has ended; sign in again")
    return _issue(user, record.sessionId)


def end_session(user_id: str, session_id: str) -> int:
    """Log out one session: its refresh tokens stop at once, its access tokens (and the sockets
    opened with them, through the revocation signal) on their very next use anywhere."""
    RefreshToken.objects(userId=str(user_id), sessionId=session_id).update(set__revoked=True)
    count = 0
    for token in ApiToken.objects(userId=str(user_id), sessionId=session_id, revoked=False):
        token.revoked = True
        token.save()  # one by one: each save drops the token from every process's cache
        count += 1
    return count


def end_all_sessions(user: User) -> None:
    """Every session of ``user`` ends (a password change or reset); API tokens stay."""
    user_id = str(user.id)
    sessions = {r.sessionId for r in RefreshToken.objects(userId=user_id, revoked=False).only("sessionId")}
    sessions |= {t.sessionId for t in ApiToken.objects(userId=user_id, revoked=False).only("sessionId")}
    for session_id in sessions - {None}:
        end_session(user_id, session_id)


def session_of(token: str | None) -> str | None:
    """The session id of an access token (None for an API token)."""
    if not token:
        return None
    record = ApiToken.objects(tokenHash=hash_token(token)).only("sessionId").first()
    return record.sessionId if record else None


# --- signing in -------------------------------------------------------------------------------


def _failures_key(email: str) -> str:
    digest = hashlib.sha256(email.encode()).hexdigest()[:32]  # no addresses in Redis key names
    return f"aladdin:{_settings().platform_db}:login-failures:{digest}"


def login(email: object, password: object) -> dict:
    """Check the password and start a session; 401 with one message for any wrong pair, 429
    while the account is locked."""
    if not isinstance(email, str) or not isinstance(password, str):
        raise AladdinError("email and password are required", status=422)
    email = normalise_email(email)
    redis = current_app.extensions["aladdin"].jobs.redis
    key = _failures_key(email)
    max_failures = int(_ttl("LOGIN_MAX_FAILURES", MAX_FAILURES))
    window = int(_ttl("LOGIN_LOCKOUT_SECONDS", LOCKOUT_SECONDS))
    failures = int(redis.get(key) or 0)
    if failures >= max_failures:
        retry = max(1, redis.ttl(key))
        raise RateLimited(f"too many failed sign-ins for this account; try again in {retry} s, "
                          f"or reset the password", retry_after=retry)
    user = User.by_email(email)
    matches, new_hash = verify_password(user.passwordHash if user else None, password)
    if not matches:
        with redis.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, window)
            pipe.execute()
        raise AuthenticationFailed(WRONG)
    redis.delete(key)
    if new_hash:
        User.objects(id=user.id).update_one(set__passwordHash=new_hash)
    return start_session(user)


def set_password(user: User, password: object) -> None:
    """Set ``user``'s password (checked) and end every sign-in session it had."""
    check_new_password(password, user.email)
    User.objects(id=user.id).update_one(set__passwordHash=hash_password(password))
    end_all_sessions(user)
    current_app.extensions["aladdin"].jobs.redis.delete(_failures_key(user.email))


def change_password(user: User, current: object, new: object) -> None:
    fresh = User.objects(id=user.id).first()
    matches, _ = verify_password(fresh.passwordHash if fresh else None, current if isinstance(current, str) else "")
    if not matches:
        raise AladdinError("the current password is wrong", status=403)
    set_password(fresh, new)


# --- password resets --------------------------------------------------------------------------


def request_reset(email: object, base_url: str) -> None:
    """Send a one-time reset link if ``email`` has an account; say nothing either way."""
    if not isinstance(email, str):
        raise AladdinError("email is required", status=422)
    user = User.by_email(email)
    if user is None:
        return
    token = RESET_PREFIX + secrets.token_urlsafe(32)
    ttl = int(_ttl("PASSWORD_RESET_TTL", RESET_TTL))
    PasswordReset(tokenHash=hash_token(token), userId=str(user.id),
                  expiresAt=utcnow() + dt.timedelta(seconds=ttl)).save()
    link = f"{base_url.rstrip('/')}/reset-password#{token}"  # a fragment: never sent to a server
    body = (f"Hello {user.name or user.email},\n\nSomeone (hopefully you) asked to reset the password of "
            f"{user.email} on Aladdin. Open this link within {ttl // 60} minutes to choose a new one; it works once:\n"
            f"  {link}\n\nIf it was not you, ignore this message: the password stays as it is.\n")
    ext = current_app.extensions["aladdin"]
    delivered = ext.pm.hook.aladdin_send_mail(app=current_app._get_current_object(), to=user.email,
                                              subject="Reset your Aladdin password", body=body,
                                              kind="password_reset")
    if not delivered:
        log.warning("no plugin delivers mail (aladdin_send_mail): the password reset for user %s was not sent",
                    user.id)


def reset_password(token: object, password: object) -> User:
    """Use a reset token once: set the password, end every session."""
    if not isinstance(token, str) or not token.startswith(RESET_PREFIX):
        raise AladdinError("invalid or used reset link", status=400)
    digest = hash_token(token)
    record = PasswordReset.objects(tokenHash=digest, used=False).first()
    user = User.objects(id=record.userId).first() if record else None
    if record is None or user is None or record.expiresAt <= utcnow():
        raise AladdinError("invalid, used or expired reset link; ask for a new one", status=400)
    check_new_password(password, user.email)  # before the token is spent: a weak password can be retried
    if not PasswordReset.objects(tokenHash=digest, used=False).update_one(set__used=True):
        raise AladdinError("invalid or used reset link", status=400)
    set_password(user, password)
    return user
