"""``Authorizer``: every permission question of an app, and the one answer to "may this user read that"."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable, Iterable

from polar.exceptions import PolarRuntimeError

from ..errors import Forbidden, NotFound
from .explain import Explainer
from .policy import ROLES, build_oso, tested_attributes
from .reads import EVERYTHING, NOTHING_FILTER, READ, CompileError, ReadFilter, compile_read_filter
from .resources import Content, ListReader, Project, SymbolicReader, User, user_attributes
from .scope import actors

log = logging.getLogger(__name__)
DECISION_CACHE_SIZE = 50_000  # memoised polar answers per app; cleared wholesale when full


class Authorizer:
    def __init__(self, files: Iterable[Path] | dict, role_lookup: Callable[[str, str], str | None],
                 sensitive: Callable[[str, str], bool] | None = None,
                 member_slugs: Callable[[object], list[str]] | None = None):
        """``files``: policy files in load order, or a mapping of file to origin (see
        :func:`~core.authz.policy.policy_origins`); ``sensitive(collection, path)`` says whether a
        stored field path is encrypted at rest (read rules cannot filter on those);
        ``member_slugs(user)`` lists the projects ``user`` may see, for the detail of a 404 (passed
        in, so authz stays below the project and content modules that use it)."""
        self.origins = dict(files) if isinstance(files, dict) else {Path(f): "core" for f in files}
        self.files = list(self.origins)
        self.oso = build_oso(self.files)
        self.role_lookup = role_lookup
        self.sensitive = sensitive or (lambda collection, path: False)
        self.member_slugs = member_slugs
        # The polar VM is not re-entrant across threads (Socket.IO and web threads share it).
        self._lock = threading.RLock()
        self._decisions: dict[tuple, bool] = {}
        self._reads: dict[tuple, ReadFilter] = {}
        self._explainer: Explainer | None = None

    # --- resources ---------------------------------------------------------------------

    def actor(self, user) -> User:
        """The policy actor for ``user``: the request's (or socket event's) own, so its role in a
        project is resolved once per request however many checks ask (see :mod:`.scope`)."""
        if isinstance(user, User):
            return user
        kept = actors()
        key = (str(user.id), getattr(user, "email", ""))
        actor = kept.get(key) if kept is not None else None
        if actor is None:
            actor = User(key[0], key[1], self.role_lookup, user_attributes(user))
            if kept is not None:
                kept[key] = actor
        return actor

    def role(self, user, project) -> str | None:
        """``user``'s role in ``project``, resolved once per request like every check's."""
        return self.actor(user).role_in(self.project_resource(project))

    @staticmethod
    def project_resource(project) -> Project:
        return Project(id=str(project.id), slug=project.slug, owner_id=project.ownerId)

    def resource(self, project, collection: str | None = None, document: dict | None = None):
        proj = self.project_resource(project)
        if collection is None:
            return proj
        return Content.of(proj, collection, document)

    # --- decisions ---------------------------------------------------------------------

    def is_allowed(self, user, action: str, resource) -> bool:
        actor = self.actor(user)
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
        on the actor's id, email, other attributes and role in the resource's project, the action and the
        resource's fields. A document's fields are covered by its id and version (every write
        bumps the version; a stub without fields, as realtime passes, has none). The role is looked up
        once per request (not cached here), so a role change takes effect with the next one; the
        memo only skips re-running the polar VM, the most expensive step of an authorized request."""
        if isinstance(resource, Project):
            project, extra = resource, None
        elif isinstance(resource, Content):
            project, extra = resource.project, (resource.collection, resource.id, resource.created_by,
                                                resource.version)
        else:
            return None
        return (actor.facts, actor.role_in(project), action,
                project.id, project.slug, project.owner_id, extra)

    def authorize(self, user, action: str, project, collection: str | None = None,
                  document: dict | None = None) -> str:
        """Allow or raise: no role → NotFound (reveals nothing), no permission → Forbidden,
        a document the user may not view → NotFound, the same answer as a missing one.

        Returns the user's role in the project."""
        actor = self.actor(user)
        proj = self.project_resource(project)
        role = actor.role_in(proj)
        if role is None:
            raise NotFound("project not found", detail=lambda: self._no_role_detail(user, proj.slug))
        if collection is not None and document is not None and not self.can_view(actor, project, collection, document):
            raise NotFound("document not found")
        if action == READ and collection is not None and document is not None:
            return role
        resource = proj if collection is None else Content.of(proj, collection, document)
        if not self.is_allowed(actor, action, resource):
            raise Forbidden(f"your role ({role}) does not allow {action}")
        return role

    def _no_role_detail(self, user, slug: str) -> str:
        email = getattr(user, "email", None)
        if not email:
            return f"no role in project {slug!r}"
        if self.member_slugs is None:
            return f"{email} has no role in project {slug!r}"
        visible = ", ".join(self.member_slugs(user)) or "no project"
        return f"{email} has no role in project {slug!r}; {email} can see: {visible}"

    # --- reads: the one choke point -----------------------------------------------------

    def read_filter(self, user, project, collection: str) -> ReadFilter:
        """Which documents of ``collection`` ``user`` may view, as a MongoDB filter (cached).

        Every surface that reads content asks this (or :meth:`can_view`, its single-document
        form). A user without a role sees nothing."""
        actor = self.actor(user)
        proj = self.project_resource(project)
        role = actor.role_in(proj)
        if role is None:
            return NOTHING_FILTER
        key = (actor.facts, role, proj.id, proj.slug, proj.owner_id, collection)
        cached = self._reads.get(key)
        if cached is not None:
            return cached
        with self._lock:
            try:
                compiled = compile_read_filter(self.oso, ListReader(actor, proj), proj, collection,
                                               lambda path: self.sensitive(collection, path))
            except CompileError as exc:
                # `policy check` (and so start-up) proved every clause translatable for any
                # actor; what is left (a rule that raises on this actor's own attributes) hides
                # the collection from this reader rather than answer 500.
                log.error("the read policy cannot be applied to %s for %s: %s (run `aladdin policy check`); "
                          "showing nothing", collection, actor.email, exc)
                compiled = NOTHING_FILTER
            if len(self._reads) >= DECISION_CACHE_SIZE:
                self._reads.clear()
            self._reads[key] = compiled
        return compiled

    def can_view(self, user, project, collection: str, document: dict) -> bool:
        """May ``user`` view this stored ``document``? The list filter, matched against it."""
        return self.read_filter(user, project, collection).matches(document)

    # --- admins' tools -----------------------------------------------------------------

    @property
    def explainer(self) -> Explainer:
        with self._lock:
            if self._explainer is None:
                self._explainer = Explainer(self.origins)
            return self._explainer

    def check_reads(self, collections: Iterable[str]) -> list[str]:
        """Problems (``file:line (origin): why``) that keep read rules from compiling for lists,
        for any actor of each role: its attributes unknown (every branch a rule has), then set to
        each value a rule compares them with (Polar's partial evaluator takes other paths once an
        attribute is known, and fails on some, so those actors are tried too)."""
        problems = self.explainer.allow_problems()
        probe_project = Project(id="000000000000000000000000", slug="policy-check", owner_id="")
        for collection in collections:
            for role in ROLES:
                lookup = (lambda user_id, project_id, r=role: r)
                readers = [SymbolicReader(role, probe_project)]
                readers += [ListReader(actor, probe_project) for actor in self._tested_actors(lookup)]
                for reader in readers:
                    for problem in self.explainer.read_problems(reader, probe_project, collection,
                                                                lambda path, c=collection: self.sensitive(c, path)):
                        if problem not in problems:
                            problems.append(problem)
        return problems

    def _tested_actors(self, lookup) -> list[User]:
        """One actor per attribute value the policy files compare an actor attribute with."""
        actors = []
        for name, value in tested_attributes(self.files):
            fields = {"id": "policy-check", "email": "policy-check@invalid"}
            attributes = {}
            if name in fields:
                fields[name] = value
            else:
                attributes[name] = value
            actors.append(User(fields["id"], fields["email"], lookup, attributes))
        return actors

    def explain(self, user, action: str, project, collection: str | None = None,
                document: dict | None = None) -> tuple[bool, str]:
        """Allowed or denied, and the rule that decided, by file, line and origin."""
        actor = self.actor(user)
        resource = self.resource(project, collection, document)
        proj = self.project_resource(project)
        role = actor.role_in(proj)
        if role is None:
            return False, f"{actor.email} has no role in project {project.slug}: denied (404 over HTTP)"
        if action == READ and collection is not None and document is not None:
            allowed = self.can_view(actor, project, collection, document)
        else:
            allowed = self.is_allowed(actor, action, resource)
        with self._lock:
            return allowed, self.explainer.reason(allowed, actor, role, action, resource)


__all__ = ["Authorizer", "DECISION_CACHE_SIZE", "EVERYTHING"]
