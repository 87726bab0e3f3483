"""Clone execution: media copies, one bulk insert per collection, graph recreation — or a full rollback.

Media objects are copied server-side. On object stores (S3 ``CopyObject``: a network round trip
each) a few worker threads copy while the documents are inserted; local storage copies inline,
before the inserts, because a local copy is a hard link whose cost is Python bookkeeping under
the GIL, and threads only made it slower (measured: +0.2-0.3 s on 1,000 copies next to the
inserts). The ``CLONE_MEDIA_WORKERS`` setting overrides the choice (1 = inline).

The bulk insert deliberately bypasses ``ContentService``'s per-document lifecycle hooks
(``aladdin_before/after_content_write``, ``content.created`` events): a 5,000-document clone
would otherwise fire 10,000 hook calls and flood the activity log. Plugins see a clone instead
through ``aladdin_before_clone`` (may refuse) and one ``clone.completed`` event per project.
Its authorization is the service's own: every copy is checked as one create would be
(:func:`authorize_copies`) before anything is written."""

from __future__ import annotations

import itertools
import logging
import threading
from typing import Callable

from bson import ObjectId

from core.content import SYSTEM, actor_id
from core.db import delete_by_ids, find_by_ids
from core.errors import AladdinError, Conflict, Forbidden, without_paths
from core.events import emit
from core.graph import NodeRef, Relationship, relationship_row
from core.indexes import is_duplicate_key

from .gc_pause import gc_paused
from .plan import ClonePlan
from .progress import CloneProgress, ProgressFn

log = logging.getLogger("aladdin.clone")

REMOTE_MEDIA_WORKERS = 8


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
        taken += [str(d["_id"]) for d in find_by_ids(db[collection], ids, None, {"_id": 1})]
    if taken:
        raise Conflict(f"{len(taken)} document id(s) already exist in the target project",
                       ids=sorted(taken)[:100])


REFUSED_SHOWN = 100  # copies named in a refusal's body (the count is always exact)


def authorize_copies(app, plan: ClonePlan, user) -> None:
    """The cloning user may create every copy in the target, as the content service decides one
    create (``refused_creates``: ``content:create``, and ``media:upload`` for media, against each
    copy as it will be stored, overrides applied): otherwise 403 naming the refused copies and
    nothing is written. A clone creates only new ids (``preserveIds`` collisions are a 409 before
    any write), so it never overwrites. :data:`~core.content.SYSTEM` (the CLI's clone without
    ``--as``) is refused nothing."""
    content = app.extensions["aladdin"].content
    refused = [{"collection": collection, "documentId": str(doc["clonedFrom"]["documentId"]),
                "permission": permission}
               for collection, docs in plan.copies.items()
               for doc, permission in content.refused_creates(user, plan.target, collection, docs)]
    if refused:
        role = app.extensions["aladdin"].authz.role(user, plan.target)
        first = refused[0]
        raise Forbidden(f"your role ({role}) does not allow creating {len(refused)} of the "
                        f"{plan.document_count} documents this clone would write in {plan.target.slug} "
                        f"(first: {first['collection']}/{first['documentId']}, {first['permission']}); "
                        f"nothing was cloned", refused=refused[:REFUSED_SHOWN])


def check_before_writing(app, plan: ClonePlan, user, *, dry_run: bool) -> None:
    """Everything that may refuse a planned clone before its first write, in the same order for a
    dry run and the real clone, so both answer the same: the cloning user's right to create each
    copy (403), ``preserveIds`` collisions (409), then ``aladdin_before_clone`` with the public
    plan (``core.cloneplan.ClonePlan``, built only when some plugin implements the hook; the
    platform's own clone is ``user=None`` to it, as in the content hooks)."""
    authorize_copies(app, plan, user)
    check_preserved_ids(app, plan)
    hook = app.extensions["aladdin"].pm.hook.aladdin_before_clone
    if hook.get_hookimpls():
        hook(app=app, source=plan.source, target=plan.target, plan=plan.public(dry_run),
             user=None if user is SYSTEM else user)


