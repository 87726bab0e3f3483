"""Marshmallow schemas of the core API (camelCase JSON, string ids)."""

from __future__ import annotations

import marshmallow as ma

from ..content import RelatedDocumentSchema, serialize


class PassthroughSchema(ma.Schema):
    """Documents the known fields but returns the whole document: content types add fields."""

    class Meta:
        unknown = ma.INCLUDE  # documented as additionalProperties: the answer is the whole document

    def dump(self, obj, *, many=None):
        """A stored document is answered whole by :func:`serialize`: dumping every declared
        field first only to throw the result away cost a third of a list request's time."""
        if (self.many if many is None else many):
            return [self.dump(o, many=False) for o in obj]
        return serialize(obj) if isinstance(obj, dict) else super().dump(obj, many=False)


class ProjectSchema(ma.Schema):
    id = ma.fields.String(dump_only=True)
    slug = ma.fields.String()
    name = ma.fields.String()
    description = ma.fields.String()
    ownerId = ma.fields.String()
    database = ma.fields.String()
    role = ma.fields.String()
    createdAt = ma.fields.String()
    updatedAt = ma.fields.String()


class ProjectCreateSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    slug = ma.fields.String(validate=ma.validate.Length(min=3, max=40))
    description = ma.fields.String(validate=ma.validate.Length(max=5000))


class ProjectUpdateSchema(ma.Schema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    description = ma.fields.String(validate=ma.validate.Length(max=5000))


class ProjectListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ProjectSchema))
    total = ma.fields.Integer()


class ContentSchema(PassthroughSchema):
    id = ma.fields.String()
    projectId = ma.fields.String()
    createdBy = ma.fields.String(allow_none=True)
    createdAt = ma.fields.String()
    updatedAt = ma.fields.String()
    version = ma.fields.Integer()
    content = ma.fields.Dict()
    relatedDocuments = ma.fields.List(ma.fields.Nested(RelatedDocumentSchema))
    clonedFrom = ma.fields.Dict(allow_none=True)
    isClone = ma.fields.Boolean()
    cloneDepth = ma.fields.Integer()
    originalCreator = ma.fields.String(allow_none=True)


class ContentWriteSchema(ma.Schema):
    """The generic body; each content type's own schema then validates it strictly."""

    class Meta:
        unknown = ma.INCLUDE

    content = ma.fields.Dict(keys=ma.fields.String())
    relatedDocuments = ma.fields.List(ma.fields.Nested(RelatedDocumentSchema))
    baseVersion = ma.fields.Integer()


class ContentListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ContentSchema))
    total = ma.fields.Integer()
    limit = ma.fields.Integer()
    offset = ma.fields.Integer()


class ListArgsSchema(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE  # the remaining query parameters are equality filters

    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=10_000_000))
    sort = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))


class MediaSchema(PassthroughSchema):
    id = ma.fields.String()
    filename = ma.fields.String()
    contentType = ma.fields.String()
    size = ma.fields.Integer()
    downloadUrl = ma.fields.String()


class MediaUploadSchema(ma.Schema):
    file = ma.fields.Raw(metadata={"type": "string", "format": "binary"}, required=True)


class ErrorSchema(ma.Schema):
    """Every error body: ``{code, status, message}`` plus details some errors add (``errors``,
    and on a 409 version conflict the current ``version`` and ``document``)."""

    class Meta:
        unknown = ma.INCLUDE

    code = ma.fields.Integer(metadata={"description": "HTTP status code"})
    status = ma.fields.String(metadata={"description": "HTTP status phrase"})
    message = ma.fields.String(metadata={"description": "What went wrong, for people"})
    errors = ma.fields.Dict(metadata={"description": "Field errors of an invalid request"})


class PluginSchema(PassthroughSchema):
    """A loaded plugin (fields a newer core adds pass through)."""

    name = ma.fields.String()
    version = ma.fields.String()
    module = ma.fields.String()
    builtin = ma.fields.Boolean()
    hooks = ma.fields.List(ma.fields.String())


class PluginListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(PluginSchema))


class HealthSchema(ma.Schema):
    status = ma.fields.String(metadata={"description": "ok, or degraded when a check fails"})
    version = ma.fields.String()
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    plugins = ma.fields.Dict(metadata={"description": "failures: hook exceptions contained per plugin name "
                                                      "(logged; they do not make the status degraded)"})


class LoginSchema(ma.Schema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(max=320))
    password = ma.fields.String(required=True, validate=ma.validate.Length(max=1024))


class RefreshSchema(ma.Schema):
    refreshToken = ma.fields.String(required=True, validate=ma.validate.Length(max=200))


class LogoutSchema(ma.Schema):
    everywhere = ma.fields.Boolean(load_default=False, metadata={"description": "end every session of the user"})


class PasswordChangeSchema(ma.Schema):
    currentPassword = ma.fields.String(required=True, validate=ma.validate.Length(max=1024))
    newPassword = ma.fields.String(required=True)


class PasswordResetRequestSchema(ma.Schema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(max=320))


class PasswordResetSchema(ma.Schema):
    token = ma.fields.String(required=True, validate=ma.validate.Length(max=200))
    password = ma.fields.String(required=True)


class UserSchema(ma.Schema):
    id = ma.fields.String()
    email = ma.fields.String()
    name = ma.fields.String(allow_none=True)
    createdAt = ma.fields.String()


class SessionSchema(ma.Schema):
    """A signed-in session: send ``accessToken`` as ``Authorization: Bearer``; before it expires
    (``expiresIn`` seconds) trade ``refreshToken`` for a new pair at ``POST /auth/refresh``."""

    tokenType = ma.fields.String()
    accessToken = ma.fields.String()
    expiresIn = ma.fields.Integer()
    refreshToken = ma.fields.String()
    sessionId = ma.fields.String()
    user = ma.fields.Nested(UserSchema)
