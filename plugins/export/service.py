"""Export jobs as users see them: presets, scene selection, queueing, status and batches.

Job state lives in ``core.models.JobRecord`` (kind ``export``); RQ only carries the mechanics."""
from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from typing import Any

from bson import ObjectId

from core.db import count_matching
from core.errors import AladdinError, NotFound, without_paths
from core.events import emit
from core.media import download_url
from core.models import JobRecord, isoformat, utcnow
from core.plugins import call_each

from .presets import BUILTIN_PRESETS, Preset, preset_from_dict
from .sanitize import display_filename

log = logging.getLogger("aladdin.export")

KIND = "export"
TERMINAL = ("completed", "failed", "expired")
VIDEO_EXTENSIONS = re.compile(r"\.(mp4|m4v|webm|mov|mkv|avi)$", re.I)
MAX_BATCH_PRESETS = 10
# What a completed export's answer says about the work it did (see pipeline.ExportRender.counts).
WORK_COUNTS = ("scenesRendered", "scenesReused", "segmentsRendered", "segmentsReused")


# ------------------------------------------------------------------------------ settings

def setting(app, name: str, default: Any) -> Any:
    """``ALADDIN_<NAME>`` through the core settings, typed like ``default``."""
    return app.extensions["aladdin"].settings.get(name, default)


def queue_name(app) -> str:
    """Exports may get their own queue (``ALADDIN_EXPORT_QUEUE``) so render workers scale apart."""
    return setting(app, "EXPORT_QUEUE", "aladdin")


def backoff_schedule(base: float, attempts: int) -> list[int]:
    """Exponential waits between attempts: base, 2*base, 4*base, ... (one per retry)."""
    return [int(round(base * 2 ** i)) for i in range(max(attempts - 1, 0))]


def retry_policy(app) -> dict:
    attempts = max(1, setting(app, "EXPORT_ATTEMPTS", 3))
    base = setting(app, "EXPORT_BACKOFF_BASE", 2.0)
    return {"attempts": attempts, "backoff": backoff_schedule(base, attempts),
            "timeout": setting(app, "EXPORT_TIMEOUT", 1800)}


def rq_job_id(job_id: str) -> str:
    return f"export-{job_id}"


# ------------------------------------------------------------------------------- presets

def all_presets(app, report=log.debug) -> dict[str, Preset]:
    """Built-in presets plus valid ones from ``aladdin_export_presets``, asked one plugin at a
    time: a plugin whose hook raises (logged and counted by the core) or whose preset is invalid
    or clashing is left out, named, rather than breaking every export. Start-up reports bad
    presets as warnings (``report``); each request after that only at debug level."""
    presets = dict(BUILTIN_PRESETS)
    ext = app.extensions["aladdin"]
    for plugin, extra in reversed(call_each(ext.pm, "aladdin_export_presets", ext.plugin_failures)):
        for raw in extra or ():
            try:
                preset = preset_from_dict(raw)
            except ValueError as exc:
                report("plugin %r: export preset left out: %s; fix the preset or disable the plugin "
                       "(ALADDIN_DISABLED_PLUGINS=%s)", plugin, exc, plugin)
                continue
            if preset.id in presets:
                report("plugin %r: export preset %r left out: the id is taken; rename the preset",
                       plugin, preset.id)
                continue
            presets[preset.id] = preset
    return presets


def resolve_preset(app, preset_id: str) -> Preset:
    presets = all_presets(app)
    preset = presets.get(preset_id)
    if preset is None:
        valid = sorted(presets)
        raise AladdinError(f"unknown preset {preset_id!r}; valid presets: {', '.join(valid)}",
                           status=400, validPresets=valid)
    return preset


# -------------------------------------------------------------------------------- scenes

def scene_label(video: dict) -> str:
    """How errors name a scene: its number, title if any, and id."""
    content = video.get("content") or {}
    title = content.get("title") or content.get("name")
    number = video.get("sceneNumber")
    label = f"scene {number}" if number is not None else "scene"
    if title:
        label += f" {str(title)[:80]!r}"
    return f"{label} (video {video['_id']})"


def _scene_order(video: dict) -> tuple:
    number = video.get("sceneNumber")
    return (number is None, number if number is not None else 0, video.get("createdAt") or dt.datetime.min,
            str(video["_id"]))


