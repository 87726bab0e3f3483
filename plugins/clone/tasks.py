"""The RQ job behind large clones: re-plans from the stored request and records progress and result."""

from __future__ import annotations

import logging

from bson import ObjectId

from core.errors import AladdinError
from core.models import JobRecord, User, utcnow
from core.projects import find_project

from .executor import Executor, _describe
from .plan import CloneOptions
from .planner import Planner

log = logging.getLogger("aladdin.clone")


def run_clone(app, job_id: str) -> dict:
    """Run the clone recorded as ``JobRecord(job_id)``; called in a worker as ``run_clone(app, job_id)``.

    The plan is rebuilt here rather than pickled: the documents may have changed since the
    request, and the job must clone what exists when it runs. Permissions are checked again."""
    record = JobRecord.objects(id=ObjectId(job_id)).first()
    if record is None:
        raise LookupError(f"no clone job {job_id}")
    record.update(set__status="processing", set__startedAt=utcnow(), inc__attempts=1)
    params = dict(record.params)
    ext = app.extensions["aladdin"]

    def progress(value: float, stage: str) -> None:
        JobRecord.objects(id=record.id).update(set__progress=value)

    try:
        user = User.objects(id=ObjectId(record.createdBy)).first()
        if user is None:
            raise AladdinError("the user who asked for this clone no longer exists", status=404)
        source = find_project(record.projectId)
        target = find_project(params["targetProjectId"])
        ext.authz.authorize(user, "content:view", source)
        ext.authz.authorize(user, "content:create", target)
        options = CloneOptions.from_request(params)
        plan = Planner(app, source, target, user, options).plan()
        result = Executor(app, plan, user, job_id=job_id, progress=progress).run()
    except Exception as exc:  # noqa: BLE001 - recorded for the status endpoint; Executor rolled back
        if not isinstance(exc, AladdinError):
            log.exception("clone job %s failed", job_id)
        JobRecord.objects(id=record.id).update(set__status="failed", set__error=_describe(exc),
                                               set__completedAt=utcnow())
        return {"success": False, "error": _describe(exc)}
    JobRecord.objects(id=record.id).update(set__status="completed", set__progress=1.0, set__result=result,
                                           set__completedAt=utcnow())
    return result
