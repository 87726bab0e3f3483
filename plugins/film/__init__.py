"""Built-in plugin: the film-production content types (characters, scenes, locations, episodes, videos, media)."""

from __future__ import annotations

import marshmallow as ma

from core.content import ContentType
from core.hookspecs import hookimpl

VIDEO_STATUSES = ("draft", "queued", "generating", "completed", "failed")


def content_types() -> list[ContentType]:
    return [
        ContentType("characters", "Character", description="People of the story; may reference rivals, allies, images."),
        ContentType("scenes", "Scene", description="A scene: characters, a location, an episode."),
        ContentType("locations", "Location"),
        ContentType("episodes", "Episode"),
        ContentType(
            "videos", "Video",
            fields={
                "sceneNumber": ma.fields.Integer(allow_none=True, validate=ma.validate.Range(min=0, max=1_000_000)),
                "status": ma.fields.String(validate=ma.validate.OneOf(VIDEO_STATUSES)),
            },
            reference_fields=(("content.mediaId", "media"),),
            indexes=(("status", "sceneNumber"),),
            description="A rendered scene video; its file is the media document named by content.mediaId.",
        ),
        ContentType(
            "media", "Media",
            fields={
                "filename": ma.fields.String(),
                "contentType": ma.fields.String(),
                "size": ma.fields.Integer(),
                "storageKey": ma.fields.String(),
            },
            readonly_fields=("filename", "contentType", "size", "storageKey"),
            description="An uploaded file; created through /media, not /content/media.",
        ),
    ]


@hookimpl
def aladdin_content_types():
    return content_types()


@hookimpl
def aladdin_before_content_write(app, project, collection, action, document, previous, user):
    # Media documents describe stored files; only the upload endpoint (and clones) make them.
    if collection == "media" and action == "create" and not document.get("storageKey"):
        from core.errors import WriteRefused

        raise WriteRefused("create media by uploading to /api/v1/projects/{pid}/media", status=422)
