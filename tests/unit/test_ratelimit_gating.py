"""Flask-Limiter's request hooks stay off the hot path until some limit needs them, and every kind of limit still applies."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask_limiter._compat import request_context

from core.web import public
from core.ratelimit import rate_limit


def _probe_blueprint(name: str) -> Blueprint:
    bp = Blueprint(name, __name__, url_prefix=f"/{name}")

    @bp.route("/touched")
    @public
    def touched():
        return jsonify(touched=hasattr(request_context(), "_limiter_request_context"))

    return bp


def test_no_limit_means_no_limiter_work(app, client):
    app.register_blueprint(_probe_blueprint("probe"))
    response = client.get("/probe/touched")
    assert response.status_code == 200 and response.json == {"touched": False}
    assert "X-RateLimit-Limit" not in response.headers


def test_decorated_limits_still_apply_with_headers(app, client):
    limiter = app.extensions["aladdin"].limiter
    bp = Blueprint("decorated", __name__, url_prefix="/decorated")

    @bp.route("/x")
    @public
    @limiter.limit("2/minute")
    def limited():
        return jsonify(ok=True)

    app.register_blueprint(bp)
    first = client.get("/decorated/x")
    assert first.status_code == 200 and first.headers["X-RateLimit-Limit"] == "2"
    assert client.get("/decorated/x").status_code == 200
    assert client.get("/decorated/x").status_code == 429


def test_blueprint_and_default_limits_switch_the_middleware_on(app, client):
    limiter = app.extensions["aladdin"].limiter
    bp = _probe_blueprint("bplimited")
    limiter.limit("1/minute")(bp)
    app.register_blueprint(bp)
    first = client.get("/bplimited/touched")
    assert first.status_code == 200 and first.json == {"touched": True}
    assert client.get("/bplimited/touched").status_code == 429


def test_aladdin_rate_limit_decorator_still_limits(app, client):
    bp = Blueprint("own", __name__, url_prefix="/own")

    @bp.route("/x")
    @public
    @rate_limit("1/minute", "gating-test", key=lambda: "k")
    def limited():
        return jsonify(ok=True)

    app.register_blueprint(bp)
    assert client.get("/own/x").status_code == 200
    second = client.get("/own/x")
    assert second.status_code == 429 and int(second.headers["Retry-After"]) >= 1
