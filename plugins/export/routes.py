"""HTTP surface of the export plugin: presets, exports, batches and project webhooks."""
from __future__ import annotations

import math
import time

from flask import current_app, g, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from limits import parse

from core.api import authorized_project, ext
from core.errors import NotFound
from core.projects import find_project
from core.ratelimit import RateLimited, rate_limit

from . import service, webhooks
from .schemas import (BatchAcceptedSchema, BatchCreateSchema, BatchSchema, ExportAcceptedSchema,
                      ExportCreateSchema, ExportJobSchema, ExportListArgsSchema, ExportListSchema,
                      PresetListSchema, WebhookCreatedSchema, WebhookCreateSchema, WebhookListSchema)

RATE_SCOPE = "export"


def _rate_limit_value() -> str:
    return ext().settings.get("EXPORT_RATE_LIMIT", "5/hour")


def _rate_key() -> str:
    """Per user and project; the project is keyed by id so its slug and id share one counter."""
    pid = (request.view_args or {}).get("pid", "")
    try:
        pid = str(find_project(pid).id)
    except NotFound:
        pass
    return f"{g.user.id}:{pid}"


def _charge(cost: int) -> None:
    """Charge a batch ``cost`` exports against the same per-user-and-project limit."""
    limiter = ext().limiter
    item = parse(_rate_limit_value())
    ident = _rate_key()
    if cost > item.amount or not limiter.limiter.hit(item, RATE_SCOPE, ident, cost=cost):
        reset, _remaining = limiter.limiter.get_window_stats(item, RATE_SCOPE, ident)
        retry_after = max(1, math.ceil(reset - time.time()))
        raise RateLimited(f"rate limit exceeded: {item} exports; retry in {retry_after} s",
                          retry_after=retry_after)


def _status_url(pid: str, job_id: str) -> str:
    return url_for("exports.ExportItem", pid=pid, job_id=job_id, _external=False)


def _accepted(pid: str, record) -> dict:
    return {"jobId": str(record.id), "status": record.status, "statusUrl": _status_url(pid, str(record.id))}


def create_blueprints() -> list[Blueprint]:
    return [_presets_blueprint(), _exports_blueprint(), _webhooks_blueprint()]


def _presets_blueprint() -> Blueprint:
    bp = Blueprint("export_presets", __name__, url_prefix="/api/v1/export", description="Export presets")

    @bp.route("/presets")
    @bp.response(200, PresetListSchema)
    def presets():
        """Every output format an export can use: the built-in ones and those plugins add."""
        from .presets import BUILTIN_PRESETS

        items = [{**p.to_json(), "builtin": p.id in BUILTIN_PRESETS}
                 for p in service.all_presets(current_app).values()]
        return {"items": items, "total": len(items)}

    return bp


