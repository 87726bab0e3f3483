"""``/api/v1/auth``: people sign in with a password and get a session (core/sessions.py).

API tokens (``users create``) stay for scripts; a session's access token is used the same way
(``Authorization: Bearer``) on REST and Socket.IO alike."""

from __future__ import annotations

from flask import current_app, g, request
from flask_smorest import Blueprint

from .. import sessions
from ..errors import AladdinError
from ..ratelimit import rate_limit
from ..urls import public_base
from ..web import public
from .schemas import (LoginSchema, LogoutSchema, PasswordChangeSchema, PasswordResetRequestSchema,
                      PasswordResetSchema, RefreshSchema, SessionSchema, UserSchema)


def _limit(name: str, default: str):
    return lambda: current_app.extensions["aladdin"].settings.get(name, default)


def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def create_blueprint() -> Blueprint:
    bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Signing in (people; scripts use API tokens)")

    @bp.route("/login", methods=["POST"])
    @bp.doc(security=[])
    @bp.arguments(LoginSchema)
    @bp.response(200, SessionSchema)
    @bp.alt_response(401, description="wrong email or password (one answer for both)")
    @bp.alt_response(429, description="too many attempts from this address, or the account is locked for a while")
    @public
    @rate_limit(sessions.login_rate_limit, "auth.login", count_refused=True)
    def login(body):
        """Sign in: an access token (short-lived) and a refresh token."""
        return sessions.login(body["email"], body["password"])

    @bp.route("/refresh", methods=["POST"])
    @bp.doc(security=[])
    @bp.arguments(RefreshSchema)
    @bp.response(200, SessionSchema)
    @bp.alt_response(401, description="unknown, used, revoked or expired refresh token")
    @public
    @rate_limit(sessions.login_rate_limit, "auth.refresh", count_refused=True)
    def refresh(body):
        """Trade the refresh token (used once) for a new access token and refresh token. A used
        refresh token presented again ends its whole session."""
        return sessions.refresh_session(body["refreshToken"])

    @bp.route("/logout", methods=["POST"])
    @bp.arguments(LogoutSchema)
    @bp.response(204)
    def logout(body):
        """End this session (``everywhere``: every session of the user). Its tokens stop working
        on their next use on any process, and its sockets are disconnected."""
        if body["everywhere"]:
            sessions.end_all_sessions(g.user)
            return ""
        session_id = sessions.session_of(_bearer())
        if session_id is None:
            raise AladdinError("this is an API token, not a sign-in session: revoke it with "
                               "`aladdin users revoke-tokens`", status=400)
        sessions.end_session(str(g.user.id), session_id)
        return ""

    @bp.route("/me", methods=["GET"])
    @bp.response(200, UserSchema)
    def me():
        """Who the token belongs to."""
        return g.user.to_json()

    @bp.route("/password", methods=["POST"])
    @bp.arguments(PasswordChangeSchema)
    @bp.response(200, SessionSchema)
    @bp.alt_response(403, description="the current password is wrong")
    @rate_limit(sessions.login_rate_limit, "auth.password", count_refused=True)
    def change_password(body):
        """Change the password: every session ends, and a new one is answered for this page."""
        sessions.change_password(g.user, body["currentPassword"], body["newPassword"])
        return sessions.start_session(g.user)

    @bp.route("/password-reset", methods=["POST"])
    @bp.doc(security=[])
    @bp.arguments(PasswordResetRequestSchema)
    @bp.response(202)
    @public
    @rate_limit(_limit("PASSWORD_RESET_RATE_LIMIT", "5/hour"), "auth.reset", count_refused=True)
    def request_reset(body):
        """Mail a one-time reset link if the address has an account (202 either way)."""
        sessions.request_reset(body["email"], public_base(current_app))
        return ""

    @bp.route("/password-reset/confirm", methods=["POST"])
    @bp.doc(security=[])
    @bp.arguments(PasswordResetSchema)
    @bp.response(200, SessionSchema)
    @bp.alt_response(400, description="unknown, used or expired reset token")
    @public
    @rate_limit(sessions.login_rate_limit, "auth.reset-confirm", count_refused=True)
    def confirm_reset(body):
        """Set a new password with the link's token: every earlier session ends, a new one starts."""
        user = sessions.reset_password(body["token"], body["password"])
        return sessions.start_session(user)

    return bp
