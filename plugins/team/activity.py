"""The activity log: what happened in a project, recorded from core events, read newest first."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from bson import ObjectId

from core.db import find_by_ids
from core.events import Event
from core.models import Membership, is_object_id, utcnow

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
    # A prefix as a range ("content." <= action < "content/"), not a regular expression: it
    # reads the index on every server, and the embedded one cannot take a regex in a query.
    return {"action__gte": action + ".", "action__lt": action + chr(ord(".") + 1)}


# What ``team:view_details`` guards: who connected from where, and invitees' addresses.
PERSONAL_FIELDS = ("ip", "userAgent")
PERSONAL_DETAILS = ("email",)


def without_personal(entry: dict) -> dict:
    """The same entry without the fields only ``team:view_details`` may see."""
    entry = {k: v for k, v in entry.items() if k not in PERSONAL_FIELDS}
    if isinstance(entry.get("details"), dict):
        entry["details"] = {k: v for k, v in entry["details"].items() if k not in PERSONAL_DETAILS}
    return entry


def readable_by(ext, user, project) -> dict | None:
    """A condition on entries: those about a content document (``content.*``, a clone's root)
    only where ``user`` may view that document now, decided by the read rules
    (``content.read_filter``), so totals and pages stay exact; None when no rule hides anything.

    Per collection: no rule, every entry; otherwise the documents the entries name are looked up
    under the reader's filter (a bounded ``_id`` lookup, never a scan of the collection). An entry
    about a document that no longer exists cannot be decided, so it shows only to readers no rule
    restricts (what cannot be decided shows nothing, as everywhere else)."""
    project_id = str(project.id)
    restricted = {}
    for name in ext.content_types:
        reads = ext.content.read_filter(user, project, name)
        if not reads.everything:
            restricted[name] = reads
    if not restricted:
        return None
    clauses: list[dict] = [{"resourceType": {"$nin": sorted(restricted)}}]
    for name, reads in restricted.items():
        if reads.nothing:
            continue
        named = ActivityEntry.objects(projectId=project_id, resourceType=name).distinct("resourceId")
        ids = [ObjectId(i) for i in named if is_object_id(i)]
        visible = [str(d["_id"]) for d in find_by_ids(ext.content.collection(project, name), ids, reads.query,
                                                      projection={"_id": 1})]
        if visible:
            clauses.append({"resourceType": name, "resourceId": {"$in": visible}})
    return {"$or": clauses}


def query(project_id: str, *, user_id: str | None = None, action: str | None = None,
          resource_type: str | None = None, limit: int = 50, offset: int = 0,
          personal: bool = True, readable: dict | None = None) -> tuple[list[dict], int]:
    """A page of the log, newest first; ``personal=False`` leaves out IPs, user agents and
    e-mail addresses (see :func:`without_personal`); ``readable`` (see :func:`readable_by`)
    keeps out entries about documents the reader may not view."""
    filters: dict[str, Any] = {"projectId": project_id}
    if readable:
        filters["__raw__"] = readable
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
