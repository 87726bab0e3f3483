"""The append-only audit log: sensitive actions with a severity, readable by the owner only."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.events import Event
from core.models import User

from .activity import IGNORED, action_filter, clean_details
from .models import AuditEntry

CRITICAL = frozenset({"project.deleted", "project.ownership_transferred"})
# Deletes, exports, shares (invitations) and member removal.
HIGH = frozenset({"content.deleted", "member.removed", "invitation.created", "invitation.accepted",
                  "invitation.revoked"})
MEDIUM = frozenset({"member.added", "member.role_changed", "project.created"})
MAX_PAGE = 200


def severity_of(name: str) -> str | None:
    """The severity an event is audited with, or None when it is not a sensitive action."""
    if name in IGNORED:
        return None
    if name in CRITICAL:
        return "critical"
    if name in HIGH or name.startswith("export."):
        return "high"
    if name in MEDIUM or name.startswith("clone."):
        return "medium"
    return None


def record(event: Event) -> AuditEntry | None:
    severity = severity_of(event.name)
    if not event.project_id or severity is None:
        return None
    email = None
    if event.actor_id:
        user = User.objects(id=event.actor_id).only("email").first() if len(event.actor_id) == 24 else None
        email = user.email if user else None
    entry = AuditEntry(projectId=event.project_id, actorId=event.actor_id, actorEmail=email,
                       action=event.name, severity=severity, resourceType=event.resource_type,
                       resourceId=event.resource_id, details=clean_details(event.details or {}),
                       ip=event.ip, userAgent=(event.user_agent or None) and event.user_agent[:500],
                       createdAt=event.timestamp.replace(microsecond=event.timestamp.microsecond // 1000 * 1000))
    entry.save()
    return entry


def query(project_id: str, *, user_id: str | None = None, action: str | None = None,
          start: dt.datetime | None = None, end: dt.datetime | None = None, severity: str | None = None,
          limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
    filters: dict[str, Any] = {"projectId": project_id}
    if user_id:
        filters["actorId"] = user_id
    if action:
        filters.update(action_filter(action))
    if severity:
        filters["severity"] = severity
    if start:
        filters["createdAt__gte"] = _naive_utc(start)
    if end:
        filters["createdAt__lte"] = _naive_utc(end)
    qs = AuditEntry.objects(**filters).order_by("-createdAt", "-id")
    total = qs.count()
    items = [e.to_json() for e in qs.skip(max(offset, 0)).limit(min(max(limit, 1), MAX_PAGE))]
    return items, total


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value
