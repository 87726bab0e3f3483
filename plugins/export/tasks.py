"""RQ job functions of the export plugin, run as ``core.worker.execute("plugins.export.tasks:...", ...)``.

A render goes to a private temporary directory; only a verified file is uploaded to storage."""
from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path

from core.errors import without_paths
from core.events import emit
from core.models import JobRecord, Project, isoformat, utcnow

from . import service
from .ffmpeg import RenderError
from .posters import Caption
from .previews import delete_previews, scene_caption, store_previews
from .probe import Scene
from .sanitize import sanitize_filename

log = logging.getLogger("aladdin.export")

DOWNLOAD_SHARE = 5.0    # progress points for fetching scene files
RENDER_SHARE = 90.0     # ... for ffmpeg/MoviePy; the rest is the upload


class PermanentExportError(Exception):
    """Retrying cannot help (a corrupt or missing scene, a deleted project or preset)."""


class _Progress:
    """Save progress to the JobRecord and emit ``export.progress`` whenever it advanced by
    ``step`` points (at most 5, so clients see it at least every 5 %)."""

    def __init__(self, app, record: JobRecord, step: float):
        self.app, self.record = app, record
        self.step = max(0.5, min(5.0, step))
        self.last = -100.0

    def __call__(self, pct: float, force: bool = False) -> None:
        pct = max(0.0, min(100.0, round(pct, 1)))
        if not force and pct - self.last < self.step:
            return
        self.last = pct
        JobRecord.objects(id=self.record.id, status="processing").update_one(set__progress=pct)
        emit(self.app, "export.progress", project_id=self.record.projectId, actor_id=self.record.createdBy,
             resource_type="export", resource_id=str(self.record.id), progress=pct,
             jobId=str(self.record.id), batchId=self.record.batchId)


