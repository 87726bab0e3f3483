"""The one write path every content change goes through (REST, realtime, clone); content types
are declared in ``core.content_types`` (re-exported here).

Content lives in the project's own database; a document carries platform fields (below),
free-form ``content``, ``relatedDocuments`` and the fields its type adds."""

from __future__ import annotations

import copy
import datetime as dt
import logging
import re
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from .authz import EVERYTHING
from .bodies import MAX_DEPTH, bad_text
from .content_access import MEDIA, SYSTEM, WriteAuthorization, actor_id  # noqa: F401 - actor_id re-exported
from .content_types import (COLLECTION_RE, PLATFORM_SCALARS, ContentType,  # noqa: F401 - re-exported
                            RelatedDocumentSchema, is_sensitive)
from .db import count_matching, is_embedded, list_sort, matched_count
from .dotted import apply_dotted, get_path
from .errors import Conflict, NotFound, WriteRefused
from .events import emit
from .graph import NodeRef
from .indexes import duplicate_conflict, ensure_indexes  # noqa: F401 - re-exported: its old home
from .models import isoformat, utcnow
from .plugins import call_each

log = logging.getLogger("aladdin.content")

# Fields the platform owns: clients cannot set them through the API.
PLATFORM_FIELDS = ("projectId", "createdBy", "createdAt", "updatedAt", "version")
CLONE_FIELDS = ("clonedFrom", "isClone", "cloneDepth", "originalCreator")
MAX_PAGE = 200


def parse_object_id(value: str) -> ObjectId:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise NotFound("document not found")


