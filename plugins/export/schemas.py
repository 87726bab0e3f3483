"""Marshmallow schemas of the export API (camelCase JSON, string ids)."""
from __future__ import annotations

import marshmallow as ma

from .webhooks import EVENTS


class TitleCardSchema(ma.Schema):
    text = ma.fields.String(required=True, validate=ma.validate.Length(max=200))
    duration = ma.fields.Float(validate=ma.validate.Range(min=0, max=60, min_inclusive=False))
    background = ma.fields.String(validate=ma.validate.Regexp(r"^(#[0-9A-Fa-f]{3}|#[0-9A-Fa-f]{6}|[a-z]{3,20})$"))


class TransitionSchema(ma.Schema):
    type = ma.fields.String(load_default="crossfade", validate=ma.validate.OneOf(("crossfade", "none", "cut")))
    duration = ma.fields.Float(validate=ma.validate.Range(min=0, max=5))


class _ExportOptions(ma.Schema):
    outputFilename = ma.fields.String(validate=ma.validate.Length(max=255), allow_none=True)
    includeScenes = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=64)),
                                   validate=ma.validate.Length(max=500), allow_none=True)
    titleCard = ma.fields.Nested(TitleCardSchema, allow_none=True)
    transition = ma.fields.Nested(TransitionSchema, allow_none=True)


class ExportCreateSchema(_ExportOptions):
    preset = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))


class BatchCreateSchema(_ExportOptions):
    presets = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=64)), required=True,
                             validate=ma.validate.Length(min=1, max=10))


class ExportAcceptedSchema(ma.Schema):
    jobId = ma.fields.String()
    status = ma.fields.String()
    statusUrl = ma.fields.String()


class AttemptSchema(ma.Schema):
    attempt = ma.fields.Integer()
    startedAt = ma.fields.String(allow_none=True)
    progress = ma.fields.Float(metadata={"description": "how far the attempt got"})
    outcome = ma.fields.String(metadata={"enum": ["error", "abandoned"]})
    error = ma.fields.String(allow_none=True)


class ExportJobSchema(ma.Schema):
    id = ma.fields.String()
    jobId = ma.fields.String()
    status = ma.fields.String(metadata={"enum": ["queued", "processing", "completed", "failed", "expired"]})
    progress = ma.fields.Float()
    downloadUrl = ma.fields.String(allow_none=True, metadata={"description": "signed, expiring; completed only"})
    error = ma.fields.String(allow_none=True)
    createdAt = ma.fields.String()
    startedAt = ma.fields.String(allow_none=True)
    completedAt = ma.fields.String(allow_none=True)
    preset = ma.fields.String()
    outputFilename = ma.fields.String()
    downloadName = ma.fields.String(allow_none=True)
    sceneCount = ma.fields.Integer()
    batchId = ma.fields.String(allow_none=True)
    attempts = ma.fields.Integer()
    history = ma.fields.List(ma.fields.Nested(AttemptSchema), metadata={
        "description": "earlier attempts that did not finish (a retried job), oldest first"})
    size = ma.fields.Integer(allow_none=True)
    duration = ma.fields.Float(allow_none=True)
    posterUrl = ma.fields.String(allow_none=True, metadata={"description": "signed PNG: the first scene's middle frame"})
    contactSheetUrl = ma.fields.String(allow_none=True,
                                       metadata={"description": "signed PNG: one labelled frame per scene"})
    scenesRendered = ma.fields.Integer(allow_none=True, metadata={"description": "scenes encoded by this export"})
    scenesReused = ma.fields.Integer(allow_none=True, metadata={"description": "scenes taken from the segment cache"})
    segmentsRendered = ma.fields.Integer(allow_none=True, metadata={"description": "scenes, crossfades, title card"})
    segmentsReused = ma.fields.Integer(allow_none=True)


class ExportListArgsSchema(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0))


class ExportListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ExportJobSchema))
    total = ma.fields.Integer()
    limit = ma.fields.Integer()
    offset = ma.fields.Integer()


class BatchAcceptedSchema(ma.Schema):
    batchId = ma.fields.String()
    status = ma.fields.String()
    statusUrl = ma.fields.String()
    jobs = ma.fields.List(ma.fields.Nested(ExportAcceptedSchema))


class BatchSchema(ma.Schema):
    id = ma.fields.String()
    batchId = ma.fields.String()
    status = ma.fields.String(metadata={"enum": ["queued", "processing", "completed", "failed", "partial"]})
    progress = ma.fields.Float()
    jobs = ma.fields.List(ma.fields.Nested(ExportJobSchema))


class PresetSchema(ma.Schema):
    id = ma.fields.String()
    resolution = ma.fields.String()
    width = ma.fields.Integer()
    height = ma.fields.Integer()
    videoBitrate = ma.fields.String(allow_none=True)
    audioBitrate = ma.fields.String()
    videoCodec = ma.fields.String()
    audioCodec = ma.fields.String()
    fps = ma.fields.Integer()
    container = ma.fields.String()
    builtin = ma.fields.Boolean()


class PresetListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(PresetSchema))
    total = ma.fields.Integer()


class WebhookCreateSchema(ma.Schema):
    url = ma.fields.Url(required=True, schemes={"http", "https"}, require_tld=False,
                        validate=ma.validate.Length(max=2000))
    events = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(EVENTS)),
                            validate=ma.validate.Length(min=1))


class WebhookSchema(ma.Schema):
    id = ma.fields.String()
    projectId = ma.fields.String()
    url = ma.fields.String()
    events = ma.fields.List(ma.fields.String())
    createdBy = ma.fields.String(allow_none=True)
    createdAt = ma.fields.String()
    lastDeliveryAt = ma.fields.String(allow_none=True)
    lastStatus = ma.fields.Integer(allow_none=True)
    lastError = ma.fields.String(allow_none=True)


class WebhookCreatedSchema(WebhookSchema):
    secret = ma.fields.String(metadata={"description": "shown once, at creation"})


class WebhookListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(WebhookSchema))
    total = ma.fields.Integer()
