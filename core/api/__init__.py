"""The core's HTTP API (flask-smorest): projects, content, media, plugins, health."""

from __future__ import annotations

import dataclasses

from bson import ObjectId
from flask import current_app, g

from ..projects import find_project


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
    :func:`authorized_project`. The project is still read fresh on every request."""

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
    return ProjectRef.from_document(find_project(pid, raw=True))


def authorized_project_ref(pid: str, action: str, collection: str | None = None,
                           document: dict | None = None) -> ProjectRef:
    """:func:`authorized_project` for read-only routes: same lookup and the same authorization."""
    project = find_project_ref(pid)
    ext().authz.authorize(g.user, action, project, collection, document)
    return project


MEDIA = "media"  # the collection whose documents own a stored file


def delete_document(pid: str, collection: str, doc_id: str) -> dict:
    """Delete a document the request's user may view and may delete; returns it as it was.

    The one path by which HTTP deletes content: ``DELETE .../content/{collection}/{id}`` and
    ``DELETE .../media/{id}`` both call it, so a rule decides the same whichever URL is used
    (an admin's ``denied`` rule about locked media once held on one route and not the other).
    Every check is made on the document itself (ownership, admin rules on its fields), never
    on the project alone. Media needs ``media:delete`` as well as ``content:delete``, and its
    file goes only after its document: a refused or failed deletion leaves both."""
    project = authorized_project(pid, "content:view")
    existing = ext().content.get(project, collection, doc_id, reader=g.user)  # hidden: 404, like missing
    ext().authz.authorize(g.user, "content:delete", project, collection, existing)
    if collection == MEDIA:
        ext().authz.authorize(g.user, "media:delete", project, collection, existing)
    ext().content.delete(project, collection, doc_id, g.user)
    if collection == MEDIA and existing.get("storageKey"):
        ext().storage.delete(existing["storageKey"])
    return existing


def register_core_api(app, api) -> None:
    from . import content, docs_assets, files, media, plugins_api, projects, system

    for module in (system, projects, content, media, files, plugins_api):
        bp = module.create_blueprint()
        api.register_blueprint(bp)
    app.register_blueprint(docs_assets.create_blueprint())  # plain Flask: not part of the OpenAPI document