def serialize(doc: dict) -> dict:
    """A stored document as the API shows it: string ``id``, ISO dates, camelCase fields."""
    out = {}
    for key, value in doc.items():
        if key == "_id":
            out["id"] = str(value)
        else:
            out[key] = _jsonable(value)
    return out


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float)):  # most values: answered first
        return value
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, dt.datetime):
        return isoformat(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def set_path(doc: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = doc
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            node[part] = nxt
        node = nxt
    node[parts[-1]] = value


def unset_path(doc: dict, dotted: str) -> None:
    parts = dotted.split(".")
    node: Any = doc
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(parts[-1], None)


def check_content(value: Any, where: str = "content") -> None:
    """The one rule for what ``content`` may hold, applied by every write path (REST POST and
    PATCH, socket ``content_change``, Yjs commits, plugins): keys are strings that neither start
    with ``$`` nor contain ``.`` (MongoDB would read them as operators and paths), no string
    holds a NUL or a lone surrogate, nesting stays within ``bodies.MAX_DEPTH``. Iterative, so a
    deep value cannot exhaust the stack. Raises ``WriteRefused`` (422)."""
    stack = [(value, where, 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise WriteRefused(f"{path} is nested deeper than {MAX_DEPTH} levels", status=422)
        if isinstance(node, dict):
            for key, item in node.items():
                check_content_key(key, path)
                stack.append((item, f"{path}.{key}" if len(path) < 200 else path, depth + 1))
        elif isinstance(node, (list, tuple)):
            stack.extend((item, path, depth + 1) for item in node)
        elif isinstance(node, str) and (problem := bad_text(node)):
            raise WriteRefused(f"a value in {path} {problem}", status=422)


def check_content_key(key: Any, where: str = "content") -> None:
    """One key inside ``content`` (see :func:`check_content`); ``WriteRefused`` (422) if refused."""
    if not isinstance(key, str) or not key:
        raise WriteRefused(f"keys in {where} must be non-empty strings", status=422)
    problem = bad_text(key)
    if problem is None and (key.startswith("$") or "." in key):
        problem = "starts with '$' or contains '.'"
    if problem:
        raise WriteRefused(f"content key {key[:80]!r} in {where} is not allowed: it {problem}",
                           status=422)


PATCH_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+){0,15}\Z")


class ContentService(WriteAuthorization):
    """Create, read, update and delete content in a project, firing lifecycle hooks and events.

    Every writer (REST, realtime, CLI) goes through here so hooks, versions and the
    activity log see every change exactly once. Every read and write is also authorized here,
    against the document, for the acting user (``reader=`` / ``user``): REST routes, socket
    handlers and plugins acting for a user never decide content permissions themselves.
    :data:`SYSTEM` as the actor is the platform's own read or write, which no policy limits."""

    def __init__(self, app):
        self.app = app

    @property
    def _ext(self):
        return self.app.extensions["aladdin"]

    def content_type(self, collection: str) -> ContentType:
        ctype = self._ext.content_types.get(collection)
        if ctype is None:
            # Content types are public (the OpenAPI document lists them): name the valid ones.
            raise NotFound(f"unknown collection {collection!r}; valid: {', '.join(sorted(self._ext.content_types))}")
        return ctype

    def collection(self, project, collection: str):
        self.content_type(collection)
        return self._ext.db.project(project.slug)[collection]

    # --- reads ----------------------------------------------------------------------------

    def get(self, project, collection: str, doc_id: str, *, reader) -> dict:
        """One document as ``reader`` may see it: NotFound if missing *or* hidden from them.

        ``reader`` is the user whose ``content:view`` rules apply, or :data:`SYSTEM` for the
        platform's own reads (writes re-reading what they change, migrations)."""
        query = {"_id": parse_object_id(doc_id)}
        if reader is not SYSTEM:
            query = self.read_filter(reader, project, collection, only=[query["_id"]]).combine(query)
        doc = self.collection(project, collection).find_one(query)
        if doc is None:
            raise NotFound("document not found")
        self._ext.codec.decrypt_document(self.content_type(collection), doc)
        return doc

    def list(self, project, collection: str, *, reader, filters: dict | None = None, sort: list | None = None,
             limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
        """A page of the documents ``reader`` may view and their exact total: the read policy is
        part of the database query, so paging, sorting and totals never count hidden documents.
        ``sort`` lists ``(key, direction)`` pairs; ties go by id in the last key's direction
        (:func:`~.db.list_sort`), so pages never overlap or skip and reverse with the sort."""
        query = dict(filters or {})
        if reader is not SYSTEM:
            query = self.read_filter(reader, project, collection).combine(query)
        coll = self.collection(project, collection)
        offset, limit = max(offset, 0), min(max(limit, 1), MAX_PAGE)
        cursor = coll.find(query).sort(list_sort(sort)).skip(offset).limit(limit)
        docs = list(cursor)
        total = matched_count(cursor) if is_embedded(coll.database) else None
        ctype = self.content_type(collection)
        if total is None:
            total = self._ext.totals.count(coll, query, lambda: count_matching(coll, query, ctype.scalar_fields))
        for doc in docs:
            self._ext.codec.decrypt_document(ctype, doc)
        return docs, total

    def read_filter(self, reader, project, collection: str, only: list | None = None):
        """The reader's ``content:view`` filter for ``collection`` (see ``Authorizer.read_filter``;
        ``only``: the ids the read is limited to)."""
        if reader is SYSTEM:
            return EVERYTHING
        return self._ext.authz.read_filter(reader, project, collection, only)

    def can_view(self, reader, project, collection: str, document: dict) -> bool:
        """May ``reader`` view ``document`` (a stored document in hand)? Same rule as lists."""
        return reader is SYSTEM or self._ext.authz.can_view(reader, project, collection, document)

    def is_sensitive(self, collection: str, path: str) -> bool:
        """Is the stored field ``path`` (or part of it) encrypted at rest in ``collection``?"""
        return is_sensitive(self._ext.content_types, collection, path)

    # --- writes ---------------------------------------------------------------------------

    def _before(self, project, collection, action, document, previous, user):
        user = None if user is SYSTEM else user  # plugins see the platform's own writes as nobody's
        self._ext.pm.hook.aladdin_before_content_write(
            app=self.app, project=project, collection=collection, action=action,
            document=document, previous=previous, user=user)

    def _after(self, project, collection, action, document, previous, user):
        user = None if user is SYSTEM else user
        # The write is stored: a plugin failing here is logged and counted, never the client's 500.
        call_each(self._ext.pm, "aladdin_after_content_write", self._ext.plugin_failures,
                  context=f" after a {action} of {collection}", app=self.app, project=project,
                  collection=collection, action=action, document=document, previous=previous, user=user)
        emit(self.app, f"content.{action}d", project_id=str(project.id), actor_id=str(user.id) if user else None,
             resource_type=collection, resource_id=str(document.get("_id")),
             version=document.get("version"))

    def create(self, project, collection: str, data: dict, user) -> dict:
        """Create a document as ``user``, or as :data:`SYSTEM` (not authorized, created by nobody).
        ``user`` needs ``content:create`` in the project (:meth:`authorize_create`) and for this
        document as it will be stored (:meth:`authorize_write`: rules about its fields hold)."""
        self.authorize_create(project, collection, user)
        ctype = self.content_type(collection)
        author = None if user is SYSTEM else user
        now = utcnow()
        document = {
            "_id": ObjectId(),
            "projectId": str(project.id),
            "createdBy": str(author.id) if author else None,
            "createdAt": now,
            "updatedAt": now,
            "version": 1,
            "content": {},
            "relatedDocuments": [],
            "clonedFrom": None,
            "isClone": False,
            "cloneDepth": 0,
            "originalCreator": str(author.id) if author else None,
        }
        check_content(data.get("content") or {})
        check_content(data.get("relatedDocuments") or [], "relatedDocuments")
        document.update(copy.deepcopy(data))
        self.authorize_write(user, project, collection, document, "create")
        self._before(project, collection, "create", document, None, user)
        self._ext.codec.encrypt_document(ctype, document)
        try:
            self.collection(project, collection).insert_one(document)
        except DuplicateKeyError:  # a declared unique field (ContentType.unique): 409, nothing stored
            raise duplicate_conflict(ctype, self.collection(project, collection), document) from None
        self._ext.codec.decrypt_document(ctype, document)
        self._after(project, collection, "create", document, None, user)
        return document

    def update(self, project, collection: str, doc_id: str, patch: dict, user,
               base_version: int | None = None) -> dict:
        """Apply ``patch`` (dotted field paths → values) if ``base_version`` is still current.

        ``user`` must be able to view and edit the document (:meth:`writable`, checked before
        anything about the patch), or be :data:`SYSTEM`. The compare-and-set on ``version``
        makes concurrent writers (REST and realtime) safe: a stale writer gets ``Conflict`` carrying the current document to rebase on."""
        previous = self.writable(project, collection, doc_id, user, "update")
        ctype = self.content_type(collection)
        writable = ("content", "relatedDocuments", *[f for f in ctype.fields if f not in ctype.readonly_fields])
        for key, value in patch.items():
            if isinstance(key, str) and key.startswith("content."):
                # Content keys follow the same rule as a POST's: one check, the same answer.
                for part in key.split(".")[1:]:
                    check_content_key(part, "content")
                if not PATCH_KEY_RE.match(key):
                    raise WriteRefused(f"invalid content key {key[8:]!r}", status=422)
                check_content(value, key)
            elif not isinstance(key, str) or not PATCH_KEY_RE.match(key) or key.split(".")[0] not in writable:
                raise WriteRefused(f"field {key!r} cannot be changed", status=400)
            elif key == "content":
                check_content(value)
        coll = self.collection(project, collection)
        if base_version is not None and previous.get("version") != base_version:
            raise Conflict("version conflict", version=previous.get("version"),
                           document=serialize(previous))
        document = copy.deepcopy(previous)
        for key, value in patch.items():
            apply_dotted(document, key, copy.deepcopy(value))  # list items by index, never a type change
        self._validate_full(ctype, document)
        document["updatedAt"] = utcnow()
        document["version"] = previous.get("version", 1) + 1
        self._before(project, collection, "update", document, previous, user)
        stored = copy.deepcopy(document)
        self._ext.codec.encrypt_document(ctype, stored)
        stored.pop("_id")
        try:
            result = coll.find_one_and_replace({"_id": previous["_id"], "version": previous.get("version")},
                                               stored, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:
            raise duplicate_conflict(ctype, coll, document) from None
        if result is None:
            current = self.get(project, collection, doc_id, reader=SYSTEM)
            if ctype.unique and current.get("version") == previous.get("version"):
                raise duplicate_conflict(ctype, coll, document)  # nx-27017: no match, not error 11000
            raise Conflict("version conflict", version=current.get("version"), document=serialize(current))
        self._after(project, collection, "update", document, previous, user)
        return document

    def delete(self, project, collection: str, doc_id: str, user) -> dict:
        """Delete a document ``user`` may view and delete (:meth:`writable`; media needs
        ``media:delete`` too), or as :data:`SYSTEM`; returns it as it was. A media document's
        file goes only after its document: a refused or failed deletion leaves both."""
        previous = self.writable(project, collection, doc_id, user, "delete")
        self._before(project, collection, "delete", previous, previous, user)
        self.collection(project, collection).delete_one({"_id": previous["_id"]})
        # A deleted document leaves no node behind: its relationships would otherwise still
        # show in the graph API, and a later clone reusing the id would inherit them.
        try:
            self._ext.graph.delete_nodes(project.slug, [NodeRef(collection, str(previous["_id"]))])
        except Exception:  # noqa: BLE001 - the document is gone either way; say what is left
            log.exception("could not remove graph node %s/%s of project %s", collection, previous["_id"],
                          project.slug)
        if collection == MEDIA and previous.get("storageKey"):
            self._ext.storage.delete(previous["storageKey"])
        self._after(project, collection, "delete", previous, previous, user)
        return previous

    def _validate_full(self, ctype: ContentType, document: dict) -> None:
        """Re-validate type fields after a dotted patch, which bypasses the body schema."""
        body = {k: document[k] for k in ("content", "relatedDocuments", *ctype.fields) if k in document and document[k] is not None}
        errors = ctype.schema(partial=True).validate(body)
        if errors:
            raise WriteRefused("invalid document", status=422, errors=errors)
