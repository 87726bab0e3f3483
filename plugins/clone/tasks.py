"""Every clone that writes has a job record: the RQ job behind large clones plans once from the
stored request; a small clone runs in the request under a record of its own, so its progress
events and status URL carry a real job id too."""

from __future__ import annotations

import logging

from bson import ObjectId

from core.content import actor_id
from core.errors import AladdinError
from core.models import JobRecord, User, utcnow
from core.projects import find_project

from .executor import Executor, _describe
from .plan import CloneOptions, ClonePlan
from .planner import Planner
from .progress import CloneProgress, ProgressFn

log = logging.getLogger("aladdin.clone")


def new_record(source, target, user, options: CloneOptions, *, status: str = "queued") -> JobRecord:
    return JobRecord(kind="clone", projectId=str(source.id), createdBy=actor_id(user),
                     status=status, startedAt=utcnow() if status == "processing" else None,
                     attempts=1 if status == "processing" else 0,
                     params={**options.as_params(), "targetProjectId": str(target.id),
                             "synchronous": status == "processing"}).save()


def job_tracker(app, record: JobRecord, source, target, user, options: CloneOptions, planning: bool,
                also: ProgressFn | None = None) -> CloneProgress:
    """Progress of the clone recorded as ``record``: stored on it (and told to ``also``), and sent
    as ``clone.progress`` events with its id as ``jobId``."""
    def store(value: float, stage: str) -> None:
        JobRecord.objects(id=record.id).update(set__progress=value, set__params__stage=stage)
        if also is not None:
            also(value, stage)

    return CloneProgress(app, source, target, user, (options.collection, options.document_id),
                         job_id=str(record.id), callback=store, planning=planning)


def _finish(record: JobRecord, result: dict) -> dict:
    result = {**result, "jobId": str(record.id)}
    JobRecord.objects(id=record.id).update(set__status="completed", set__progress=1.0, set__result=result,
                                           set__completedAt=utcnow())
    return result


def _fail(record: JobRecord, exc: Exception) -> None:
    JobRecord.objects(id=record.id).update(set__status="failed", set__error=_describe(exc),
                                           set__completedAt=utcnow())


def run_in_request(app, plan: ClonePlan, user) -> dict:
    """Write an already planned (small) clone now, under a job record; errors are re-raised."""
    record = new_record(plan.source, plan.target, user, plan.options, status="processing")
    tracker = job_tracker(app, record, plan.source, plan.target, user, plan.options, planning=False)
    try:
        result = Executor(app, plan, user, job_id=str(record.id), tracker=tracker).run()
    except Exception as exc:
        _fail(record, exc)
        raise
    return _finish(record, result)


def run_recorded(app, record: JobRecord, source, target, user, options: CloneOptions,
                 tracker: CloneProgress) -> dict:
    """Plan and write one clone under ``record`` (the CLI's way); errors are recorded and re-raised."""
    try:
        plan = Planner(app, source, target, user, options, tracker=tracker).plan()
        result = Executor(app, plan, user, job_id=str(record.id), tracker=tracker).run()
    except Exception as exc:
        _fail(record, exc)
        raise
    return _finish(record, result)


def run_clone(app, job_id: str) -> dict:
    """Run the clone recorded as ``JobRecord(job_id)``; called in a worker as ``run_clone(app, job_id)``.

    The plan is built here, once (the request only checked that the closure is large): the
    documents may have changed since the request, and the job clones what exists when it runs.
    Permissions are checked again."""
    record = JobRecord.objects(id=ObjectId(job_id)).first()
    if record is None:
        raise LookupError(f"no clone job {job_id}")
    record.update(set__status="processing", set__startedAt=utcnow(), inc__attempts=1)
    params = dict(record.params)
    ext = app.extensions["aladdin"]
    try:
        user = User.objects(id=ObjectId(record.createdBy)).first()
        if user is None:
            raise AladdinError("the user who asked for this clone no longer exists", status=404)
        source = find_project(record.projectId)
        target = find_project(params["targetProjectId"])
        ext.authz.authorize(user, "content:view", source)
        ext.authz.authorize(user, "content:create", target)
        options = CloneOptions.from_request(params)
        tracker = job_tracker(app, record, source, target, user, options, planning=True)
        plan = Planner(app, source, target, user, options, tracker=tracker).plan()
        result = Executor(app, plan, user, job_id=job_id, tracker=tracker).run()
    except Exception as exc:  # noqa: BLE001 - recorded for the status endpoint; Executor rolled back
        if not isinstance(exc, AladdinError):
            log.exception("clone job %s failed", job_id)
        _fail(record, exc)
        return {"success": False, "error": _describe(exc)}
    return _finish(record, result)
