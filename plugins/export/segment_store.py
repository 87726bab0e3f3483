"""The segment cache: rendered segments (and the still of each scene segment) in the project's
storage under ``projects/<slug>/export-segments/``, indexed by their cache key in the platform
database so retention can see when each was last used.

Segments live under the project's prefix, so deleting the project removes their bytes with
everything else; its index entries go on ``project.deleted``. A segment unused for
``EXPORT_RETENTION_DAYS`` is removed by the export cleanup."""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import mongoengine as me
from pymongo.errors import DuplicateKeyError

from core.models import AppDocument, utcnow

log = logging.getLogger("aladdin.export")


class ExportSegment(AppDocument):
    projectId = me.StringField(required=True)
    key = me.StringField(required=True)
    storageKey = me.StringField(required=True)
    stillKey = me.StringField()
    kind = me.StringField()
    frames = me.IntField()
    size = me.IntField()
    createdAt = me.DateTimeField(default=utcnow)
    lastUsedAt = me.DateTimeField(default=utcnow)
    meta = {"collection": "export_segments",
            "indexes": [{"fields": ["projectId", "key"], "unique": True}, "lastUsedAt"]}


class ProbedMedia(AppDocument):
    """What probing a source file found, by its content hash: the same bytes probe the same, so a
    later export skips the probe (a decode of its first frame) of every unchanged scene."""

    projectId = me.StringField(required=True)
    digest = me.StringField(required=True)
    info = me.DictField()
    lastUsedAt = me.DateTimeField(default=utcnow)
    meta = {"collection": "export_probes",
            "indexes": [{"fields": ["projectId", "digest"], "unique": True}, "lastUsedAt"]}


def storage_prefix(project) -> str:
    return f"projects/{project.slug}/export-segments/"


class SegmentStore:
    """Look up, fetch and keep the segments of one project."""

    def __init__(self, app, project):
        self.storage = app.extensions["aladdin"].storage
        self.project = project
        self.project_id = str(project.id)

    def _keys(self, key: str, extension: str) -> tuple[str, str]:
        base = f"{storage_prefix(self.project)}{key[:2]}/{key}"
        return f"{base}.{extension}", f"{base}.png"

    def known(self, keys: list[str]) -> dict[str, ExportSegment]:
        return {s.key: s for s in ExportSegment.objects(projectId=self.project_id, key__in=list(set(keys)))}

    def fetch(self, entry: ExportSegment, path: Path, still_path: Path | None) -> bool:
        """Download a cached segment (and its still); False if its bytes are gone (a lost file is
        only a cache miss: the caller renders it again)."""
        try:
            self.storage.download_to(entry.storageKey, path)
            if still_path is not None:
                if not entry.stillKey:
                    return False
                self.storage.download_to(entry.stillKey, still_path)
        except KeyError:
            ExportSegment.objects(id=entry.id).delete()
            return False
        return True

    def keep(self, key: str, kind: str, frames: int, path: Path, extension: str,
             still_path: Path | None) -> None:
        """Store a freshly rendered (and checked) segment. A storage failure propagates: the
        export is retried like any other storage outage."""
        seg_key, still_key = self._keys(key, extension)
        size = self.storage.put_file(path, seg_key, content_type="application/octet-stream")
        if still_path is not None:
            self.storage.put_file(still_path, still_key, content_type="image/png")
        fields = dict(set__storageKey=seg_key, set__stillKey=still_key if still_path else None,
                      set__kind=kind, set__frames=frames, set__size=size, set__lastUsedAt=utcnow())
        try:
            ExportSegment.objects(projectId=self.project_id, key=key).update_one(
                upsert=True, set_on_insert__createdAt=utcnow(), **fields)
        except (me.NotUniqueError, DuplicateKeyError):  # another worker stored the same segment just now
            ExportSegment.objects(projectId=self.project_id, key=key).update_one(**fields)

    def touch(self, keys: list[str]) -> None:
        if keys:
            ExportSegment.objects(projectId=self.project_id, key__in=keys).update(set__lastUsedAt=utcnow())

    def probed(self, digests: list[str]) -> dict[str, dict]:
        found = {p.digest: dict(p.info) for p in ProbedMedia.objects(projectId=self.project_id,
                                                                   digest__in=list(set(digests)))}
        if found:
            ProbedMedia.objects(projectId=self.project_id, digest__in=list(found)).update(set__lastUsedAt=utcnow())
        return found

    def remember_probe(self, digest: str, info: dict) -> None:
        try:
            ProbedMedia.objects(projectId=self.project_id, digest=digest).update_one(
                upsert=True, set__info=info, set__lastUsedAt=utcnow())
        except (me.NotUniqueError, DuplicateKeyError):  # probed by another worker just now
            pass


def expire_segments(app, cutoff: dt.datetime) -> int:
    """Delete segments last used before ``cutoff`` (bytes first, then the index entry)."""
    storage = app.extensions["aladdin"].storage
    count = 0
    for entry in ExportSegment.objects(lastUsedAt__lt=cutoff):
        for key in (entry.storageKey, entry.stillKey):
            if key:
                storage.delete(key)
        if ExportSegment.objects(id=entry.id, lastUsedAt__lt=cutoff).delete():
            count += 1
    ProbedMedia.objects(lastUsedAt__lt=cutoff).delete()
    if count:
        log.info("expired %d cached export segments unused since %s", count, cutoff.isoformat())
    return count


def forget_project(project_id: str) -> int:
    """Drop the index entries of a deleted project (its storage prefix goes with the project)."""
    ProbedMedia.objects(projectId=str(project_id)).delete()
    return ExportSegment.objects(projectId=str(project_id)).delete()