def select_scenes(app, project, include: list[str] | None = None, *, reader) -> list[dict]:
    """The project's completed scene videos ``reader`` may view, in film order (``sceneNumber``,
    then ``createdAt``), or the requested subset in that same order; each must name an existing
    media document the reader may view.

    The reader's ``content:view`` rules are part of every query: a video they may not view is
    never selected, and one named in ``include`` is refused exactly like an unknown id (hidden
    is indistinguishable from missing)."""
    ext = app.extensions["aladdin"]
    videos = ext.content.collection(project, "videos")
    visible_videos = ext.content.read_filter(reader, project, "videos")
    limit = setting(app, "EXPORT_MAX_SCENES", 500)
    if include is not None:
        wanted = list(dict.fromkeys(include))
        if not wanted:
            raise AladdinError("includeScenes is empty; omit it to export every completed scene", status=422)
        ids = {w: ObjectId(w) for w in wanted if ObjectId.is_valid(w)}
        found = {str(d["_id"]): d for d in videos.find(
            visible_videos.combine({"_id": {"$in": list(ids.values())}}))}
        unknown = [w for w in wanted if w not in found]
        if unknown:
            raise AladdinError(f"includeScenes names videos that do not exist: {', '.join(unknown)}",
                               status=422, unknownScenes=unknown)
        pending = [w for w in wanted if found[w].get("status") != "completed"]
        if pending:
            raise AladdinError(f"includeScenes names videos that are not completed: {', '.join(pending)}",
                               status=422, incompleteScenes=pending)
        docs = list(found.values())
    else:
        docs = list(videos.find(visible_videos.combine({"status": "completed"})))
    if not docs:
        raise AladdinError("the project has no completed scene videos to export", status=422)
    if len(docs) > limit:
        raise AladdinError(f"an export holds at most {limit} scenes; choose some with includeScenes",
                           status=422)
    docs.sort(key=_scene_order)
    media_ids = {}
    for doc in docs:
        media_id = (doc.get("content") or {}).get("mediaId")
        if not isinstance(media_id, str) or not media_id:
            raise AladdinError(f"{scene_label(doc)} has no content.mediaId", status=422)
        media_ids[str(doc["_id"])] = media_id
    valid = [ObjectId(m) for m in media_ids.values() if ObjectId.is_valid(m)]
    visible_media = ext.content.read_filter(reader, project, "media")
    stored = {str(m["_id"]) for m in ext.content.collection(project, "media").find(
        visible_media.combine({"_id": {"$in": valid}, "storageKey": {"$exists": True}}), {"_id": 1})}
    for doc in docs:
        if media_ids[str(doc["_id"])] not in stored:
            raise AladdinError(f"{scene_label(doc)}: its media file {media_ids[str(doc['_id'])]} does not exist",
                               status=422)
    return docs


def requester(record: JobRecord):
    """The user who asked for an export (whose read rules its job applies), or None if gone."""
    from core.models import User

    if not record.createdBy or not ObjectId.is_valid(record.createdBy):
        return None
    return User.objects(id=record.createdBy).first()


def hides_scenes(app, project, reader, scene_ids: list[str]) -> bool:
    """Does the export of ``scene_ids`` hold a video (or its media) ``reader`` may not view?

    Deleted videos do not count: only what exists and is hidden from the reader."""
    ext = app.extensions["aladdin"]
    ids = [ObjectId(i) for i in dict.fromkeys(scene_ids) if ObjectId.is_valid(i)]
    if not ids:
        return False
    videos_filter = ext.content.read_filter(reader, project, "videos")
    media_filter = ext.content.read_filter(reader, project, "media")
    if videos_filter.everything and media_filter.everything:
        return False
    videos = ext.content.collection(project, "videos")
    existing = list(videos.find({"_id": {"$in": ids}}, {"_id": 1, "content.mediaId": 1}))
    if not videos_filter.everything and \
            count_matching(videos, videos_filter.combine({"_id": {"$in": ids}})) != len(existing):
        return True
    if media_filter.everything:
        return False
    media_ids = list({ObjectId(m) for m in ((d.get("content") or {}).get("mediaId") for d in existing)
                      if isinstance(m, str) and ObjectId.is_valid(m)})
    if not media_ids:
        return False
    media = ext.content.collection(project, "media")
    return count_matching(media, media_filter.combine({"_id": {"$in": media_ids}})) != \
        count_matching(media, {"_id": {"$in": media_ids}})


# ------------------------------------------------------------------------------ queueing

