"""The activity log: what happened in a project, recorded from core events, read newest first."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from core.events import Event
from core.models import Membership, utcnow

from .models import ActivityEntry

# High-volume progress ticks would drown the log; their outcome events are recorded instead.
IGNORED = frozenset({"export.progress", "clone.progress"})
RECORDED_PREFIXES = ("content.", "clone.", "export.", "invitation.", "member.")
RECORDED_NAMES = frozenset({"project.created", "project.ownership_transferred", "project.deleted"})
MAX_PAGE = 200


def is_recorded(name: str) -> bool:
    return name not in IGNORED and (name in RECORDED_NAMES or name.startswith(RECORDED_PREFIXES))


def clean_details(value: Any, depth: int = 0) -> Any:
    """Event details as BSON can hold them: string keys without ``.``/``$``, plain values."""
    if depth > 8:
        return str(value)
    if isinstance(value, dict):
        return {re.sub(r"[.$]", "_", str(k)): clean_details(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [clean_details(v, depth + 1) for v in value]
    if value is None or isinstance(value, (str, int, float, bool, dt.datetime)):
        return value
    return str(value)


def record(event: Event) -> ActivityEntry | None:
    if not event.project_id or not is_recorded(event.name):
        return None
    entry = ActivityEntry(projectId=event.project_id, actorId=event.actor_id, action=event.name,
                          resourceType=event.resource_type, resourceId=event.resource_id,
                          details=clean_details(event.details or {}), ip=event.ip,
                          userAgent=(event.user_agent or None) and event.user_agent[:500],
                          createdAt=event.timestamp.replace(microsecond=event.timestamp.microsecond // 1000 * 1000))
    entry.save()
    return entry


def touch_member(event: Event) -> None:
    """A member's ``lastActiveAt`` is the time of its latest recorded action in the project."""
    # member.added is attributed to the inviter even when the invitee accepted: not their activity.
    if event.project_id and event.actor_id and event.name not in IGNORED and event.name != "member.added":
        Membership.objects(projectId=event.project_id, userId=event.actor_id).update(set__lastActiveAt=utcnow())


def action_filter(action: str) -> dict:
    """``content.deleted`` matches exactly; ``content`` / ``content.*`` match the whole family."""
    action = action.strip()
    if action.endswith(".*"):
        action = action[:-2]
    if "." in action:
        return {"action": action}
    return {"action__startswith": action + "."}


# What ``team:view_details`` guards: who connected from where, and invitees' addresses.
PERSONAL_FIELDS = ("ip", "userAgent")
PERSONAL_DETAILS = ("email",)


def without_personal(entry: dict) -> dict:
    """The same entry without the fields only ``team:view_details`` may see."""
    entry = {k: v for k, v in entry.items() if k not in PERSONAL_FIELDS}
    if isinstance(entry.get("details"), dict):
        entry["details"] = {k: v for k, v in entry["details"].items() if k not in PERSONAL_DETAILS}
    return entry


def query(project_id: str, *, user_id: str | None = None, action: str | None = None,
          resource_type: str | None = None, limit: int = 50, offset: int = 0,
          personal: bool = True) -> tuple[list[dict], int]:
    """A page of the log, newest first; ``personal=False`` leaves out IPs, user agents and
    e-mail addresses (see :func:`without_personal`)."""
    filters: dict[str, Any] = {"projectId": project_id}
    if user_id:
        filters["actorId"] = user_id
    if action:
        filters.update(action_filter(action))
    if resource_type:
        filters["resourceType"] = resource_type
    qs = ActivityEntry.objects(**filters).order_by("-createdAt", "-id")
    total = qs.count()
    items = [e.to_json() for e in qs.skip(max(offset, 0)).limit(min(max(limit, 1), MAX_PAGE))]
    if not personal:
        items = [without_personal(item) for item in items]
    return items, total
