"""The team plugin's platform collections: invitations, outbox, activity log, append-only audit log."""

from __future__ import annotations

import mongoengine as me
from mongoengine.queryset import QuerySet

from core.compat.mongoengine import is_new
from core.crypto import EncryptedStringField
from core.models import AppDocument, isoformat, utcnow

INVITABLE_ROLES = ("editor", "collaborator", "viewer")
INVITATION_STATUSES = ("pending", "accepted", "revoked")


class Invitation(AppDocument):
    """An invitation keeps only the SHA-256 of its token: the token itself is shown once."""

    projectId = me.StringField(required=True)
    email = me.StringField(required=True)          # lower-cased: matching is case-insensitive
    role = me.StringField(required=True, choices=INVITABLE_ROLES)
    tokenHash = me.StringField(required=True, unique=True)
    status = me.StringField(default="pending", choices=INVITATION_STATUSES)
    invitedBy = me.StringField()
    createdAt = me.DateTimeField(default=utcnow)
    expiresAt = me.DateTimeField(required=True)
    acceptedAt = me.DateTimeField()
    acceptedBy = me.StringField()
    revokedAt = me.DateTimeField()
    revokedBy = me.StringField()
    meta = {"collection": "invitations",
            "indexes": [("projectId", "status", "-createdAt"), ("projectId", "email")]}

    @property
    def expired(self) -> bool:
        return self.status == "pending" and self.expiresAt <= utcnow()

    @property
    def effective_status(self) -> str:
        return "expired" if self.expired else self.status

    def to_json(self) -> dict:
        return {"id": str(self.id), "projectId": self.projectId, "email": self.email, "role": self.role,
                "status": self.effective_status, "invitedBy": self.invitedBy,
                "createdAt": isoformat(self.createdAt), "expiresAt": isoformat(self.expiresAt),
                "acceptedAt": isoformat(self.acceptedAt), "acceptedBy": self.acceptedBy,
                "revokedAt": isoformat(self.revokedAt), "revokedBy": self.revokedBy}


class OutboxMessage(AppDocument):
    """A message for an operator to read or relay; body and link are encrypted at rest
    because the link carries the one-time invitation token."""

    kind = me.StringField(default="invitation")
    channel = me.StringField(default="outbox", choices=("outbox", "smtp"))
    status = me.StringField(default="queued", choices=("queued", "sent", "failed"))
    projectId = me.StringField()
    invitationId = me.StringField()
    to = me.StringField(required=True)
    subject = me.StringField(required=True)
    body = EncryptedStringField(required=True)
    acceptUrl = EncryptedStringField()
    error = me.StringField()
    createdAt = me.DateTimeField(default=utcnow)
    sentAt = me.DateTimeField()
    meta = {"collection": "outbox", "indexes": [("projectId", "-createdAt"), "invitationId"]}

    def to_json(self) -> dict:
        return {"id": str(self.id), "kind": self.kind, "channel": self.channel, "status": self.status,
                "projectId": self.projectId, "invitationId": self.invitationId, "to": self.to,
                "subject": self.subject, "body": self.body, "acceptUrl": self.acceptUrl,
                "error": self.error, "createdAt": isoformat(self.createdAt), "sentAt": isoformat(self.sentAt)}


class ActivityEntry(AppDocument):
    projectId = me.StringField(required=True)
    actorId = me.StringField()
    action = me.StringField(required=True)
    resourceType = me.StringField()
    resourceId = me.StringField()
    details = me.DictField()
    ip = me.StringField()
    userAgent = me.StringField()
    createdAt = me.DateTimeField(default=utcnow)
    meta = {"collection": "activity",
            "indexes": [("projectId", "-createdAt"), ("projectId", "actorId", "-createdAt"),
                        ("projectId", "action", "-createdAt")]}

    def to_json(self) -> dict:
        return {"id": str(self.id), "projectId": self.projectId, "userId": self.actorId, "action": self.action,
                "resourceType": self.resourceType, "resourceId": self.resourceId, "details": self.details,
                "ip": self.ip, "userAgent": self.userAgent, "createdAt": isoformat(self.createdAt)}


class AuditImmutable(me.errors.OperationError):
    """Raised on any attempt to change or delete an audit entry."""


class AppendOnlyQuerySet(QuerySet):
    """Queryset-level writes would bypass the document's guards, so they are refused too."""

    def _refuse(self, *args, **kwargs):
        raise AuditImmutable("the audit log is append-only: entries cannot be changed or deleted")

    update = update_one = upsert_one = modify = delete = _refuse


class AuditEntry(AppDocument):
    """Append-only: a new entry can be inserted once; saving, updating or deleting an existing
    one raises :class:`AuditImmutable`, through the document and through its queryset."""

    projectId = me.StringField(required=True)
    actorId = me.StringField()
    actorEmail = me.StringField()
    action = me.StringField(required=True)
    severity = me.StringField(required=True, choices=("critical", "high", "medium"))
    resourceType = me.StringField()
    resourceId = me.StringField()
    details = me.DictField()
    ip = me.StringField()
    userAgent = me.StringField()
    createdAt = me.DateTimeField(default=utcnow)
    meta = {"collection": "audit", "queryset_class": AppendOnlyQuerySet,
            "indexes": [("projectId", "-createdAt"), ("projectId", "actorId", "-createdAt"),
                        ("projectId", "action", "-createdAt")]}

    def save(self, *args, **kwargs):
        if self.pk is not None or not is_new(self):
            raise AuditImmutable("the audit log is append-only: entries cannot be changed")
        kwargs["force_insert"] = True
        return super().save(*args, **kwargs)

    def update(self, **kwargs):
        raise AuditImmutable("the audit log is append-only: entries cannot be changed")

    def modify(self, query=None, **update):
        raise AuditImmutable("the audit log is append-only: entries cannot be changed")

    def delete(self, *args, **kwargs):
        raise AuditImmutable("the audit log is append-only: entries cannot be deleted")

    @classmethod
    def drop_collection(cls):
        raise AuditImmutable("the audit log is append-only: it cannot be dropped")

    def to_json(self) -> dict:
        return {"id": str(self.id), "projectId": self.projectId, "userId": self.actorId,
                "userEmail": self.actorEmail, "action": self.action, "severity": self.severity,
                "resourceType": self.resourceType, "resourceId": self.resourceId, "details": self.details,
                "ip": self.ip, "userAgent": self.userAgent, "createdAt": isoformat(self.createdAt)}
