"""Projects and memberships: creation (database + indexes), deletion, and the member primitives."""

from __future__ import annotations

import copy
import re

from bson import ObjectId
from flask import current_app, has_app_context
from mongoengine import signals
from mongoengine.errors import NotUniqueError

from .compat.mongoengine import from_son
from .indexes import ensure_indexes
from .errors import AladdinError, Conflict, NotFound, WriteRefused
from .events import emit
from .nearcache import MISS
from .models import ROLES, Membership, Project, User, hot_collection, is_object_id, is_slug, utcnow

RESERVED_SLUGS = {"admin", "api", "local", "config", "aladdin"}


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    return slug if len(slug) >= 3 else (slug + "-project")[:40]


def validate_slug(slug: str) -> str:
    """``slug`` if it follows the one slug rule (``models.is_slug``), else a clear 4xx."""
    if is_object_id(slug):
        # It would shadow (or be shadowed by) the project with that id in every lookup.
        raise AladdinError("slug must not look like a project id (24 hexadecimal digits)", status=422)
    if not is_slug(slug):
        raise AladdinError(
            "slug must be 3-40 characters of lowercase letters, digits and single hyphens, "
            "starting and ending with a letter or digit", status=400)
    if slug in RESERVED_SLUGS:
        raise AladdinError(f"slug {slug!r} is reserved", status=400)
    return slug


def find_project(ref: str, *, raw: bool = False) -> Project | dict:
    """A project by id or slug; NotFound otherwise (callers authorize before revealing it).

    ``raw=True`` returns the stored document as a dict, for hot read paths that need only a
    few fields and not a MongoEngine document (building one costs about half a lookup)."""
    # Every project URL runs this: plain pymongo lookups (indexed) instead of a MongoEngine queryset,
    # on a collection handle kept per thread.
    # Unambiguous: an id-shaped reference is an id, anything else a slug (new slugs never look
    # like ids), so no project can shadow another. A project created before that rule may
    # still have an id-shaped slug: it answers to it only when no project has that id (its
    # database is named after the slug, so renaming it would mean copying the database).
    collection = hot_collection(Project)
    doc = None
    if is_object_id(ref):
        doc = collection.find_one({"_id": ObjectId(ref)}) or collection.find_one({"slug": ref})
    elif is_slug(ref):
        doc = collection.find_one({"slug": ref})
    if doc is None:
        raise NotFound("project not found", detail=lambda: f"no project has the slug or id {ref!r}; "
                                                           f"valid: {', '.join(project_slugs()) or 'none yet'}")
    return doc if raw else from_son(Project, doc)


def project_scope(project_id) -> str:
    """The near-cache scope of everything cached about one project (see :func:`cached_project`)."""
    return f"project:{project_id}"


def cached_project(ref: str, build):
    """``build(find_project(ref, raw=True))``, kept in the process's near cache
    (:mod:`core.nearcache`) under ``ref`` until the project is saved or deleted anywhere.

    Why: every project URL resolves its project, and that lookup was a third of the database
    round trips of a content list (``python -m bench.list``). A rename, an ownership transfer
    or a deletion -- every one a MongoEngine save or delete -- drops the entry in every process
    before it is acknowledged (:func:`_forget_project`), so the next request reads it afresh.
    Unknown references are never cached: a project created a moment later answers at once."""
    near = current_app.extensions["aladdin"].near_cache
    key = ("project", ref, build)  # each kind of answer apart (``build`` a function defined once)
    value = near.get(key) if near is not None else MISS
    if value is MISS:
        epoch = near.epoch() if near is not None else None
        doc = find_project(ref, raw=True)
        value = build(doc)
        if near is not None:
            near.put(key, value, scope=project_scope(doc["_id"]), epoch=epoch)
    return value


def cached_project_document(ref: str) -> Project:
    """:func:`find_project` through :func:`cached_project`: a ``Project`` of the caller's own (built
    from the cached stored document), for a caller that may write with it or hand it to plugins."""
    return _own_project(cached_project(ref, _stored_document))


def shared_project_document(ref: str) -> Project:
    """:func:`find_project` through :func:`cached_project`: one ``Project`` for every caller of
    the process until the project changes, so a caller must only read it. Why: building a
    MongoEngine document is most of a cached lookup (about 0.14 ms), and a realtime socket's
    handshake resolves its project on every page load (``bench.yjs``, connect to synced); what
    writes, or hands the project to plugins, takes its own (:func:`cached_project_document`)."""
    return cached_project(ref, _own_project)


def _stored_document(doc: dict) -> dict:
    return doc


def _own_project(doc: dict) -> Project:
    return from_son(Project, copy.deepcopy(doc))


def _forget_project(sender, document, **kwargs) -> None:
    if kwargs.get("created") or not has_app_context():
        return  # a new project replaces nothing cached (unknown references are never cached)
    ext = current_app.extensions.get("aladdin")
    if ext is not None and ext.near_cache is not None:
        ext.near_cache.invalidate(project_scope(document.id))


for _signal in (signals.post_save, signals.post_delete):
    _signal.connect(_forget_project, sender=Project, weak=False)