class Executor:
    """Writes a plan; on any failure removes what it wrote (documents, storage objects, graph)."""

    def __init__(self, app, plan: ClonePlan, user, job_id: str | None = None,
                 progress: ProgressFn | None = None, tracker: CloneProgress | None = None):
        self.app = app
        self.ext = app.extensions["aladdin"]
        self.plan = plan
        self.user = user
        self.job_id = job_id
        self.tracker = tracker or CloneProgress(app, plan.source, plan.target, user, plan.root,
                                                job_id=job_id, callback=progress, planning=False)
        self._copied_keys: list[str] = []
        self._inserted: list[tuple[str, list[ObjectId]]] = []
        self._graph_written = False
        self._graph_before: tuple[set, set] | None = None  # (nodes, rows) the target had already

    # --- progress ------------------------------------------------------------------------------

    def _progress(self, value: float, stage: str) -> None:
        """``value``: the share of the writing done (the tracker places it on the whole bar)."""
        self.tracker.written(value, stage)

    @property
    def _uid(self) -> str | None:
        return actor_id(self.user)

    # --- the run ---------------------------------------------------------------------------------

    def run(self) -> dict:
        with gc_paused():
            return self._run()

    def _run(self) -> dict:
        plan = self.plan
        check_before_writing(self.app, plan, self.user, dry_run=False)  # a refusal: 4xx, nothing written
        self._total = max(1, len(plan.media) + plan.document_count + (1 if plan.relationships else 0))
        self._docs_done = 0
        self._progress(0.0, "started")
        copier = _MediaCopier(self.app, plan.media, self._copied_keys, self._media_workers())

        def media_progress(copied: int) -> None:
            self._progress((copied + self._docs_done) / self._total, "media")

        try:
            copier.start()
            if copier.inline:
                copier.finish(media_progress)  # first: a missing object fails before any insert
            db = self.ext.db.project(plan.target.slug)
            codec = self.ext.codec
            for collection, docs in plan.copies.items():
                copier.check()  # a failed media copy stops the clone before more is written
                ctype = self.ext.content_types[collection]
                if ctype.sensitive_fields:
                    for doc in docs:
                        codec.encrypt_document(ctype, doc)
                self._inserted.append((collection, [d["_id"] for d in docs]))
                db[collection].insert_many(docs, ordered=False)
                if ctype.sensitive_fields:
                    for doc in docs:
                        codec.decrypt_document(ctype, doc)
                self._docs_done += len(docs)
                self._progress((copier.done + self._docs_done) / self._total, "documents")
            copier.finish(media_progress)
            if plan.relationships:
                if plan.options.preserve_ids:
                    self._note_existing_graph()
                self._graph_written = True  # before the call: a half-written graph is removed too
                self.ext.graph.add_relationship_rows(plan.target.slug, plan.relationships)
                self._progress((len(plan.media) + self._docs_done + 1) / self._total, "relationships")
        except BaseException as exc:
            copier.stop()  # no copy may land after the rollback has listed what to remove
            self.rollback()
            refusal = exc if isinstance(exc, AladdinError) else None
            if is_duplicate_key(exc):  # a declared unique field (ContentType.unique): the client's 409
                refusal = Conflict("the clone would give the target project a second document with a value "
                                   "its content type declares unique; nothing was cloned (change the value "
                                   "with overrides)")
            self._emit_outcome("clone.failed", error=_describe(refusal or exc))
            if refusal is exc:
                raise
            if refusal is not None:
                raise refusal from None
            log.exception("clone of %s/%s failed; rolled back", *plan.root)
            raise CloneFailed(f"the clone failed and was rolled back: {_describe(exc)}") from exc
        result = self.result()
        self._progress(1.0, "completed")
        self._emit_outcome("clone.completed", clonedCount=result["clonedCount"],
                           newRootId=result["newRootId"], media=len(plan.media),
                           relationships=len(plan.relationships))
        return result

    def _media_workers(self) -> int:
        default = 1 if getattr(self.ext.storage, "scheme", None) == "file" else REMOTE_MEDIA_WORKERS
        try:
            return max(1, int(self.ext.settings.get("CLONE_MEDIA_WORKERS", default)))
        except (TypeError, ValueError):
            return default

    def _note_existing_graph(self) -> None:
        """With ``preserveIds`` the copies' graph nodes carry ids the target's graph may already
        have (relationships drawn before the documents existed): remember them, so a rollback
        removes only what this clone added."""
        graph, slug = self.ext.graph, self.plan.target.slug
        nodes = graph.existing_nodes(slug, self.plan.graph_nodes())
        rows = {relationship_row(r) for r in graph.relationships_of(slug, nodes)} if nodes else set()
        self._graph_before = ({(n.collection, n.id) for n in nodes}, rows)

    def _rollback_graph(self) -> None:
        plan, graph = self.plan, self.ext.graph
        if self._graph_before is None:
            graph.delete_nodes(plan.target.slug, plan.graph_nodes())  # new ids: all of them are ours
            return
        nodes_before, rows_before = self._graph_before
        graph.delete_relationships(plan.target.slug, [
            Relationship(NodeRef(a, b), NodeRef(c, d), t)
            for a, b, c, d, t in plan.relationships if (a, b, c, d, t) not in rows_before])
        graph.delete_nodes(plan.target.slug, [n for n in plan.graph_nodes()
                                              if (n.collection, n.id) not in nodes_before])

    def rollback(self) -> None:
        """Remove every written item by the ids and keys the plan fixed before writing."""
        plan = self.plan
        problems = []
        if self._graph_written:
            try:
                self._rollback_graph()
            except Exception as exc:  # noqa: BLE001 - keep removing the rest
                problems.append(f"graph: {exc}")
        db = self.ext.db.project(plan.target.slug)
        for collection, ids in self._inserted:
            try:
                delete_by_ids(db[collection], ids)
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
            "hidden": plan.hidden,
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


