"""HTTP surface: ``/api/v1/projects/{pid}/clone[/{jobId}]`` and ``/api/v1/projects/{pid}/graph[...]``."""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId
from flask import g, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from core.api import authorized_project, ext
from core.db import find_by_ids
from core.errors import AladdinError, NotFound
from core.graph import GraphError, InvalidRelationshipType, NodeRef, Relationship
from core.models import JobRecord, isoformat

from .executor import check_before_writing
from .plan import CloneOptions
from .planner import Planner, PlanTooLarge
from .tasks import new_record, run_in_request
from .schemas import (CloneJobSchema, CloneRequestSchema, CloneResultSchema, NeighbourhoodArgsSchema,
                      NeighbourhoodSchema, RelationshipCreateSchema, RelationshipSchema)

DEFAULT_ASYNC_THRESHOLD = 500


def job_json(record: JobRecord) -> dict:
    return {"id": str(record.id), "jobId": str(record.id), "kind": record.kind, "status": record.status,
            "progress": record.progress, "stage": (record.params or {}).get("stage"),
            "params": dict(record.params or {}),
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
        @bp.alt_response(403, description="the caller may not create some copies in the target (listed in refused)")
        @bp.alt_response(409, description="preserveIds and an id already exists in the target")
        def post(self, body, pid):
            """Clone a document (deep: with everything it references) into ``targetProjectId``.

            Needs ``content:view`` on this project and ``content:create`` on the target, and the
            caller must be allowed to create each copy there as it would be stored (the content
            service's one create check): otherwise 403 listing the ``refused`` copies, nothing
            written, for a dry run too. The clone
            sees the source as the caller may read it: a root they may not view answers 404 with
            the body of a missing one; referenced documents (media included) hidden from them by
            the read rules are not copied, the references to them keep naming the source id, and
            each such reference is reported in ``hidden`` (same entry shape as ``dangling``:
            ``collection``, ``documentId`` and ``path`` of the referring copy, ``references`` the
            hidden id, ``referencedCollection`` its collection). ``dangling`` lists every reference,
            whatever its field, that names no document of the source project.

            ``overrides`` are dotted paths into the new root: ``content.cast.0.line`` sets that
            list item; an index out of range, a path through a scalar or a value that would change
            an object or list into something else is a 422 naming the path.

            A clone of at most ``CLONE_ASYNC_THRESHOLD`` documents runs now (201, with the
            ``jobId`` of its record and ``statusUrl``); a larger one answers 202 once the walk
            passes the threshold, and its job plans it (once) under the same user's rules. A dry
            run plans fully and calls ``aladdin_before_clone`` with ``plan.dry_run`` true: it is
            refused exactly as the clone would be."""
            source = authorized_project(pid, "content:view")
            target = authorized_project(body["targetProjectId"], "content:create")
            options = CloneOptions.from_request(body)
            app = ext().app
            dry_run = body["dryRun"]
            threshold = int(ext().settings.get("CLONE_ASYNC_THRESHOLD", DEFAULT_ASYNC_THRESHOLD))
            try:
                # A large closure is only walked up to the threshold here: the job plans it, once.
                plan = Planner(app, source, target, g.user, options, limit=None if dry_run else threshold).plan()
            except PlanTooLarge:
                record = new_record(source, target, g.user, options)
                job_id = str(record.id)
                ext().jobs.enqueue("plugins.clone.tasks:run_clone", job_id, job_id=job_id, timeout=3600)
                status_url = url_for("clone.CloneJob", pid=pid, job_id=job_id)
                return ({"jobId": job_id, "status": record.status, "statusUrl": status_url},
                        202, {"Location": status_url})
            if dry_run:
                check_before_writing(app, plan, g.user, dry_run=True)  # refuses as the clone would
                return plan.summary(), 200
            result = run_in_request(app, plan, g.user)
            status_url = url_for("clone.CloneJob", pid=pid, job_id=result["jobId"])
            return {**result, "statusUrl": status_url}

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


def _existing_node(project, data: dict, projection: dict | None = {"_id": 1}) -> tuple[NodeRef, dict]:  # noqa: B006
    """A node naming a document of ``project`` the caller may view, and that stored document
    (``projection`` of it; ``None``: all of it); 404 otherwise — a hidden document answers exactly like a missing one."""
    collection, ident = data["collection"], data["id"]
    ext().content.content_type(collection)  # NotFound naming the valid collections
    try:
        oid = ObjectId(ident)
    except (InvalidId, TypeError):
        raise NotFound(f"no document {collection}/{ident} in this project")
    query = ext().content.read_filter(g.user, project, collection).combine({"_id": oid})
    doc = ext().db.project(project.slug)[collection].find_one(query, projection)
    if doc is None:
        raise NotFound(f"no document {collection}/{ident} in this project")
    return NodeRef(collection, ident), doc


def visible_neighbourhood(project, reader, root: NodeRef, answer: dict, depth: int) -> dict:
    """``answer`` (a store's neighbourhood of ``root``) as ``reader`` may see it.

    Nodes naming documents hidden from the reader (or naming no document, in a collection whose
    read rules hide anything) are dropped with every relationship touching them, and what is left
    is walked again from ``root``: a node is kept only if a path of visible nodes of at most
    ``depth`` hops reaches it, and a relationship only if it lies on such a path (so nothing is
    reached *through* a hidden document). One ``_id``-only query per collection whose read
    filter is not "everything"; none at all without row-level rules."""
    content, db = ext().content, ext().db.project(project.slug)
    by_collection: dict[str, list[str]] = {}
    for node in answer["nodes"][1:]:
        by_collection.setdefault(node["collection"], []).append(node["id"])
    hidden: set[tuple[str, str]] = set()
    for collection, ids in by_collection.items():
        rf = content.read_filter(reader, project, collection)
        if rf.everything:
            continue
        visible: set[str] = set()
        if not rf.nothing:
            oids = []
            for ident in ids:
                try:
                    oids.append(ObjectId(ident))
                except (InvalidId, TypeError):
                    pass
            if oids:
                visible = {str(d["_id"]) for d in find_by_ids(db[collection], oids, rf.query, {"_id": 1})}
        hidden.update((collection, i) for i in ids if i not in visible)
    if not hidden:
        return answer
    rels = [r for r in answer["relationships"]
            if (r["from"]["collection"], r["from"]["id"]) not in hidden
            and (r["to"]["collection"], r["to"]["id"]) not in hidden]
    adjacent: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for r in rels:
        a, b = (r["from"]["collection"], r["from"]["id"]), (r["to"]["collection"], r["to"]["id"])
        adjacent.setdefault(a, []).append(b)
        adjacent.setdefault(b, []).append(a)
    start = (root.collection, root.id)
    dist = {start: 0}
    frontier = [start]
    for hop in range(1, depth + 1):
        nxt = []
        for node in frontier:
            for other in adjacent.get(node, ()):
                if other not in dist:
                    dist[other] = hop
                    nxt.append(other)
        frontier = nxt
    far = depth + 1
    return {"nodes": [n for n in answer["nodes"] if dist.get((n["collection"], n["id"]), far) <= depth],
            "relationships": [r for r in rels if min(dist.get((r["from"]["collection"], r["from"]["id"]), far),
                                                     dist.get((r["to"]["collection"], r["to"]["id"]), far)) < depth]}


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
            """Create one typed relationship between two documents of the project.

            Both ends must be documents the caller may view (a hidden one is a 404 like a missing
            one); the caller needs ``content:edit`` on the ``from`` document."""
            project = authorized_project(pid, "content:view")
            source, doc = _existing_node(project, body["from_"], None)
            target, _ = _existing_node(project, body["to"])
            store = ext().graph
            ext().content.authorize_write(g.user, project, source.collection, doc)  # content:edit of "from"
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
            """The nodes and relationships within ``depth`` hops (1-5) of a document, as the caller
            may see them: a root they may not view is a 404 like a missing one; neighbours hidden
            from them by the read rules are omitted with every relationship touching them, and so
            is whatever is reachable only through a hidden document."""
            project = authorized_project(pid, "content:view")
            root, _ = _existing_node(project, {"collection": collection, "id": doc_id})
            answer = ext().graph.neighbourhood(project.slug, root, args["depth"])
            return visible_neighbourhood(project, g.user, root, answer, args["depth"])

    return bp
