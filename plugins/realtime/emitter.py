"""A write-only Socket.IO emitter: lets worker and CLI processes reach the rooms of the web servers."""

from __future__ import annotations

import threading
from typing import Any

import socketio

from core.app import socketio_channel

NAMESPACE = "/collab"


def project_room(project_id: str) -> str:
    return f"project:{project_id}"


class Emitter:
    """Publishes on the installation's Socket.IO Redis channel without listening to it, so any
    process (an RQ worker rendering an export included) can emit to connected clients."""

    def __init__(self, app):
        self.app = app
        self._manager = None
        self._lock = threading.Lock()

    @property
    def manager(self) -> socketio.RedisManager:
        if self._manager is None:
            with self._lock:
                if self._manager is None:
                    ext = self.app.extensions["aladdin"]
                    self._manager = socketio.RedisManager(
                        ext.jobs.url, channel=socketio_channel(ext.settings), write_only=True)
        return self._manager

    def emit(self, event: str, data: Any, *, room: str, skip_sid: str | None = None) -> None:
        self.manager.emit(event, data, namespace=NAMESPACE, room=room, skip_sid=skip_sid)

    def to_project(self, project_id: str, event: str, data: Any) -> None:
        self.emit(event, data, room=project_room(project_id))
