"""``GET /api/v1/projects/{pid}/storyboards/summary``, built per app inside ``aladdin_blueprints``."""

from __future__ import annotations

from flask import current_app, g
from flask_smorest import Blueprint

from core.api import authorized_project

from . import boards
from .schemas import SummarySchema

# Granted by policies/storyboards.polar, not by the core's rule book.
SUMMARY_ACTION = "storyboards:summary"


def create_blueprint() -> Blueprint:
    bp = Blueprint("storyboards", __name__, url_prefix="/api/v1/projects/<pid>/storyboards",
                   description="Storyboards (example third-party plugin)")

    @bp.route("/summary")
    @bp.response(200, SummarySchema)
    @bp.alt_response(403, description="your role may not see the summary (viewers)")
    def summary(pid):
        """Boards by status, panel count, running time, confidential boards and scenes covered."""
        project = authorized_project(pid, SUMMARY_ACTION)
        ext = current_app.extensions["aladdin"]
        coll = ext.content.collection(project, boards.COLLECTION)
        # Only the boards this user may read count: the core's read choke point, as a query.
        visible = ext.content.read_filter(g.user, project, boards.COLLECTION).combine({})
        docs = coll.find(visible, {"status": 1, "confidential": 1, "sceneNumber": 1, "content.panels": 1})
        return {"projectId": str(project.id), **boards.summarize(docs)}

    return bp
