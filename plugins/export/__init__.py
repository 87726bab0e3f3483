"""Export plugin: render a project's scenes into a downloadable video.

Hook implementations only; logic lives in service/tasks/pipeline (timeline, segments, segment_store,
posters, previews)/render/webhooks/cleanup."""
from __future__ import annotations

import logging

from core.hookspecs import hookimpl

log = logging.getLogger("aladdin.export")


@hookimpl
def aladdin_blueprints(app):
    from .routes import create_blueprints

    return create_blueprints()


@hookimpl
def aladdin_cli_commands():
    from .cli import commands

    return commands()


@hookimpl
def aladdin_startup(app):
    from .cleanup import schedule_cleanup
    from .service import all_presets

    schedule_cleanup(app)
    all_presets(app, report=log.warning)  # bad plugin presets: one line each at start-up


@hookimpl
def aladdin_event(app, event):
    if event.name in ("export.completed", "export.failed"):
        from .webhooks import dispatch

        dispatch(app, event)
    elif event.name == "project.deleted" and event.project_id:
        from .segment_store import forget_project

        forget_project(event.project_id)  # the segments' bytes go with the project's storage prefix