def _work_root(app) -> Path:
    root = Path(app.extensions["aladdin"].settings.data_dir) / "tmp" / "exports"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _fresh_workdir(app, job_id: str) -> Path:
    """A new directory for this attempt; leftovers of a killed attempt of the same job go first."""
    root = _work_root(app)
    for stale in root.glob(f"{job_id}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    workdir = root / f"{job_id}-{uuid.uuid4().hex[:8]}"
    workdir.mkdir()
    return workdir


def _retries_left() -> int:
    from rq import get_current_job

    job = get_current_job()
    return int(job.retries_left or 0) if job is not None else 0


def _remember_attempt(record: JobRecord, outcome: str, error: str) -> None:
    JobRecord.objects(id=record.id).update_one(push__history={
        "attempt": record.attempts, "startedAt": isoformat(record.startedAt), "progress": round(record.progress or 0, 1),
        "outcome": outcome, "error": error})


def run_export(app, job_id: str) -> dict:
    """Render export ``job_id``: fetch scenes, render, verify, upload, mark completed.

    Permanent failures are recorded as ``failed`` at once; others are re-raised so RQ
    retries them, and recorded as ``failed`` only when no attempt is left."""
    record = JobRecord.objects(id=job_id, kind=service.KIND).first()
    if record is None:
        log.warning("export %s: no such job record (deleted?)", job_id)
        return {"status": "missing"}
    if record.status in service.TERMINAL:
        return {"status": record.status}  # a retry after success, or a reconciled failure
    retries_left = _retries_left()
    if record.status == "processing" and record.attempts:
        # The previous attempt's worker died mid-job (RQ re-queued it as abandoned): keep what it reached.
        _remember_attempt(record, "abandoned", "its worker stopped before the attempt finished")
    JobRecord.objects(id=record.id).update_one(set__status="processing", set__startedAt=utcnow(),
                                               set__progress=0, unset__error=True, inc__attempts=1)
    record.reload()
    progress = _Progress(app, record, service.setting(app, "EXPORT_PROGRESS_STEP", 2.0))
    progress(0, force=True)
    workdir = _fresh_workdir(app, job_id)
    try:
        result = _render_and_store(app, record, workdir, progress)
    except PermanentExportError as exc:
        service.mark_failed(app, record, str(exc))
        return {"status": "failed", "error": without_paths(str(exc))}
    except Exception as exc:
        message = without_paths(str(exc) or type(exc).__name__)
        if retries_left > 0:
            log.warning("export %s attempt %s failed, %s retries left: %s", job_id, record.attempts,
                        retries_left, message)
            record.reload()
            _remember_attempt(record, "error", message[:4000])
            JobRecord.objects(id=record.id, status="processing").update_one(
                set__status="queued", set__progress=0, set__result__lastAttemptError=message[:4000])
        else:
            service.mark_failed(app, record, message)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    updated = JobRecord.objects(id=record.id, status="processing").update_one(
        set__status="completed", set__progress=100, set__result=result, set__completedAt=utcnow(),
        unset__error=True)
    if not updated:  # expired or failed meanwhile: do not leave an unreferenced file behind
        app.extensions["aladdin"].storage.delete(result["storageKey"])
        delete_previews(app, result)
        return {"status": "superseded"}
    emit(app, "export.progress", project_id=record.projectId, actor_id=record.createdBy,
         resource_type="export", resource_id=job_id, progress=100.0, jobId=job_id, batchId=record.batchId)
    emit(app, "export.completed", project_id=record.projectId, actor_id=record.createdBy,
         resource_type="export", resource_id=job_id, jobId=job_id, preset=record.params.get("preset"),
         storageKey=result["storageKey"], size=result["size"], duration=result["duration"],
         downloadName=result["downloadName"], batchId=record.batchId)
    return {"status": "completed", **result}


def _load_scenes(app, project, record: JobRecord, workdir: Path, progress: _Progress,
                 captions: list[Caption] | None = None) -> list[Scene]:
    from bson import ObjectId

    ext = app.extensions["aladdin"]
    ids = record.params.get("sceneIds") or []
    # The job reads as the user who asked for the export, under their rules as they are now:
    # a video (or media file) hidden from them since the request is treated as deleted.
    reader = service.requester(record)
    if reader is None:
        raise PermanentExportError("the user who requested the export no longer exists")
    visible_videos = ext.content.read_filter(reader, project, "videos")
    visible_media = ext.content.read_filter(reader, project, "media")
    videos = {str(d["_id"]): d for d in ext.content.collection(project, "videos").find(
        visible_videos.combine({"_id": {"$in": [ObjectId(i) for i in ids if ObjectId.is_valid(i)]}}))}
    scenes = []
    for n, scene_id in enumerate(ids):
        video = videos.get(scene_id)
        if video is None:
            raise PermanentExportError(f"scene video {scene_id} was deleted before the export ran")
        label = service.scene_label(video)
        media_id = (video.get("content") or {}).get("mediaId")
        media = ext.content.collection(project, "media").find_one(
            visible_media.combine({"_id": ObjectId(media_id)})) \
            if isinstance(media_id, str) and ObjectId.is_valid(media_id) else None
        if media is None or not media.get("storageKey"):
            raise PermanentExportError(f"{label}: its media file {media_id} does not exist")
        suffix = Path(sanitize_filename(media.get("filename") or "scene")).suffix[:8]
        path = workdir / f"scene-{n:04d}{suffix}"
        try:
            ext.storage.download_to(media["storageKey"], path)
        except KeyError:
            raise PermanentExportError(f"{label}: its media file is missing from storage") from None
        scenes.append(Scene(path=str(path), name=label))
        if captions is not None:
            captions.append(scene_caption(video, n))
        progress(DOWNLOAD_SHARE * (n + 1) / len(ids))
    return scenes


def _render_and_store(app, record: JobRecord, workdir: Path, progress: _Progress) -> dict:
    from .pipeline import render_export

    ext = app.extensions["aladdin"]
    project = Project.objects(id=record.projectId).first()
    if project is None:
        raise PermanentExportError("the project was deleted before the export ran")
    params = record.params
    preset = service.all_presets(app).get(params.get("preset"))
    if preset is None:
        raise PermanentExportError(f"preset {params.get('preset')!r} is no longer available")
    captions: list[Caption] = []
    scenes = _load_scenes(app, project, record, workdir, progress, captions)
    name = params.get("outputFilename") or project.slug
    output = workdir / f"render.{preset.extension}"
    metadata = {"title": name,
                "comment": f"Exported by Aladdin from project {project.name} ({preset.id})",
                "date": utcnow().strftime("%Y-%m-%d")}

    def on_render(pct: float) -> None:
        progress(DOWNLOAD_SHARE + RENDER_SHARE * pct / 100.0)

    try:
        made = render_export(app, project, scenes, preset, workdir, output, metadata=metadata,
                             captions=captions, title_card=params.get("titleCard"),
                             transition=params.get("transition"), on_progress=on_render,
                             timeout=service.setting(app, "EXPORT_TIMEOUT", 1800))
        info = made.info
    except RenderError as exc:
        if "timed out" in exc.message or exc.message.startswith("ffmpeg failed with exit code -"):
            raise  # killed by a signal (OOM, operator) or too slow: another attempt may succeed
        raise PermanentExportError(str(exc)) from exc
    except ValueError as exc:
        raise PermanentExportError(str(exc)) from exc
    download_name = f"{name}.{preset.extension}"
    if record.batchId:
        download_name = f"{name}-{preset.id}.{preset.extension}"
    # The key is ASCII (and keeps its extension); the download name and title keep the letters.
    key = f"projects/{project.slug}/exports/{record.id}/" \
          f"{sanitize_filename(download_name, default=f'{project.slug}.{preset.extension}')}"
    # The render was verified by render_concat/render_composed; upload only now, atomically.
    size = ext.storage.put_file(output, key, content_type=preset.mime_type)
    return {"storageKey": key, "size": size, "duration": round(info.duration, 3),
            "downloadName": download_name, "width": info.width, "height": info.height,
            "contentType": preset.mime_type, **made.counts(),
            **store_previews(app, project, str(record.id), made.poster, made.contact_sheet)}


# ----------------------------------------------------------------------------- cleanups

def cleanup_exports(app) -> dict:
    """Scheduled: expire old exports, then schedule the next run."""
    from .cleanup import expire_exports, schedule_cleanup

    try:
        count = expire_exports(app)
    finally:
        schedule_cleanup(app, force=True)
    return {"expired": count}