def output_name(raw: str | None, project, preset: Preset | None = None) -> str:
    """The export's base name (no extension), Unicode kept for the download name and title:
    one path component, no quotes or control characters, no leading '-'. Storage keys use an
    ASCII form of it (``sanitize_filename``)."""
    if raw:
        raw = VIDEO_EXTENSIONS.sub("", str(raw).replace("\\", "/").rsplit("/", 1)[-1])
    default = project.slug + (f"-{preset.id}" if preset else "")
    return display_filename(raw or default, default=default)


def queue_export(app, project, user, *, preset_id: str, output_filename: str | None = None,
                 include_scenes: list[str] | None = None, title_card: dict | None = None,
                 transition: dict | None = None, batch_id: str | None = None,
                 scenes: list[dict] | None = None) -> JobRecord:
    """Validate, record and enqueue one export; returns its JobRecord (status ``queued``).

    ``user`` is the requester: only videos they may view are selected, and the job applies
    their read rules again when it runs."""
    if user is None:
        raise ValueError("an export is always requested by a user (whose read rules apply)")
    preset = resolve_preset(app, preset_id)
    if scenes is None:
        scenes = select_scenes(app, project, include_scenes, reader=user)
    name = output_name(output_filename, project)
    params = {"preset": preset.id, "outputFilename": name,
              "sceneIds": [str(s["_id"]) for s in scenes],
              "titleCard": title_card or None, "transition": transition or None}
    record = JobRecord(kind=KIND, projectId=str(project.id), createdBy=str(user.id) if user else None,
                       params=params, batchId=batch_id).save()
    job_id = str(record.id)
    policy = retry_policy(app)
    try:
        app.extensions["aladdin"].jobs.enqueue(
            "plugins.export.tasks:run_export", job_id, job_id=rq_job_id(job_id),
            attempts=policy["attempts"], backoff=policy["backoff"], timeout=policy["timeout"],
            queue=queue_name(app), meta={"kind": KIND, "projectId": str(project.id)})
    except Exception:
        record.delete()  # no record of a job that will never run
        raise
    emit(app, "export.queued", project_id=str(project.id), actor_id=str(user.id) if user else None,
         resource_type="export", resource_id=job_id, jobId=job_id, preset=preset.id, batchId=batch_id)
    return record


def queue_batch(app, project, user, *, presets: list[str], output_filename: str | None = None,
                include_scenes: list[str] | None = None, title_card: dict | None = None,
                transition: dict | None = None) -> tuple[str, list[JobRecord]]:
    """One export per preset sharing a ``batchId``; every preset is checked before any is queued."""
    presets = list(dict.fromkeys(presets))
    if not presets:
        raise AladdinError("presets must name at least one preset", status=422)
    if len(presets) > MAX_BATCH_PRESETS:
        raise AladdinError(f"a batch holds at most {MAX_BATCH_PRESETS} presets", status=422)
    for pid in presets:
        resolve_preset(app, pid)
    scenes = select_scenes(app, project, include_scenes, reader=user)
    batch_id = uuid.uuid4().hex
    records = []
    try:
        for pid in presets:
            records.append(queue_export(app, project, user, preset_id=pid, output_filename=output_filename,
                                        title_card=title_card, transition=transition,
                                        batch_id=batch_id, scenes=scenes))
    except Exception:
        for record in records:  # all or nothing: cancel what was already queued
            cancel(app, record)
        raise
    return batch_id, records


def cancel(app, record: JobRecord) -> None:
    from rq.job import Job

    try:
        Job.fetch(rq_job_id(str(record.id)), connection=app.extensions["aladdin"].jobs.redis).cancel()
    except Exception:
        pass
    record.delete()


# -------------------------------------------------------------------------------- status

def find_job(project, job_id: str) -> JobRecord:
    if not ObjectId.is_valid(job_id):
        raise NotFound("export not found")
    record = JobRecord.objects(id=job_id, kind=KIND, projectId=str(project.id)).first()
    if record is None:
        raise NotFound("export not found")
    return record


