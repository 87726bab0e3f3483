"""Marshmallow schemas of the team API (camelCase JSON, string ids)."""

from __future__ import annotations

import datetime as dt

import marshmallow as ma

from core.api.schemas import SessionSchema

from .models import INVITABLE_ROLES

ROLE_HELP = "editor, collaborator or viewer; owner is reached only through transfer-ownership"


class InvitationCreateSchema(ma.Schema):
    email = ma.fields.Email(required=True, validate=ma.validate.Length(max=254))
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(INVITABLE_ROLES, error=f"role must be {ROLE_HELP}"),
                            metadata={"description": ROLE_HELP})


class InvitationSchema(ma.Schema):
    id = ma.fields.String()
    projectId = ma.fields.String()
    email = ma.fields.String()
    role = ma.fields.String()
    status = ma.fields.String(metadata={"description": "pending, accepted, revoked or expired"})
    invitedBy = ma.fields.String(allow_none=True)
    createdAt = ma.fields.String()
    expiresAt = ma.fields.String()
    acceptedAt = ma.fields.String(allow_none=True)
    acceptedBy = ma.fields.String(allow_none=True)
    revokedAt = ma.fields.String(allow_none=True)
    revokedBy = ma.fields.String(allow_none=True)


class InvitationCreatedSchema(InvitationSchema):
    token = ma.fields.String(metadata={"description": "one-time token, shown only in this answer"})
    acceptUrl = ma.fields.String()
    delivery = ma.fields.Dict()


class InvitationListArgs(ma.Schema):
    status = ma.fields.String(load_default="pending",
                              validate=ma.validate.OneOf(("pending", "expired", "accepted", "revoked", "all")))


class InvitationListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(InvitationSchema))
    total = ma.fields.Integer()


class MemberSchema(ma.Schema):
    id = ma.fields.String()
    userId = ma.fields.String()
    email = ma.fields.String(allow_none=True)
    name = ma.fields.String(allow_none=True)
    role = ma.fields.String()
    addedAt = ma.fields.String(allow_none=True)
    addedBy = ma.fields.String(allow_none=True)
    lastActiveAt = ma.fields.String(allow_none=True)


class MemberListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(MemberSchema))
    total = ma.fields.Integer()


class RoleChangeSchema(ma.Schema):
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(INVITABLE_ROLES, error=f"role must be {ROLE_HELP}"))


class TransferSchema(ma.Schema):
    userId = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))


class AcceptedSchema(ma.Schema):
    invitation = ma.fields.Nested(InvitationSchema)
    project = ma.fields.Dict()
    member = ma.fields.Nested(MemberSchema)


class PageArgs(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=10_000_000))


class ActivityArgs(PageArgs):
    userId = ma.fields.String(validate=ma.validate.Length(max=64))
    action = ma.fields.String(validate=ma.validate.Length(max=100),
                              metadata={"description": "exact action (content.deleted) or a family (content, content.*)"})
    resourceType = ma.fields.String(validate=ma.validate.Length(max=64))


class AuditArgs(PageArgs):
    userId = ma.fields.String(validate=ma.validate.Length(max=64))
    action = ma.fields.String(validate=ma.validate.Length(max=100))
    severity = ma.fields.String(validate=ma.validate.OneOf(("critical", "high", "medium")))
    start = ma.fields.AwareDateTime(default_timezone=dt.timezone.utc,
                                    metadata={"description": "ISO 8601; entries at or after"})
    end = ma.fields.AwareDateTime(default_timezone=dt.timezone.utc,
                                  metadata={"description": "ISO 8601; entries at or before"})


class LogEntrySchema(ma.Schema):
    id = ma.fields.String()
    projectId = ma.fields.String()
    userId = ma.fields.String(allow_none=True)
    userEmail = ma.fields.String(allow_none=True)
    action = ma.fields.String()
    severity = ma.fields.String()
    resourceType = ma.fields.String(allow_none=True)
    resourceId = ma.fields.String(allow_none=True)
    details = ma.fields.Dict()
    ip = ma.fields.String(allow_none=True)
    userAgent = ma.fields.String(allow_none=True)
    createdAt = ma.fields.String()


class LogPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(LogEntrySchema))
    total = ma.fields.Integer()
    limit = ma.fields.Integer()
    offset = ma.fields.Integer()


class InvitationInfoSchema(ma.Schema):
    """What an invitation link shows its holder (``GET`` on the link; a browser gets the page)."""

    email = ma.fields.String()
    role = ma.fields.String()
    status = ma.fields.String()
    expiresAt = ma.fields.String()
    projectName = ma.fields.String(allow_none=True)
    accountExists = ma.fields.Boolean(metadata={"description": "sign in and accept, or sign up"})


class SignUpSchema(ma.Schema):
    name = ma.fields.String(required=True)
    password = ma.fields.String(required=True)


class SignedUpSchema(AcceptedSchema):
    session = ma.fields.Nested(SessionSchema)
