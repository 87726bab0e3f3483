"""Oso authorization: the default ``.polar`` rule book, plugin and admin policy files, ``authorize()``.

Every route authorizes through :meth:`Authorizer.authorize`. A user with no role in a project
learns nothing about it (404), a member without the permission gets 403."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Callable, Iterable

from oso import Oso
from polar.exceptions import PolarRuntimeError

from ..errors import Forbidden, NotFound

POLICY_DIR = Path(__file__).parent / "policies"
DEFAULT_POLICY_FILES = (POLICY_DIR / "roles.polar", POLICY_DIR / "ownership.polar")

PERMISSIONS = (
    "project:view", "project:edit", "project:delete", "project:export", "project:share",
    "content:view", "content:create", "content:edit", "content:delete",
    "media:upload", "media:delete",
    "generate:image", "generate:video", "generate:voice",
    "team:invite", "team:remove", "team:edit_roles",
)


DECISION_CACHE_SIZE = 50_000  # memoised polar answers per app; cleared wholesale when full


class User:
    """The user as policies see it: ``id``, ``email`` and ``role_in(project)``."""

    def __init__(self, id: str, email: str, role_lookup: Callable[[str, str], str | None]):
        self.id = id
        self.email = email
        self._role_lookup = role_lookup
        self._roles: dict[str, str | None] = {}

    def role_in(self, project: "Project") -> str | None:
        # One lookup per project per request, however many rules ask.
        if project.id not in self._roles:
            self._roles[project.id] = self._role_lookup(self.id, project.id)
        return self._roles[project.id]


@dataclasses.dataclass
class Project:
    id: str
    slug: str = ""
    owner_id: str = ""


@dataclasses.dataclass
class Content:
    project: Project
    collection: str
    id: str
    created_by: str | None = None


class PolicyError(Exception):
    """A policy file failed to load; ``str()`` names the file and line."""


def policy_files(extra: Iterable[Path] = (), admin_dir: Path | None = None) -> list[Path]:
    files = [*DEFAULT_POLICY_FILES, *[Path(p) for p in extra]]
    if admin_dir:
        if not Path(admin_dir).is_dir():
            raise PolicyError(f"ALADDIN_POLICY_DIR {admin_dir} is not a directory")
        files += sorted(Path(admin_dir).glob("*.polar"))
    return files


def build_oso(files: Iterable[Path]) -> Oso:
    oso = Oso()
    oso.register_class(User)
    oso.register_class(Project)
    oso.register_class(Content)
    files = [str(f) for f in files]
    try:
        oso.load_files(files)
    except Exception as exc:  # polar raises several exception types, all with file:line text
        raise PolicyError(str(exc)) from exc
    return oso


class Authorizer:
    def __init__(self, files: Iterable[Path], role_lookup: Callable[[str, str], str | None]):
        self.files = list(files)
        self.oso = build_oso(self.files)
        self.role_lookup = role_lookup
        # The polar VM is not re-entrant across threads (Socket.IO and web threads share it).
        self._lock = threading.RLock()
        self._decisions: dict[tuple, bool] = {}

    def actor(self, user) -> User:
        return User(str(user.id), getattr(user, "email", ""), self.role_lookup)

    def resource(self, project, collection: str | None = None, document: dict | None = None):
        proj = Project(id=str(project.id), slug=project.slug, owner_id=project.ownerId)
        if collection is None:
            return proj
        doc = document or {}
        return Content(project=proj, collection=collection, id=str(doc.get("_id", "")),
                       created_by=doc.get("createdBy"))

    def is_allowed(self, user, action: str, resource) -> bool:
        actor = user if isinstance(user, User) else self.actor(user)
        key = self._decision_key(actor, action, resource)
        with self._lock:
            if key is not None and key in self._decisions:
                return self._decisions[key]
            try:
                allowed = bool(self.oso.is_allowed(actor, action, resource))
            except PolarRuntimeError:
                allowed = False
            if key is not None:
                if len(self._decisions) >= DECISION_CACHE_SIZE:
                    self._decisions.clear()
                self._decisions[key] = allowed
            return allowed

    @staticmethod
    def _decision_key(actor: User, action: str, resource) -> tuple | None:
        """Everything a policy can observe about this question, so equal keys get equal answers.

        Policy files are loaded once per app and polar rules are pure: the answer depends only
        on the actor's id, email and role in the resource's project, the action and the
        resource's fields. The role is looked up fresh on every request (not cached here), so a
        role change takes effect at once; the memo only skips re-running the polar VM, which
        is the most expensive step of an authorized request."""
        if isinstance(resource, Project):
            project, extra = resource, None
        elif isinstance(resource, Content):
            project, extra = resource.project, (resource.collection, resource.id, resource.created_by)
        else:
            return None
        return (actor.id, actor.email, actor.role_in(project), action,
                project.id, project.slug, project.owner_id, extra)

    def authorize(self, user, action: str, project, collection: str | None = None,
                  document: dict | None = None) -> str:
        """Allow or raise: no role → NotFound (reveals nothing), no permission → Forbidden.

        Returns the user's role in the project."""
        actor = self.actor(user)
        resource = self.resource(project, collection, document)
        proj = resource if isinstance(resource, Project) else resource.project
        role = actor.role_in(proj)
        if role is None:
            raise NotFound("project not found")
        if not self.is_allowed(actor, action, resource):
            raise Forbidden(f"your role ({role}) does not allow {action}")
        return role

    def explain(self, user, action: str, project, collection: str | None = None,
                document: dict | None = None) -> tuple[bool, str]:
        """Allowed or denied, and the role or rule that decided (for ``cli.py policy explain``)."""
        actor = self.actor(user)
        resource = self.resource(project, collection, document)
        proj = resource if isinstance(resource, Project) else resource.project
        role = actor.role_in(proj)
        if role is None:
            return False, f"{actor.email} has no role in project {project.slug}: denied (404 over HTTP)"
        allowed = self.is_allowed(actor, action, resource)
        with self._lock:
            granted = bool(list(self.oso.query_rule("permitted", actor, action, resource)))
            denied = bool(list(self.oso.query_rule("denied", actor, action, resource)))
            by_role = bool(list(self.oso.query_rule("role_permission", role, action)))
            ownership = bool(list(self.oso.query_rule("ownership_required", role, action)))
        if allowed:
            how = f"role {role!r} grants {action!r} (role_permission in roles.polar)" if by_role else \
                f"a permitted rule grants {action!r} to role {role!r} (plugin or admin policy)"
            if ownership and collection:
                how += f"; {role} may only act on its own content and created this document"
            return True, how
        if granted and denied:
            return False, f"role {role!r} would allow {action!r} but a denied(...) rule refuses it (admin policy)"
        if by_role and ownership and collection:
            return False, f"role {role!r} may {action!r} only content it created (ownership.polar); " \
                          f"this document was created by {resource.created_by}"
        return False, f"role {role!r} does not grant {action!r} (roles.polar)"
