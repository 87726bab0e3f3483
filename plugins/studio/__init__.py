"""Built-in plugin: the studio page (``/studio``), a browser client of the public API.

It signs people in, lists their projects and scenes, co-edits a scene's text fields with the
JavaScript provider and exports the project. Its script is ``clients/studio`` built into
``static/studio.js`` and committed, so an installed package serves the page with no build step,
no CDN and no network beyond this origin (``ALADDIN_DISABLED_PLUGINS=studio`` removes it)."""

from __future__ import annotations

from core.hookspecs import hookimpl


@hookimpl
def aladdin_blueprints(app):
    from .routes import create_blueprint

    return [create_blueprint()]
