"""``/api/v1/projects[/{pid}]``: create (caller becomes owner), list own, read, update, delete."""

from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from ..models import Membership, Project, utcnow
from ..projects import create_project, delete_project
from . import authorized_project, ext
from .schemas import ProjectCreateSchema, ProjectListSchema, ProjectSchema, ProjectUpdateSchema


def create_blueprint() -> Blueprint:
    bp = Blueprint("projects", __name__, url_prefix="/api/v1/projects", description="Projects")

    @bp.route("")
    class Projects(MethodView):
        @bp.response(200, ProjectListSchema)
        def get(self):
            """Projects where the caller has a role."""
            roles = {m.projectId: m.role for m in Membership.objects(userId=str(g.user.id))}
            projects = Project.objects(id__in=list(roles)).order_by("createdAt")
            items = [p.to_json(role=roles[str(p.id)]) for p in projects]
            return {"items": items, "total": len(items)}

        @bp.arguments(ProjectCreateSchema)
        @bp.response(201, ProjectSchema)
        @bp.alt_response(409, description="slug already taken")
        def post(self, body):
            """Create a project (its own database); the caller becomes its owner."""
            project = create_project(ext().app, g.user, body["name"], body.get("slug"), body.get("description", ""))
            return project.to_json(role="owner")

    @bp.route("/<pid>")
    class ProjectItem(MethodView):
        @bp.response(200, ProjectSchema)
        def get(self, pid):
            project = authorized_project(pid, "project:view")
            return project.to_json(role=ext().authz.role(g.user, project))

        @bp.arguments(ProjectUpdateSchema)
        @bp.response(200, ProjectSchema)
        def patch(self, body, pid):
            project = authorized_project(pid, "project:edit")
            for key, value in body.items():
                setattr(project, key, value)
            project.updatedAt = utcnow()
            project.save()
            return project.to_json(role=ext().authz.role(g.user, project))

        @bp.response(204)
        def delete(self, pid):
            """Delete the project, its database, media and graph (owner only)."""
            project = authorized_project(pid, "project:delete")
            delete_project(ext().app, project, g.user)
            return ""

    return bp