def _exports_blueprint() -> Blueprint:
    bp = Blueprint("exports", __name__, url_prefix="/api/v1/projects/<pid>/exports",
                   description="Video exports of a project's completed scenes")

    @bp.route("")
    class Exports(MethodView):
        @bp.arguments(ExportListArgsSchema, location="query")
        @bp.response(200, ExportListSchema)
        def get(self, args, pid):
            """The project's exports, newest first."""
            project = authorized_project(pid, "project:view")
            records, total = service.list_jobs(ext().app, project, args["limit"], args["offset"])
            return {"items": [service.job_json(ext().app, r, reader=g.user, project=project)
                              for r in records],
                    "total": total, "limit": args["limit"], "offset": args["offset"]}

        @bp.arguments(ExportCreateSchema)
        @bp.response(202, ExportAcceptedSchema)
        @bp.alt_response(400, description="unknown preset (the message lists the valid ones)")
        @bp.alt_response(422, description="no completed scenes, or includeScenes names unusable videos")
        @bp.alt_response(429, description="more than EXPORT_RATE_LIMIT (5/hour) per user and project")
        @rate_limit(_rate_limit_value, RATE_SCOPE, key=_rate_key)
        def post(self, body, pid):
            """Queue an export of the completed scenes (or ``includeScenes``) with a preset."""
            project = authorized_project(pid, "project:export")
            record = service.queue_export(
                ext().app, project, g.user, preset_id=body["preset"],
                output_filename=body.get("outputFilename"), include_scenes=body.get("includeScenes"),
                title_card=body.get("titleCard"), transition=body.get("transition"))
            return _accepted(pid, record)

    @bp.route("/batch")
    class Batches(MethodView):
        @bp.arguments(BatchCreateSchema)
        @bp.response(202, BatchAcceptedSchema)
        @bp.alt_response(400, description="an unknown preset")
        @bp.alt_response(422, description="no completed scenes")
        @bp.alt_response(429, description="each preset counts as one export against the rate limit")
        def post(self, body, pid):
            """Queue one export per preset; all are validated before any is queued."""
            project = authorized_project(pid, "project:export")
            for preset_id in body["presets"]:
                service.resolve_preset(ext().app, preset_id)
            service.select_scenes(ext().app, project, body.get("includeScenes"), reader=g.user)
            _charge(len(set(body["presets"])))
            batch_id, records = service.queue_batch(
                ext().app, project, g.user, presets=body["presets"],
                output_filename=body.get("outputFilename"), include_scenes=body.get("includeScenes"),
                title_card=body.get("titleCard"), transition=body.get("transition"))
            return {"batchId": batch_id, "status": "queued",
                    "statusUrl": url_for("exports.BatchItem", pid=pid, batch_id=batch_id),
                    "jobs": [_accepted(pid, r) for r in records]}

    @bp.route("/batch/<batch_id>")
    class BatchItem(MethodView):
        @bp.response(200, BatchSchema)
        def get(self, pid, batch_id):
            """Aggregate status (queued, processing, completed, failed, partial) and mean progress."""
            project = authorized_project(pid, "project:view")
            status, progress, records = service.batch_status(ext().app, project, batch_id)
            return {"id": batch_id, "batchId": batch_id, "status": status, "progress": progress,
                    "jobs": [service.job_json(ext().app, r, reader=g.user, project=project)
                             for r in records]}

    @bp.route("/<job_id>")
    class ExportItem(MethodView):
        @bp.response(200, ExportJobSchema)
        def get(self, pid, job_id):
            """Status and progress; ``downloadUrl`` (signed, expiring) once completed."""
            project = authorized_project(pid, "project:view")
            record = service.reconcile(ext().app, service.find_job(project, job_id))
            return service.job_json(ext().app, record, reader=g.user, project=project)

    return bp


def _webhooks_blueprint() -> Blueprint:
    bp = Blueprint("export_webhooks", __name__, url_prefix="/api/v1/projects/<pid>/webhooks",
                   description="Signed HTTP callbacks when exports complete or fail")

    @bp.route("")
    class Hooks(MethodView):
        @bp.response(200, WebhookListSchema)
        def get(self, pid):
            """The project's webhooks (secrets are never shown again)."""
            project = authorized_project(pid, "project:edit")
            items = [h.to_json() for h in webhooks.list_webhooks(project)]
            return {"items": items, "total": len(items)}

        @bp.arguments(WebhookCreateSchema)
        @bp.response(201, WebhookCreatedSchema)
        def post(self, body, pid):
            """Register a URL; the answer carries the signing secret, shown only this once."""
            project = authorized_project(pid, "project:edit")
            hook = webhooks.create_webhook(project, g.user, body["url"], body.get("events"))
            return hook.to_json(secret=True)

    @bp.route("/<webhook_id>")
    class Hook(MethodView):
        @bp.response(204)
        def delete(self, pid, webhook_id):
            project = authorized_project(pid, "project:edit")
            webhooks.delete_webhook(project, webhook_id)
            return ""

    return bp
