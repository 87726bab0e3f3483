"""Invitations: one-time tokens (stored hashed) that turn into a membership when the invitee accepts."""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from typing import Any

from mongoengine.errors import NotUniqueError

from core.errors import AladdinError, Conflict, NotFound
from core.events import emit
from core.models import Membership, Project, User, hash_token, utcnow
from core.projects import add_member

from .models import INVITABLE_ROLES, Invitation

log = logging.getLogger("aladdin.team")

TOKEN_PREFIX = "inv_"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")


class InvitationGone(AladdinError):
    status = 410


def ttl(app) -> dt.timedelta:
    """How long an invitation stays valid: ``ALADDIN_INVITATION_TTL_DAYS`` (default 7)."""
    days = app.extensions["aladdin"].settings.get("INVITATION_TTL_DAYS", 7.0)
    if days <= 0:
        raise RuntimeError("ALADDIN_INVITATION_TTL_DAYS must be positive")
    return dt.timedelta(days=days)


def accept_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/api/v1/invitations/{token}/accept"


def user_by_email(email: str) -> User | None:
    return User.by_email(email)


def _actor_id(actor) -> str | None:
    return str(actor.id) if actor is not None and getattr(actor, "id", None) else None


def create(app, project: Project, email: str, role: str, inviter=None, *,
           base_url: str) -> tuple[Invitation, str, str, dict]:
    """Invite ``email`` as ``role``; returns the invitation, its token, accept URL and delivery outcome.

    The token leaves this function once and is kept only as a SHA-256 hash."""
    email = (email or "").strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise AladdinError(f"{email!r} is not a valid email address", status=422)
    if role not in INVITABLE_ROLES:
        raise AladdinError("role must be editor, collaborator or viewer; ownership is only reached by "
                           "transfer-ownership", status=400)
    user = user_by_email(email)
    if user is not None and Membership.objects(projectId=str(project.id), userId=str(user.id)).first():
        raise Conflict(f"{email} is already a member of this project", userId=str(user.id))
    existing = Invitation.objects(projectId=str(project.id), email=email, status="pending",
                                  expiresAt__gt=utcnow()).first()
    if existing is not None:
        raise Conflict(f"{email} already has a pending invitation; revoke it to invite again",
                       invitationId=str(existing.id))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    invitation = Invitation(projectId=str(project.id), email=email, role=role, tokenHash=hash_token(token),
                            invitedBy=_actor_id(inviter), expiresAt=utcnow() + ttl(app))
    invitation.save()
    emit(app, "invitation.created", project_id=str(project.id), actor_id=_actor_id(inviter),
         resource_type="invitation", resource_id=str(invitation.id), email=email, role=role)
    url = accept_url(base_url, token)
    return invitation, token, url, deliver(app, project, invitation, url, inviter)


def deliver(app, project: Project, invitation: Invitation, url: str, inviter=None) -> dict:
    """Hand the message to ``aladdin_send_invitation``; a failed delivery leaves the invitation
    valid (the inviter still holds the link) and is reported, not raised."""
    payload: dict[str, Any] = {
        **invitation.to_json(),
        "projectName": project.name, "projectSlug": project.slug,
        "invitedBy": getattr(inviter, "name", None) or getattr(inviter, "email", None) or "an Aladdin operator",
        "invitedByEmail": getattr(inviter, "email", None),
    }
    ext = app.extensions["aladdin"]
    try:
        result = ext.pm.hook.aladdin_send_invitation(app=app, invitation=payload, accept_url=url)
    except Exception as exc:  # a delivery plugin's failure must not undo a valid invitation
        log.exception("invitation %s could not be delivered", invitation.id)
        return {"delivered": False, "error": f"{type(exc).__name__}: {exc}"}
    if isinstance(result, dict):
        return {"delivered": bool(result.get("delivered", True)), **{k: v for k, v in result.items() if k != "delivered"}}
    return {"delivered": bool(result)}


def find_for_project(project: Project, invitation_id: str) -> Invitation:
    if not re.fullmatch(r"[0-9a-f]{24}", invitation_id or ""):
        raise NotFound("invitation not found")
    invitation = Invitation.objects(id=invitation_id, projectId=str(project.id)).first()
    if invitation is None:
        raise NotFound("invitation not found")
    return invitation


def listing(project: Project, status: str = "pending") -> list[dict]:
    """Invitations of ``project`` by effective status (``pending`` excludes expired ones; ``all``)."""
    qs = Invitation.objects(projectId=str(project.id)).order_by("-createdAt", "-id")
    now = utcnow()
    if status == "pending":
        qs = qs.filter(status="pending", expiresAt__gt=now)
    elif status == "expired":
        qs = qs.filter(status="pending", expiresAt__lte=now)
    elif status in ("accepted", "revoked"):
        qs = qs.filter(status=status)
    return [inv.to_json() for inv in qs]


