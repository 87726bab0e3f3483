"""HTTP surface: ``/api/v1/projects/{pid}/clone[/{jobId}]`` and ``/api/v1/projects/{pid}/graph[...]``."""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId
from flask import g, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from core.api import authorized_project, ext
from core.errors import AladdinError, NotFound
from core.graph import GraphError, InvalidRelationshipType, NodeRef, Relationship
from core.models import JobRecord, isoformat

from .executor import Executor, check_preserved_ids
from .plan import CloneOptions
from .planner import Planner
from .schemas import (CloneJobSchema, CloneRequestSchema, CloneResultSchema, NeighbourhoodArgsSchema,
                      NeighbourhoodSchema, RelationshipCreateSchema, RelationshipSchema)

DEFAULT_ASYNC_THRESHOLD = 500


def job_json(record: JobRecord) -> dict:
    return {"id": str(record.id), "jobId": str(record.id), "kind": record.kind, "status": record.status,
            "progress": record.progress, "params": dict(record.params or {}),
            "result": dict(record.result) if record.result else None, "error": record.error,
            "createdAt": isoformat(record.createdAt), "startedAt": isoformat(record.startedAt),
            "completedAt": isoformat(record.completedAt)}


def create_clone_blueprint() -> Blueprint:
    bp = Blueprint("clone", __name__, url_prefix="/api/v1/projects/<pid>/clone",
                   description="Deep cloning of content, media and relationships across projects")

    @bp.route("")
    class Clone(MethodView):
        @bp.arguments(CloneRequestSchema)
        @bp.response(201, CloneResultSchema)
        @bp.alt_response(200, schema=CloneResultSchema, description="dry run: the plan, nothing written")
        @bp.alt_response(202, schema=CloneResultSchema, description="large clone queued: jobId and statusUrl")
        @bp.alt_response(409, description="preserveIds and an id already exists in the target")
        def post(self, body, pid):
            """Clone a document (deep: with everything it references) into ``targetProjectId``.

            Needs ``content:view`` on this project and ``content:create`` on the target."""
            source = authorized_project(pid, "content:view")
            target = authorized_project(body["targetProjectId"], "content:create")
            options = CloneOptions.from_request(body)
            app = ext().app
            plan = Planner(app, source, target, g.user, options).plan()
            check_preserved_ids(app, plan)
            if body["dryRun"]:
                return plan.summary(), 200
            threshold = ext().settings.get("CLONE_ASYNC_THRESHOLD", DEFAULT_ASYNC_THRESHOLD)
            if plan.document_count > threshold:
                record = JobRecord(kind="clone", projectId=str(source.id), createdBy=str(g.user.id),
                                   params={**options.as_params(), "targetProjectId": str(target.id),
                                           "documentCount": plan.document_count}).save()
                job_id = str(record.id)
                ext().jobs.enqueue("plugins.clone.tasks:run_clone", job_id, job_id=job_id, timeout=3600)
                status_url = url_for("clone.CloneJob", pid=pid, job_id=job_id)
                return {"jobId": job_id, "status": record.status, "statusUrl": status_url,
                        "documentCount": plan.document_count}, 202, {"Location": status_url}
            return Executor(app, plan, g.user).run()

    @bp.route("/<job_id>")
    class CloneJob(MethodView):
        @bp.response(200, CloneJobSchema)
        def get(self, pid, job_id):
            """Status, progress and (once completed) the result of a background clone."""
            project = authorized_project(pid, "content:view")
            try:
                record = JobRecord.objects(id=ObjectId(job_id), kind="clone", projectId=str(project.id)).first()
            except (InvalidId, TypeError):
                record = None
            if record is None:
                raise NotFound("clone job not found")
            return job_json(record)

    return bp


def _existing_node(project, data: dict) -> NodeRef:
    """A node that names an existing document of ``project`` (404 otherwise)."""
    collection, ident = data["collection"], data["id"]
    ext().content.content_type(collection)  # NotFound naming the valid collections
    try:
        oid = ObjectId(ident)
    except (InvalidId, TypeError):
        raise NotFound(f"no document {collection}/{ident} in this project")
    if ext().db.project(project.slug)[collection].find_one({"_id": oid}, {"_id": 1}) is None:
        raise NotFound(f"no document {collection}/{ident} in this project")
    return NodeRef(collection, ident)


def create_graph_blueprint() -> Blueprint:
    bp = Blueprint("graph", __name__, url_prefix="/api/v1/projects/<pid>/graph",
                   description="Relationships between content documents")

    @bp.route("/relationships")
    class Relationships(MethodView):
        @bp.arguments(RelationshipCreateSchema)
        @bp.response(201, RelationshipSchema)
        @bp.alt_response(400, description="relationship type not allowed")
        @bp.alt_response(404, description="a node names no document of the project")
        def post(self, body, pid):
            """Create one typed relationship between two documents of the project."""
            project = authorized_project(pid, "content:view")
            source = _existing_node(project, body["from_"])
            target = _existing_node(project, body["to"])
            store = ext().graph
            doc = ext().db.project(project.slug)[source.collection].find_one(
                {"_id": ObjectId(source.id)}, {"_id": 1, "createdBy": 1})
            ext().authz.authorize(g.user, "content:edit", project, source.collection, doc)
            try:
                rel = Relationship(source, target, body["type"])
                created = store.add_relationships(project.slug, [rel])
            except InvalidRelationshipType as exc:
                raise AladdinError(str(exc), status=400, allowed=sorted(store.allowed_types))
            except GraphError as exc:
                raise AladdinError(str(exc), status=400)
            return {**rel.as_dict(), "created": bool(created)}

    @bp.route("/<collection>/<doc_id>")
    class Neighbourhood(MethodView):
        @bp.arguments(NeighbourhoodArgsSchema, location="query")
        @bp.response(200, NeighbourhoodSchema)
        def get(self, args, pid, collection, doc_id):
            """The nodes and relationships within ``depth`` hops (1-5) of a document."""
            project = authorized_project(pid, "content:view")
            root = _existing_node(project, {"collection": collection, "id": doc_id})
            return ext().graph.neighbourhood(project.slug, root, args["depth"])

    return bp