def project_slugs(user=None) -> list[str]:
    """Every project's slug, or those ``user`` is a member of (for messages that list choices)."""
    if user is None:
        return sorted(p.slug for p in Project.objects.only("slug"))
    ids = {m.projectId for m in Membership.objects(userId=str(user.id)).only("projectId")}
    return sorted(p.slug for p in Project.objects(id__in=list(ids)).only("slug"))


def create_project(app, owner: User, name: str, slug: str | None = None, description: str = "") -> Project:
    ext = app.extensions["aladdin"]
    slug = validate_slug(slug or slugify(name))
    if Project.objects(slug=slug).first() is not None:
        raise Conflict(f"a project with slug {slug!r} already exists")
    project = Project(slug=slug, name=name, description=description or "", ownerId=str(owner.id))
    try:
        project.save()
    except NotUniqueError:
        raise Conflict(f"a project with slug {slug!r} already exists")
    try:
        db = ext.db.project(slug)
        ensure_indexes(db, ext.content_types.values())
        ext.graph.prepare_project(slug)
        db["_aladdin"].replace_one({"_id": "project"}, {"_id": "project", "projectId": str(project.id),
                                                        "slug": slug, "createdAt": utcnow()}, upsert=True)
        Membership(projectId=str(project.id), userId=str(owner.id), role="owner",
                   addedBy=str(owner.id)).save()
        from .migrations_runner import mark_project_current

        mark_project_current(app, slug)
    except Exception:
        # Nothing half-made: no project record without its database and owner.
        Membership.objects(projectId=str(project.id)).delete()
        ext.db.drop_project(slug)
        project.delete()
        raise
    emit(app, "project.created", project_id=str(project.id), actor_id=str(owner.id),
         resource_type="project", resource_id=str(project.id), slug=slug)
    return project


def delete_project(app, project: Project, user) -> None:
    ext = app.extensions["aladdin"]
    ext.pm.hook.aladdin_before_project_delete(app=app, project=project, user=user)
    # Emit first so subscribers (audit log) record it while the project still resolves.
    emit(app, "project.deleted", project_id=str(project.id), actor_id=str(user.id) if user else None,
         resource_type="project", resource_id=str(project.id), slug=project.slug)
    ext.storage.delete_prefix(f"projects/{project.slug}/")
    ext.graph.drop_project(project.slug)
    ext.db.drop_project(project.slug)
    Membership.objects(projectId=str(project.id)).delete()
    project.delete()


def add_member(app, project: Project, user: User, role: str, added_by: User | None = None) -> Membership:
    if role not in ROLES:
        raise AladdinError(f"role must be one of {', '.join(ROLES)}", status=400)
    if Membership.objects(projectId=str(project.id), userId=str(user.id)).first():
        raise Conflict(f"{user.email} is already a member of this project")
    member = Membership(projectId=str(project.id), userId=str(user.id), role=role,
                        addedBy=str(added_by.id) if added_by else None)
    try:
        member.save()
    except NotUniqueError:
        raise Conflict(f"{user.email} is already a member of this project")
    emit(app, "member.added", project_id=str(project.id), actor_id=str(added_by.id) if added_by else None,
         resource_type="member", resource_id=str(user.id), role=role, email=user.email)
    return member


def set_role(app, project: Project, user_id: str, role: str, actor: User | None = None) -> Membership:
    if role not in ROLES or role == "owner":
        raise AladdinError("role must be editor, collaborator or viewer (owner changes only by transfer)", status=400)
    member = Membership.objects(projectId=str(project.id), userId=user_id).first()
    if member is None:
        raise NotFound("member not found")
    if member.role == "owner":
        raise WriteRefused("the owner cannot be demoted; transfer ownership first", status=409)
    old = member.role
    member.role = role
    member.save()
    emit(app, "member.role_changed", project_id=str(project.id), actor_id=str(actor.id) if actor else None,
         resource_type="member", resource_id=user_id, role=role, previousRole=old)
    return member


def remove_member(app, project: Project, user_id: str, actor: User | None = None) -> None:
    member = Membership.objects(projectId=str(project.id), userId=user_id).first()
    if member is None:
        raise NotFound("member not found")
    if member.role == "owner":
        raise WriteRefused("the owner cannot be removed; transfer ownership first", status=409)
    member.delete()
    emit(app, "member.removed", project_id=str(project.id), actor_id=str(actor.id) if actor else None,
         resource_type="member", resource_id=user_id, role=member.role)


def transfer_ownership(app, project: Project, new_owner_id: str, actor: User) -> None:
    target = Membership.objects(projectId=str(project.id), userId=new_owner_id).first()
    if target is None:
        raise AladdinError("the new owner must already be a member of the project", status=400)
    if target.role == "owner":
        raise Conflict("that user already owns the project")
    current = Membership.objects(projectId=str(project.id), role="owner").first()
    target.role = "owner"
    target.save()
    if current:
        current.role = "editor"
        current.save()
    project.ownerId = new_owner_id
    project.updatedAt = utcnow()
    project.save()
    emit(app, "project.ownership_transferred", project_id=str(project.id), actor_id=str(actor.id),
         resource_type="project", resource_id=str(project.id), newOwnerId=new_owner_id,
         previousOwnerId=current.userId if current else None)
