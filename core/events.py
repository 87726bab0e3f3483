"""Events: the one way plugins hear about each other (activity, progress, membership changes)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from flask import has_request_context, request

from .plugins import call_each


@dataclasses.dataclass
class Event:
    name: str                      # "content.created", "member.role_changed", "export.progress", ...
    project_id: str | None = None
    actor_id: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    ip: str | None = None
    user_agent: str | None = None
    timestamp: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))

    def to_json(self) -> dict:
        return {"name": self.name, "projectId": self.project_id, "actorId": self.actor_id,
                "resourceType": self.resource_type, "resourceId": self.resource_id,
                "details": self.details, "timestamp": self.timestamp.isoformat() + "Z"}


def emit(app, name: str, *, project_id: str | None = None, actor_id: str | None = None,
         resource_type: str | None = None, resource_id: str | None = None, **details: Any) -> Event:
    """Build an event (with the request's IP and user agent when there is one) and hand it to
    every ``aladdin_event`` implementation, each on its own (one that raises is logged, counted and
    does not stop the others: :func:`core.plugins.call_each`)."""
    event = Event(name=name, project_id=project_id, actor_id=actor_id, resource_type=resource_type,
                  resource_id=resource_id, details=details)
    if has_request_context():
        # The socket peer, or what ProxyFix made of X-Forwarded-For behind ALADDIN_TRUSTED_PROXIES
        # known proxies (core.app): a client's own header never reaches the logs.
        event.ip = request.remote_addr or None
        event.user_agent = request.headers.get("User-Agent")
    ext = app.extensions["aladdin"]
    # Every sink hears every event, whatever another sink does: events tell of what already happened.
    call_each(ext.pm, "aladdin_event", ext.plugin_failures, context=f" on {name}", app=app, event=event)
    return event