def reconcile(app, record: JobRecord) -> JobRecord:
    """Catch up with a job whose last attempt died where our code could not record it
    (a SIGKILLed work-horse with no retries left): RQ has it failed, we still say processing."""
    if record.status in TERMINAL:
        return record
    from rq.job import Job, JobStatus
    from rq.exceptions import NoSuchJobError

    redis = app.extensions["aladdin"].jobs.redis
    try:
        job = Job.fetch(rq_job_id(str(record.id)), connection=redis)
        status = job.get_status()
    except NoSuchJobError:
        job, status = None, None
    except Exception:  # Redis unreachable: report what we know
        return record
    if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        reason = "the export job stopped"
        try:
            result = job.latest_result()
            if result is not None and result.exc_string:
                reason = result.exc_string.strip().splitlines()[-1][:500]
        except Exception:
            pass
        mark_failed(app, record, f"the export worker failed: {reason}")
    elif job is None:
        timeout = setting(app, "EXPORT_TIMEOUT", 1800)
        if utcnow() - record.createdAt > dt.timedelta(seconds=timeout * retry_policy(app)["attempts"] + 3600):
            mark_failed(app, record, "the export job was lost by the queue")
    return record


def mark_failed(app, record: JobRecord, error: str) -> None:
    """Set ``failed`` once (a concurrent completion wins) and announce it. Every export error
    becomes its message here: server paths (work and storage folders) are taken out."""
    error = without_paths(error)
    updated = JobRecord.objects(id=record.id, status__nin=list(TERMINAL)).update_one(
        set__status="failed", set__error=error[:4000], set__completedAt=utcnow())
    record.reload()
    if updated:
        emit(app, "export.failed", project_id=record.projectId, actor_id=record.createdBy,
             resource_type="export", resource_id=str(record.id), jobId=str(record.id),
             error=record.error, preset=record.params.get("preset"), batchId=record.batchId)


def job_json(app, record: JobRecord, *, reader=None, project=None) -> dict:
    """The API's view of an export. Given ``reader`` (and the ``project``), a completed export
    holding a video the reader may not view gets no ``downloadUrl``: its render shows it."""
    from .previews import preview_urls

    result = record.result or {}
    url = None
    previews = {"posterUrl": None, "contactSheetUrl": None}
    if record.status == "completed" and result.get("storageKey"):
        hidden = reader is not None and project is not None and \
            hides_scenes(app, project, reader, record.params.get("sceneIds") or [])
        if not hidden:  # the poster and contact sheet show the scenes as much as the video does
            url = download_url(app, result["storageKey"], result.get("downloadName"), result.get("contentType"))
            previews = preview_urls(app, result)
    job_id = str(record.id)
    return {
        "id": job_id, "jobId": job_id, "status": record.status, "progress": round(record.progress or 0, 1),
        "downloadUrl": url, "error": record.error, "createdAt": isoformat(record.createdAt),
        "startedAt": isoformat(record.startedAt), "completedAt": isoformat(record.completedAt),
        "preset": record.params.get("preset"), "outputFilename": record.params.get("outputFilename"),
        "sceneCount": len(record.params.get("sceneIds") or ()), "batchId": record.batchId,
        "attempts": record.attempts, "size": result.get("size"), "duration": result.get("duration"),
        "downloadName": result.get("downloadName"), "history": list(record.history or ()), **previews,
        **{name: result.get(name) for name in WORK_COUNTS},
    }


def list_jobs(app, project, limit: int = 50, offset: int = 0) -> tuple[list[JobRecord], int]:
    query = JobRecord.objects(kind=KIND, projectId=str(project.id))
    total = query.count()
    records = list(query.order_by("-createdAt", "-id").skip(offset).limit(limit))
    return [reconcile(app, r) for r in records], total


def batch_status(app, project, batch_id: str) -> tuple[str, float, list[JobRecord]]:
    """Aggregate: all completed → completed; all failed → failed; some of each and nothing
    left to run → partial; anything running → processing; all waiting → queued."""
    records = list(JobRecord.objects(kind=KIND, projectId=str(project.id), batchId=batch_id)
                   .order_by("createdAt", "id"))
    if not records:
        raise NotFound("batch not found")
    records = [reconcile(app, r) for r in records]
    statuses = [r.status for r in records]
    done = [s for s in statuses if s in TERMINAL]
    if len(done) == len(statuses):
        if all(s == "completed" for s in statuses):
            status = "completed"
        elif all(s == "failed" for s in statuses):
            status = "failed"
        else:
            status = "partial"
    elif all(s == "queued" for s in statuses):
        status = "queued"
    else:
        status = "processing"
    progress = sum((100.0 if r.status in TERMINAL else r.progress or 0) for r in records) / len(records)
    return status, round(progress, 1), records
