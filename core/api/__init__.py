"""The core's HTTP API (flask-smorest): projects, content, media, plugins, health."""

from __future__ import annotations

import dataclasses

from bson import ObjectId
from flask import current_app, g

from ..projects import cached_project, find_project


def ext():
    return current_app.extensions["aladdin"]


def authorized_project(pid: str, action: str, collection: str | None = None, document: dict | None = None):
    """Find ``pid`` (id or slug) and authorize ``action``: outsiders get 404, members 403."""
    project = find_project(pid)  # NotFound("project not found") for unknown ids and slugs alike
    ext().authz.authorize(g.user, action, project, collection, document)
    return project


@dataclasses.dataclass(frozen=True, slots=True)
class ProjectRef:
    """The fields of a project that reads need (its database, and what policies see).

    Content reads fire no hooks and change nothing, so they skip building a MongoEngine
    ``Project``; anything that writes, or hands the project to plugins, uses
    :func:`authorized_project`. Frozen, so one instance can serve every request of a process
    from the near cache (:func:`~core.projects.cached_project`) until the project changes."""

    id: ObjectId
    slug: str
    ownerId: str
    name: str = ""

    @classmethod
    def from_document(cls, doc: dict) -> "ProjectRef":
        return cls(id=doc["_id"], slug=doc["slug"], ownerId=doc.get("ownerId", ""), name=doc.get("name", ""))

    @property
    def database_name(self) -> str:
        return "open_" + self.slug


def find_project_ref(pid: str) -> ProjectRef:
    """``find_project`` for read paths: the same lookup (id or slug), a :class:`ProjectRef`."""
    return cached_project(pid, ProjectRef.from_document)


def authorized_project_ref(pid: str, action: str, collection: str | None = None,
                           document: dict | None = None) -> ProjectRef:
    """:func:`authorized_project` for read-only routes: same lookup and the same authorization."""
    project = find_project_ref(pid)
    ext().authz.authorize(g.user, action, project, collection, document)
    return project


def content_project(pid: str):
    """The project of a content or media route that writes: an outsider gets 404 before anything
    in the request is looked at. What the user may do to content is the content service's
    decision (``ContentService.writable`` and ``authorize_create``), not the route's."""
    return authorized_project(pid, "content:view")


def delete_document(pid: str, collection: str, doc_id: str) -> dict:
    """Delete a document as the request's user; returns it as it was.

    ``DELETE .../content/{collection}/{id}`` and ``DELETE .../media/{id}`` both call it, so a
    rule decides the same whichever URL is used: the content service checks ``content:delete``
    (and ``media:delete`` for media) on the document itself, and removes a media file only
    after its document."""
    return ext().content.delete(content_project(pid), collection, doc_id, g.user)


def register_core_api(app, api) -> None:
    from . import auth, content, docs_assets, files, media, pages, plugins_api, projects, system

    for module in (system, auth, projects, content, media, files, plugins_api):
        bp = module.create_blueprint()
        api.register_blueprint(bp)
    app.register_blueprint(docs_assets.create_blueprint())  # plain Flask: not part of the OpenAPI document
    app.register_blueprint(pages.create_blueprint())
