"""HTTP plumbing shared by the app factory and the API blueprints: the public-view marker,
authentication of each request and the JSON error bodies. It sits below both ``app`` and ``api``."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, current_app, g, jsonify, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from .errors import AladdinError, AuthenticationFailed, without_paths

log = logging.getLogger("aladdin")


def public(view):
    """Mark a view as reachable without authentication (health checks, signed downloads)."""
    view.__aladdin_public__ = True
    return view


def authenticate():
    """``before_request``: resolve ``g.user`` through ``aladdin_authenticate`` (401 when required)."""
    ext = current_app.extensions["aladdin"]
    g.user = None
    endpoint = request.endpoint
    if endpoint is None or endpoint in ext.public_endpoints:
        return None
    if request.method == "OPTIONS":
        return None  # a CORS preflight never carries credentials: Flask-CORS answers it (core/cors.py)
    view = current_app.view_functions.get(endpoint)
    if getattr(view, "__aladdin_public__", False) or not request.path.startswith("/api/"):
        return None
    if request.method in getattr(getattr(view, "view_class", None), "public_methods", ()):
        return None  # a MethodView open for some methods only (an invitation link's GET)
    user = ext.pm.hook.aladdin_authenticate(app=current_app, request=request)
    if user is None:
        raise AuthenticationFailed("authentication required: send 'Authorization: Bearer <token>'")
    g.user = user
    return None


def security_headers(response):
    """``after_request``: no answer may be content-sniffed into something active."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def error_body(status: int, message: str, **extra: Any) -> dict:
    return {"code": status, "status": HTTPStatus(status).phrase, "message": message, **extra}


def exception_headers(exc: HTTPException) -> dict:
    """The headers an HTTP exception answers with besides its body's type: a 405's ``Allow``,
    a 401's ``WWW-Authenticate``, a 429's ``Retry-After`` ..."""
    return {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}


class AladdinApi(Api):
    """flask-smorest's Api answering HTTP errors (404, 405, 422 ...) the way ours answer: with a
    message, with the exception's own headers (a 405's ``Allow``) and without server paths."""

    def handle_http_exception(self, error):
        payload, code, headers = super().handle_http_exception(error)
        headers = {**exception_headers(error), **(headers or {})}
        payload["message"] = without_paths(payload.get("message") or error.description or error.name)
        return payload, code, headers


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AladdinError)
    def handle_aladdin_error(exc: AladdinError):
        response = jsonify(error_body(exc.status, without_paths(exc.message), **exc.extra))
        response.status_code = exc.status
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="aladdin"'
        if "retry_after" in exc.extra:
            response.headers["Retry-After"] = str(exc.extra["retry_after"])
        return response

    @app.errorhandler(413)
    def handle_too_large(exc):
        limit = app.extensions["aladdin"].settings.max_upload_bytes
        response = jsonify(error_body(413, f"upload larger than the {limit}-byte limit"))
        response.status_code = 413
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            response = jsonify(error_body(exc.code or 500,
                                          without_paths(exc.description or HTTPStatus(exc.code).phrase)))
            response.status_code = exc.code or 500
            response.headers.update(exception_headers(exc))
            return response
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = jsonify(error_body(500, "internal error; the server log has the details"))
        response.status_code = 500
        return response