def revoke(app, project: Project, invitation_id: str, actor=None) -> Invitation:
    invitation = find_for_project(project, invitation_id)
    now = utcnow()
    changed = Invitation.objects(id=invitation.id, status="pending").update_one(
        set__status="revoked", set__revokedAt=now, set__revokedBy=_actor_id(actor))
    if not changed:
        invitation.reload()
        raise Conflict(f"the invitation is already {invitation.status}", invitationStatus=invitation.status)
    invitation.reload()
    emit(app, "invitation.revoked", project_id=str(project.id), actor_id=_actor_id(actor),
         resource_type="invitation", resource_id=str(invitation.id), email=invitation.email,
         role=invitation.role)
    return invitation


def _refuse_unusable(invitation: Invitation) -> None:
    if invitation.status == "accepted":
        raise Conflict("this invitation has already been used", reason="used")
    if invitation.status == "revoked":
        raise InvitationGone("this invitation was revoked", reason="revoked")
    if invitation.expired:
        raise InvitationGone("this invitation has expired; ask for a new one", reason="expired",
                             expiresAt=invitation.to_json()["expiresAt"])


def by_token(token: object) -> Invitation:
    """The invitation a link's token names; 404 otherwise."""
    invitation = None
    if isinstance(token, str) and token.startswith(TOKEN_PREFIX) and len(token) < 200:
        invitation = Invitation.objects(tokenHash=hash_token(token)).first()
    if invitation is None:
        raise NotFound("invitation not found: the link is invalid", reason="unknown")
    return invitation


def describe(token: str) -> dict:
    """What the invitation page shows its holder: the project, the role, the address it was sent
    to and whether that address has an account (sign in) or not (sign up)."""
    invitation = by_token(token)
    project = Project.objects(id=invitation.projectId).first()
    return {"email": invitation.email, "role": invitation.role, "status": invitation.effective_status,
            "expiresAt": invitation.to_json()["expiresAt"], "projectName": project.name if project else None,
            "accountExists": User.by_email(invitation.email) is not None}


def sign_up_and_accept(app, token: str, name: object, password: object):
    """A new person's one step: an account for the invited address, with a password, and the
    membership. Nothing is left behind if any part is refused."""
    from core.passwords import check_new_password, hash_password

    invitation = by_token(token)
    _refuse_unusable(invitation)
    if User.by_email(invitation.email) is not None:
        raise Conflict("an account with this email address exists: sign in, then accept", reason="account_exists")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
        raise AladdinError("a name of 1 to 200 characters is required", status=422)
    check_new_password(password, invitation.email)
    try:
        user = User(email=invitation.email, name=name.strip(), passwordHash=hash_password(password)).save()
    except NotUniqueError:  # the same link used twice at once: one account, one acceptance
        raise Conflict("an account with this email address exists: sign in, then accept", reason="account_exists")
    try:
        accepted = accept(app, token, user)
    except Exception:
        user.delete()
        raise
    return user, accepted


def accept(app, token: str, user: User) -> tuple[Invitation, Project, Membership]:
    """Turn a pending invitation into a membership for ``user``, whose email must match.

    The invitation is claimed with a compare-and-set so a token works once even under
    concurrent accepts; if the membership then cannot be made the claim is undone."""
    invitation = by_token(token)
    _refuse_unusable(invitation)
    if (user.email or "").strip().lower() != invitation.email:
        raise AladdinError("this invitation was sent to a different email address", status=403,
                           reason="email_mismatch")
    project = Project.objects(id=invitation.projectId).first()
    if project is None:
        raise InvitationGone("the project of this invitation no longer exists", reason="project_deleted")
    if Membership.objects(projectId=str(project.id), userId=str(user.id)).first():
        raise Conflict("you are already a member of this project", reason="member")
    now = utcnow()
    claimed = Invitation.objects(id=invitation.id, status="pending", expiresAt__gt=now).update_one(
        set__status="accepted", set__acceptedAt=now, set__acceptedBy=str(user.id))
    if not claimed:
        invitation.reload()
        _refuse_unusable(invitation)
        raise Conflict("this invitation can no longer be accepted", reason="used")
    inviter = User.objects(id=invitation.invitedBy).first() if invitation.invitedBy and \
        re.fullmatch(r"[0-9a-f]{24}", invitation.invitedBy) else None
    try:
        member = add_member(app, project, user, invitation.role, added_by=inviter)
    except Exception:
        Invitation.objects(id=invitation.id, status="accepted", acceptedBy=str(user.id)).update_one(
            set__status="pending", unset__acceptedAt=True, unset__acceptedBy=True)
        raise
    invitation.reload()
    emit(app, "invitation.accepted", project_id=str(project.id), actor_id=str(user.id),
         resource_type="invitation", resource_id=str(invitation.id), email=invitation.email,
         role=invitation.role)
    return invitation, project, member
