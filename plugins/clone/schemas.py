"""Marshmallow schemas of the clone and graph endpoints (camelCase JSON)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import post_dump

from core.content import COLLECTION_RE


class _Passthrough(ma.Schema):
    """Documents the fields but answers the whole dict (plans and results carry a few more)."""

    @post_dump(pass_original=True)
    def keep_everything(self, data, original, **kwargs):
        return original if isinstance(original, dict) else data


class CloneRequestSchema(ma.Schema):
    targetProjectId = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    contentType = ma.fields.String(required=True, validate=ma.validate.Regexp(COLLECTION_RE))
    documentId = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    depth = ma.fields.String(load_default="deep", validate=ma.validate.OneOf(("shallow", "deep")))
    includeMedia = ma.fields.Boolean(load_default=True)
    includeRelationships = ma.fields.Boolean(load_default=True)
    overrides = ma.fields.Dict(keys=ma.fields.String(validate=ma.validate.Length(max=200)), load_default=dict)
    preserveIds = ma.fields.Boolean(load_default=False)
    dryRun = ma.fields.Boolean(load_default=False)


class MediaCopySchema(ma.Schema):
    sourceId = ma.fields.String()
    id = ma.fields.String()
    sourceKey = ma.fields.String()
    storageKey = ma.fields.String()
    bytes = ma.fields.Integer()


class ReferenceReportSchema(ma.Schema):
    """A reference a clone left naming its source id: in ``documentId`` of ``collection`` (a
    document that was copied), at ``path``, naming ``references`` (in ``referencedCollection``)."""

    collection = ma.fields.String()
    documentId = ma.fields.String()
    path = ma.fields.String()
    references = ma.fields.String()
    referencedCollection = ma.fields.String(allow_none=True)


class CloneResultSchema(_Passthrough):
    """A finished clone (201), a dry-run plan (200) or a queued job (202).

    ``dangling``: references (any field) naming nothing in the source project (``referencedCollection``
    is the collection the reference declares, or null). ``hidden``: references naming a source
    document the cloning user may not view (their ``content:view`` read rules); such documents are
    not copied, the reference keeps naming the source id, and ``referencedCollection`` is where
    the document lives. Nothing else about a hidden document (its content, its own references)
    is read or reported. A dry run reports both exactly as the clone would."""

    success = ma.fields.Boolean()
    clonedCount = ma.fields.Integer()
    newRootId = ma.fields.String()
    rootCollection = ma.fields.String()
    targetProjectId = ma.fields.String()
    idMap = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    documents = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    media = ma.fields.Raw()
    relationships = ma.fields.Raw()
    dangling = ma.fields.List(ma.fields.Nested(ReferenceReportSchema))
    hidden = ma.fields.List(ma.fields.Nested(ReferenceReportSchema))
    warnings = ma.fields.List(ma.fields.String())
    dryRun = ma.fields.Boolean()
    jobId = ma.fields.String()
    statusUrl = ma.fields.String()
    rootId = ma.fields.String()
    documentCount = ma.fields.Integer()
    graph = ma.fields.Dict()
    jobId = ma.fields.String()
    status = ma.fields.String()
    statusUrl = ma.fields.String()


class CloneJobSchema(_Passthrough):
    id = ma.fields.String()
    jobId = ma.fields.String()
    status = ma.fields.String()
    progress = ma.fields.Float()
    stage = ma.fields.String(allow_none=True)
    params = ma.fields.Dict()
    result = ma.fields.Dict(allow_none=True)
    error = ma.fields.String(allow_none=True)
    createdAt = ma.fields.String()
    startedAt = ma.fields.String(allow_none=True)
    completedAt = ma.fields.String(allow_none=True)


class NodeSchema(ma.Schema):
    collection = ma.fields.String(required=True, validate=ma.validate.Regexp(COLLECTION_RE))
    id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))


class RelationshipCreateSchema(ma.Schema):
    # "from" is a Python keyword: data_key keeps the JSON name.
    from_ = ma.fields.Nested(NodeSchema, required=True, data_key="from")
    to = ma.fields.Nested(NodeSchema, required=True)
    type = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))


class RelationshipSchema(_Passthrough):
    from_ = ma.fields.Dict(data_key="from", attribute="from")
    to = ma.fields.Dict()
    type = ma.fields.String()


class NeighbourhoodArgsSchema(ma.Schema):
    depth = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=5))


class NeighbourhoodSchema(_Passthrough):
    nodes = ma.fields.List(ma.fields.Dict())
    relationships = ma.fields.List(ma.fields.Dict())
