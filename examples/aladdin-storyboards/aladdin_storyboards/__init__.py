"""Example third-party Aladdin plugin: storyboards (content type, summary route, policy rules)."""

from __future__ import annotations

from pathlib import Path

from core.hookspecs import hookimpl

from . import boards

__version__ = "0.2.0"

POLICY_FILE = Path(__file__).parent / "policies" / "storyboards.polar"


@hookimpl
def aladdin_content_types():
    return [boards.content_type()]


@hookimpl
def aladdin_before_content_write(app, project, collection, action, document, previous, user):
    if collection == boards.COLLECTION and action in ("create", "update"):
        boards.prepare(document)


@hookimpl
def aladdin_blueprints(app):
    from .routes import create_blueprint

    return [create_blueprint()]


@hookimpl
def aladdin_policy_files():
    return [POLICY_FILE]