class _MediaCopier:
    """Copies a plan's media objects with the storage's server-side copy, on worker threads
    (or inline in :meth:`finish` with one worker).

    Every key is appended to ``written`` before its copy starts, so a rollback after
    :meth:`stop` removes exactly what may have landed (a half copy included)."""

    def __init__(self, app, items: list, written: list[str], workers: int):
        self.app = app
        self.storage = app.extensions["aladdin"].storage
        self.items = items
        self.written = written
        self.workers = max(1, min(workers, len(items)))
        self.done = 0
        self._next = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._threads: list[threading.Thread] = []

    @property
    def inline(self) -> bool:
        return self.workers == 1

    def start(self) -> None:
        if not self.items or self.inline:
            return  # copied inline by finish()
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"clone-media-{n}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        with self.app.app_context():
            while not self._stop.is_set():
                i = next(self._next)  # atomic under the GIL: each item is taken once
                if i >= len(self.items):
                    return
                try:
                    self._copy(self.items[i])
                except BaseException as exc:  # noqa: BLE001 - handed to the clone's thread
                    with self._lock:
                        if self._error is None:
                            self._error = exc
                    self._stop.set()
                    return

    def _copy(self, item) -> None:
        with self._lock:
            self.written.append(item.target_key)  # before the call: a half copy is removed too
        try:
            self.storage.copy(item.source_key, item.target_key)
        except KeyError:
            raise AladdinError(f"media object {item.source_key!r} is missing from storage; "
                               f"nothing was cloned", status=409) from None
        with self._lock:
            self.done += 1

    def check(self) -> None:
        """Raise the first copy failure, if any, in the calling thread."""
        if self._error is not None:
            self.stop()
            raise self._error

    def finish(self, progress: Callable[[int], None]) -> None:
        """Wait for every copy (or do them here with one worker), reporting progress."""
        if not self._threads:
            while True:  # a second call finds nothing left
                i = next(self._next)
                if i >= len(self.items):
                    return
                self._copy(self.items[i])
                progress(self.done)
        for thread in self._threads:
            while thread.is_alive():
                thread.join(0.2)
                progress(self.done)
        self.check()
        progress(self.done)

    def stop(self) -> None:
        """Let no new copy start and wait for the running ones."""
        self._stop.set()
        for thread in self._threads:
            thread.join()


def _describe(exc: BaseException) -> str:
    """An error as users read it (clone answers and job records): no server paths in it."""
    if isinstance(exc, AladdinError):
        return without_paths(exc.message)
    return without_paths(f"{type(exc).__name__}: {exc}")[:500]

