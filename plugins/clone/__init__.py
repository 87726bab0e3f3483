"""Built-in plugin: clone — deep copies of content with its references, media and graph, across projects."""

from __future__ import annotations

from core.hookspecs import hookimpl


@hookimpl
def aladdin_blueprints(app):
    from .routes import create_clone_blueprint, create_graph_blueprint

    return [create_clone_blueprint(), create_graph_blueprint()]


@hookimpl
def aladdin_cli_commands():
    from .cli import clone_command

    return [clone_command]
