"""A third-party-style ``shots`` plugin for tests: shots belong to scenes (``content.sceneId``)
and a shot's number is unique within its scene; it records the clone plans it is shown. The app
also reads an admin rule: documents whose ``content.secret`` is true are the owner's alone."""

from __future__ import annotations

import contextlib

import pytest

from core.app import create_app
from core.content import ContentType
from core.hookspecs import hookimpl
from core.projects import add_member, create_project
from tests.conftest import Actors, make_settings


SECRET_RULE = """denied(actor: User, "content:view", doc: Content) if
    doc.content.secret = true and actor.role_in(doc.project) != "owner";
"""


class ShotsPlugin:
    __name__ = "shots-plugin"

    def __init__(self):
        self.plans: list = []

    @hookimpl
    def aladdin_before_clone(self, plan):
        self.plans.append(plan)

    @hookimpl
    def aladdin_content_types(self):
        return [ContentType("shots", "Shot", belongs_to=(("content.sceneId", "scenes"),),
                            unique=(("content.sceneId", "content.number"),))]


@pytest.fixture
def shots_app(tmp_path, redis_server):
    """An app with the shots plugin and a crew around project ``shot-film`` (``app.crew``)."""
    policies = tmp_path / "admin-policies"
    policies.mkdir()
    (policies / "secrets.polar").write_text(SECRET_RULE)
    with contextlib.ExitStack() as stack:
        plugin = ShotsPlugin()
        app = create_app(make_settings(tmp_path, redis_server, policy_dir=policies), plugins=(plugin,),
                         load_entry_points=False)
        app.testing = True
        app.shots_plugin = plugin
        stack.enter_context(app.app_context())
        stack.callback(app.extensions["aladdin"].db.close)
        actors = Actors(app)
        owner = actors.user("owner@example.com")
        project = create_project(app, owner, "Shot Film", "shot-film")
        app.crew = {"owner": owner, "project": project, "outsider": actors.user("outsider@example.com")}
        for role in ("editor", "collaborator", "viewer"):
            app.crew[role] = actors.user(f"{role}@example.com")
            add_member(app, project, app.crew[role], role, owner)
        yield app


def url(app, collection: str, doc_id: str = "") -> str:
    return f"/api/v1/projects/{app.crew['project'].slug}/content/{collection}" + (f"/{doc_id}" if doc_id else "")
