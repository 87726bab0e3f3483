"""Helpers (no tests) shared by the export integration tests: scene uploads, in-process RQ workers, events."""
from __future__ import annotations

import os
import uuid

from bson import ObjectId

from core.hookspecs import hookimpl
from core.media import media_key
from tests.conftest import make_settings


def export_settings(tmp_path, redis_url, **overrides):
    """Each test gets its own RQ queue, so workers never pick up another test's jobs."""
    values = {"export_queue": "exports-" + uuid.uuid4().hex[:10], "export_backoff_base": 0,
              "export_cleanup_interval": 0, "export_webhook_backoff_base": 0,
              "export_webhook_allow_private": 1}  # the test receiver listens on loopback
    values.update(overrides)
    return make_settings(tmp_path, redis_url, **values)


def add_scene(app, project, user, path, number, *, status="completed", title=None):
    """Store ``path`` as a media document and add a ``videos`` document pointing at it."""
    ext = app.extensions["aladdin"]
    media_id = ObjectId()
    name = os.path.basename(path)
    key = media_key(project.slug, media_id, name)
    size = ext.storage.put_file(path, key, content_type="video/mp4")
    ext.content.create(project, "media", {"_id": media_id, "filename": name, "contentType": "video/mp4",
                                          "size": size, "storageKey": key,
                                          "content": {"title": name, "kind": "video"}}, user)
    content = {"mediaId": str(media_id)}
    if title:
        content["title"] = title
    return ext.content.create(project, "videos", {"sceneNumber": number, "status": status,
                                                  "content": content}, user)


def run_jobs(app) -> None:
    """Drain the app's export queue with an in-process RQ worker (no fork)."""
    from rq import SimpleWorker

    from core.worker import set_process_app
    from plugins.export.service import queue_name

    set_process_app(app)
    ext = app.extensions["aladdin"]
    SimpleWorker([ext.jobs.queue(queue_name(app))], connection=ext.jobs.redis).work(burst=True)


class EventLog:
    """A plugin object that records every event (registered on a live app's plugin manager)."""

    def __init__(self):
        self.events = []

    @hookimpl
    def aladdin_event(self, app, event):
        self.events.append(event)

    def named(self, name):
        return [e for e in self.events if e.name == name]


def capture_events(app) -> EventLog:
    log = EventLog()
    app.extensions["aladdin"].pm.register(log)
    return log


def local_path(app, url: str) -> str:
    """The path part of a signed URL, for the Flask test client."""
    from urllib.parse import urlsplit

    return urlsplit(url).path
