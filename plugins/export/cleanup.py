"""Retention: exports older than ``EXPORT_RETENTION_DAYS`` leave storage and become ``expired``.

Run by a self-rescheduling RQ job (``queue.enqueue_in``; needs a worker with its scheduler, as
``cli.py worker`` runs) and by ``cli.py exports cleanup``."""
from __future__ import annotations

import datetime as dt
import logging
import time

from core.models import JobRecord, utcnow

from . import service
from .previews import delete_previews
from .segment_store import expire_segments

log = logging.getLogger("aladdin.export")


def expire_exports(app, *, days: float | None = None, now: dt.datetime | None = None) -> int:
    """Delete completed exports older than ``days`` from storage and mark them ``expired``."""
    days = service.setting(app, "EXPORT_RETENTION_DAYS", 7.0) if days is None else days
    cutoff = (now or utcnow()) - dt.timedelta(days=float(days))
    storage = app.extensions["aladdin"].storage
    count = 0
    for record in JobRecord.objects(kind=service.KIND, status="completed", completedAt__lt=cutoff):
        key = (record.result or {}).get("storageKey")
        if key:
            storage.delete(key)  # first the bytes: a record saying "expired" never points at a live file
        delete_previews(app, record.result or {})
        updated = JobRecord.objects(id=record.id, status="completed").update_one(
            set__status="expired", set__result__expiredAt=utcnow())
        if updated:
            count += 1
    if count:
        log.info("expired %d exports completed before %s", count, cutoff.isoformat())
    expire_segments(app, cutoff)  # cached segments follow the same retention, counted from last use
    return count


def _guard_key(app) -> str:
    return f"aladdin:export-cleanup:{app.extensions['aladdin'].settings.platform_db}"


def schedule_cleanup(app, *, force: bool = False):
    """Make sure one cleanup run is scheduled ``EXPORT_CLEANUP_INTERVAL`` seconds ahead
    (3600; 0 turns it off). A Redis guard key keeps the processes of one installation from
    scheduling it twice; if the chain ever breaks, the guard expires and the next start
    schedules it again."""
    interval = int(service.setting(app, "EXPORT_CLEANUP_INTERVAL", 3600))
    if interval <= 0:
        return None
    jobs = app.extensions["aladdin"].jobs
    try:
        if not jobs.redis.set(_guard_key(app), str(time.time()), nx=not force, ex=interval * 2):
            return None
        slot = int(time.time() // interval) + 1
        job_id = f"export-cleanup-{app.extensions['aladdin'].settings.platform_db}-{slot}"
        return jobs.enqueue_in(dt.timedelta(seconds=interval), "plugins.export.tasks:cleanup_exports",
                               job_id=job_id, queue=service.queue_name(app), result_ttl=interval)
    except Exception as exc:  # Redis down at start-up must not stop the app
        log.warning("could not schedule the export cleanup: %s", exc)
        return None
