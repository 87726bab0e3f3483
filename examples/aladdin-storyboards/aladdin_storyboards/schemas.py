"""Marshmallow schemas of the storyboards routes (camelCase JSON)."""

from __future__ import annotations

import marshmallow as ma


class SummarySchema(ma.Schema):
    projectId = ma.fields.String()
    total = ma.fields.Integer()
    byStatus = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    panels = ma.fields.Integer()
    durationSeconds = ma.fields.Float()
    confidential = ma.fields.Integer()
    scenes = ma.fields.List(ma.fields.Integer())
