"""Clone execution: media copies, one bulk insert per collection, graph recreation — or a full rollback.

The bulk insert deliberately bypasses ``ContentService`` and its per-document lifecycle hooks
(``aladdin_before/after_content_write``, ``content.created`` events): a 5,000-document clone
would otherwise fire 10,000 hook calls and flood the activity log. Plugins see a clone instead
through ``aladdin_before_clone`` (may refuse) and one ``clone.completed`` event per project."""

from __future__ import annotations

import logging
from typing import Callable

from bson import ObjectId

from core.errors import AladdinError, Conflict
from core.events import emit

from .planner import ClonePlan

log = logging.getLogger("aladdin.clone")

ProgressFn = Callable[[float, str], None]


class CloneFailed(AladdinError):
    """A clone failed while writing; everything it wrote was removed again."""

    status = 500


def check_preserved_ids(app, plan: ClonePlan) -> None:
    """With ``preserveIds`` an id already present in the target is a 409, found before any write."""
    if not plan.options.preserve_ids:
        return
    db = app.extensions["aladdin"].db.project(plan.target.slug)
    taken: list[str] = []
    for collection, ids in plan.new_ids_by_collection().items():
        taken += [str(d["_id"]) for d in db[collection].find({"_id": {"$in": ids}}, {"_id": 1})]
    if taken:
        raise Conflict(f"{len(taken)} document id(s) already exist in the target project",
                       ids=sorted(taken)[:100])


class Executor:
    """Writes a plan; on any failure removes what it wrote (documents, storage objects, graph)."""

    def __init__(self, app, plan: ClonePlan, user, job_id: str | None = None,
                 progress: ProgressFn | None = None):
        self.app = app
        self.ext = app.extensions["aladdin"]
        self.plan = plan
        self.user = user
        self.job_id = job_id
        self.progress_cb = progress
        self._copied_keys: list[str] = []
        self._inserted: list[tuple[str, list[ObjectId]]] = []
        self._graph_nodes: list = []
        self._last_progress = -1.0

    # --- progress ------------------------------------------------------------------------------

    def _progress(self, value: float, stage: str) -> None:
        value = round(min(max(value, 0.0), 1.0), 3)
        if value < 1.0 and value - self._last_progress < 0.05:
            return  # at most ~20 progress events per clone, however large
        self._last_progress = value
        if self.progress_cb:
            self.progress_cb(value, stage)
        emit(self.app, "clone.progress", project_id=str(self.plan.source.id), actor_id=self._uid,
             resource_type=self.plan.root[0], resource_id=self.plan.root[1],
             jobId=self.job_id, progress=value, stage=stage, projectId=str(self.plan.source.id),
             targetProjectId=str(self.plan.target.id))

    @property
    def _uid(self) -> str | None:
        return str(self.user.id) if self.user is not None else None

    # --- the run ---------------------------------------------------------------------------------

    def run(self) -> dict:
        plan = self.plan
        check_preserved_ids(self.app, plan)
        # A refusal here is a 4xx with nothing written.
        self.ext.pm.hook.aladdin_before_clone(app=self.app, source=plan.source, target=plan.target,
                                              plan=plan, user=self.user)
        total = max(1, len(plan.media) + plan.document_count + (1 if plan.relationships else 0))
        done = 0
        self._progress(0.0, "started")
        try:
            storage = self.ext.storage
            for item in plan.media:
                self._copied_keys.append(item.target_key)  # before the call: a half copy is removed too
                try:
                    storage.copy(item.source_key, item.target_key)
                except KeyError:
                    raise AladdinError(f"media object {item.source_key!r} is missing from storage; "
                                       f"nothing was cloned", status=409) from None
                done += 1
                self._progress(done / total, "media")
            db = self.ext.db.project(plan.target.slug)
            codec = self.ext.codec
            for collection, docs in plan.copies.items():
                ctype = self.ext.content_types[collection]
                if ctype.sensitive_fields:
                    for doc in docs:
                        codec.encrypt_document(ctype, doc)
                self._inserted.append((collection, [d["_id"] for d in docs]))
                db[collection].insert_many(docs, ordered=False)
                if ctype.sensitive_fields:
                    for doc in docs:
                        codec.decrypt_document(ctype, doc)
                done += len(docs)
                self._progress(done / total, "documents")
            if plan.relationships:
                self._graph_nodes = plan.graph_nodes()
                self.ext.graph.add_relationships(plan.target.slug, plan.relationships)
                done += 1
                self._progress(done / total, "relationships")
        except BaseException as exc:
            self.rollback()
            self._emit_outcome("clone.failed", error=_describe(exc))
            if isinstance(exc, AladdinError):
                raise
            log.exception("clone of %s/%s failed; rolled back", *plan.root)
            raise CloneFailed(f"the clone failed and was rolled back: {_describe(exc)}") from exc
        result = self.result()
        self._progress(1.0, "completed")
        self._emit_outcome("clone.completed", clonedCount=result["clonedCount"],
                           newRootId=result["newRootId"], media=len(plan.media),
                           relationships=len(plan.relationships))
        return result

    def rollback(self) -> None:
        """Remove every written item by the ids and keys the plan fixed before writing."""
        plan = self.plan
        problems = []
        if self._graph_nodes:
            try:
                self.ext.graph.delete_nodes(plan.target.slug, self._graph_nodes)
            except Exception as exc:  # noqa: BLE001 - keep removing the rest
                problems.append(f"graph: {exc}")
        db = self.ext.db.project(plan.target.slug)
        for collection, ids in self._inserted:
            try:
                db[collection].delete_many({"_id": {"$in": ids}})
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{collection}: {exc}")
        for key in self._copied_keys:
            try:
                self.ext.storage.delete(key)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"storage {key}: {exc}")
        if problems:
            log.error("clone rollback left items behind: %s", "; ".join(problems))

    def result(self) -> dict:
        plan = self.plan
        return {
            "success": True,
            "clonedCount": plan.document_count,
            "newRootId": plan.new_root_id,
            "rootCollection": plan.root[0],
            "targetProjectId": str(plan.target.id),
            "idMap": dict(plan.id_map),
            "documents": plan.documents_per_collection(),
            "media": [m.as_dict() for m in plan.media],
            "relationships": len(plan.relationships),
            "dangling": plan.dangling,
            "warnings": plan.warnings,
        }

    def _emit_outcome(self, name: str, **details) -> None:
        plan = self.plan
        for role, project in (("source", plan.source), ("target", plan.target)):
            if role == "target" and str(plan.target.id) == str(plan.source.id):
                break  # one event when cloning within a project
            emit(self.app, name, project_id=str(project.id), actor_id=self._uid,
                 resource_type=plan.root[0], resource_id=plan.root[1] if role == "source" else plan.new_root_id,
                 jobId=self.job_id, role=role, sourceProjectId=str(plan.source.id),
                 targetProjectId=str(plan.target.id), rootId=plan.root[1], **details)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, AladdinError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"[:500]


def clone(app, source, target, user, options, *, job_id: str | None = None,
          progress: ProgressFn | None = None, dry_run: bool = False) -> dict:
    """Plan and (unless ``dry_run``) execute one clone; the function the API, CLI and job share."""
    from .planner import Planner

    plan = Planner(app, source, target, user, options).plan()
    if dry_run:
        check_preserved_ids(app, plan)
        return plan.summary()
    return Executor(app, plan, user, job_id=job_id, progress=progress).run()
