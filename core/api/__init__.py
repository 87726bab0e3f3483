"""The core's HTTP API (flask-smorest): projects, content, media, plugins, health."""

from __future__ import annotations

from flask import current_app, g

from ..errors import NotFound
from ..projects import find_project


def ext():
    return current_app.extensions["aladdin"]


def authorized_project(pid: str, action: str, collection: str | None = None, document: dict | None = None):
    """Find ``pid`` (id or slug) and authorize ``action``: outsiders get 404, members 403."""
    try:
        project = find_project(pid)
    except NotFound:
        raise NotFound("project not found")
    ext().authz.authorize(g.user, action, project, collection, document)
    return project


def register_core_api(app, api) -> None:
    from . import content, files, media, plugins_api, projects, system

    for module in (system, projects, content, media, files, plugins_api):
        bp = module.create_blueprint()
        api.register_blueprint(bp)
