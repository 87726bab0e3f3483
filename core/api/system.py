"""``/healthz``: is the process up and can it reach its database and Redis."""

from __future__ import annotations

from flask_smorest import Blueprint

from .. import __version__
from ..web import public
from . import ext
from .schemas import HealthSchema


def create_blueprint() -> Blueprint:
    bp = Blueprint("system", __name__, description="Health")

    @bp.route("/healthz")
    @bp.doc(security=[])
    @bp.response(200, HealthSchema)
    @bp.alt_response(503, schema=HealthSchema, description="a dependency (database, Redis) is unreachable")
    @public
    def healthz():
        checks = {}
        try:
            ext().db.platform().command("ping")
            checks["database"] = "ok"
        except Exception as exc:  # report, don't raise: a health check must answer
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            ext().jobs.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
        healthy = all(v == "ok" for v in checks.values())
        return {"status": "ok" if healthy else "degraded", "version": __version__, "checks": checks}, (
            200 if healthy else 503)

    return bp
