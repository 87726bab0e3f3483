"""``/healthz``: is the process up, can it reach its database and Redis, and is a worker alive.

A worker is always expected: exports, large clones and scheduled cleanups are accepted with 202
and would wait forever without one, so no recent RQ worker heartbeat is "degraded" (503), with
``checks.worker`` saying so. ``serve`` on embedded defaults runs (and restarts) its own worker;
elsewhere run ``aladdin worker``. ``plugins.failures`` counts, per plugin, the hook exceptions the installation
contained (logged, the plugin's part left out); they never make the status degraded."""

from __future__ import annotations

from flask_smorest import Blueprint

from .. import __version__
from ..jobs import HEARTBEAT_STALE_SECONDS, live_workers
from ..web import public
from . import ext
from .schemas import HealthSchema


def create_blueprint() -> Blueprint:
    bp = Blueprint("system", __name__, description="Health")

    @bp.route("/healthz")
    @bp.doc(security=[])
    @bp.response(200, HealthSchema)
    @bp.alt_response(503, schema=HealthSchema, description="a dependency (database, Redis) is unreachable or no worker is alive")
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
        if checks["redis"] == "ok":
            try:
                alive = len(live_workers(ext().jobs.redis))
                checks["worker"] = "ok" if alive else (
                    f"no worker heartbeat in the last {HEARTBEAT_STALE_SECONDS} s; run `aladdin worker`")
            except Exception as exc:
                checks["worker"] = f"error: {type(exc).__name__}"
        healthy = all(v == "ok" for v in checks.values())
        # Plugins' contained failures are reported, not a degraded status: the product still serves
        # (the failing plugin's part is left out); a monitor can alert on the counts.
        plugins = {"failures": ext().plugin_failures.counts() if ext().plugin_failures else {}}
        return {"status": "ok" if healthy else "degraded", "version": __version__, "checks": checks,
                "plugins": plugins}, (200 if healthy else 503)

    return bp
