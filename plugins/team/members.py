"""Members of a project: listing with user details, role changes, removal, ownership transfer."""

from __future__ import annotations

import re

from core.errors import AladdinError, NotFound
from core.models import Membership, Project, User, isoformat
from core.projects import remove_member, set_role, transfer_ownership

ID_RE = re.compile(r"^[0-9a-f]{24}\Z")


def member_json(member: Membership, user: User | None = None) -> dict:
    return {"id": member.userId, "userId": member.userId, "email": user.email if user else None,
            "name": user.name if user else None, "role": member.role, "addedAt": isoformat(member.addedAt),
            "addedBy": member.addedBy, "lastActiveAt": isoformat(member.lastActiveAt)}


def listing(project: Project) -> list[dict]:
    members = list(Membership.objects(projectId=str(project.id)).order_by("addedAt", "id"))
    ids = [m.userId for m in members if ID_RE.match(m.userId or "")]
    users = {str(u.id): u for u in User.objects(id__in=ids)}
    return [member_json(m, users.get(m.userId)) for m in members]


def get(project: Project, user_id: str) -> Membership:
    member = Membership.objects(projectId=str(project.id), userId=user_id).first() if ID_RE.match(user_id or "") else None
    if member is None:
        raise NotFound("member not found")
    return member


def change_role(app, project: Project, user_id: str, role: str, actor=None) -> dict:
    get(project, user_id)
    member = set_role(app, project, user_id, role, actor)  # refuses owner demotion and "owner"
    return member_json(member, User.objects(id=user_id).first())


def remove(app, project: Project, user_id: str, actor=None) -> None:
    get(project, user_id)
    remove_member(app, project, user_id, actor)  # refuses removing the owner


def transfer(app, project: Project, user_id: str, actor) -> list[dict]:
    """Make ``user_id`` (already a member) the owner; the previous owner stays on as editor."""
    if not ID_RE.match(user_id or ""):
        raise AladdinError("the new owner must already be a member of the project", status=400)
    transfer_ownership(app, project, user_id, actor)
    project.reload()
    return listing(project)
