"""``Authorizer``: every permission question of an app, and the one answer to "may this user read that"."""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path
from typing import Callable, Iterable, Protocol

from polar.exceptions import PolarRuntimeError

from ..errors import Forbidden, NotFound
from .explain import Explainer
from .filters import Cond, all_of
from .policy import ROLES, build_oso, tested_attributes
from .problems import one_per_clause
from .reads import EVERYTHING, NOTHING_FILTER, READ, CompileError, ReadFilter, compile_read_filter
from .resources import Content, ListReader, Project, SymbolicReader, User, user_attributes
from .rules import index_clauses
from .scope import actors
from .shapes import departures

log = logging.getLogger(__name__)
DECISION_CACHE_SIZE = 50_000  # memoised polar answers per app; cleared wholesale when full


@dataclasses.dataclass(frozen=True)
class Decision:
    """One answer of :meth:`Authorizer.decide`: what ``authorize`` raises and ``explain`` reports."""

    allowed: bool
    role: str | None     # None: no role in the project (404, reveals nothing)
    hidden: bool = False  # the document itself may not be viewed (404, like a missing one)

    @property
    def status(self) -> int:
        if self.allowed:
            return 200
        return 404 if self.role is None or self.hidden else 403


class Inheritance(Protocol):
    """Visibility a collection takes from other documents (media from the documents using them).

    ``filter`` narrows ``collection``'s read filter for ``actor`` (None: nothing to add; it reads
    data, so it is asked per read, never cached), for the documents ``only`` names when the read
    is about those alone; ``hidden_by`` names the documents that hide
    ``document`` (``(collection, stored document)`` pairs), for ``policy explain``."""

    def filter(self, actor: User, project, collection: str, only: list | None = None) -> Cond | None: ...

    def hidden_by(self, actor: User, project, collection: str, document: dict) -> list[tuple[str, dict]]: ...


class Authorizer:
    def __init__(self, files: Iterable[Path] | dict, role_lookup: Callable[[str, str], str | None],
                 sensitive: Callable[[str, str], bool] | None = None,
                 member_slugs: Callable[[object], list[str]] | None = None,
                 inherited: Inheritance | None = None):
        """``files``: policy files in load order, or a mapping of file to origin (see
        :func:`~core.authz.policy.policy_origins`); ``sensitive(collection, path)`` says whether a
        stored field path is encrypted at rest (read rules cannot filter on those);
        ``member_slugs(user)`` lists the projects ``user`` may see, for the detail of a 404 (passed
        in, so authz stays below the project and content modules that use it); ``inherited``
        adds what a collection's visibility takes from other documents (see :class:`Inheritance`)."""
        self.origins = dict(files) if isinstance(files, dict) else {Path(f): "core" for f in files}
        self.files = list(self.origins)
        self.oso = build_oso(self.files)
        self.role_lookup = role_lookup
        self.sensitive = sensitive or (lambda collection, path: False)
        self.member_slugs = member_slugs
        self.inherited = inherited
        # The polar VM is not re-entrant across threads (Socket.IO and web threads share it).
        self._lock = threading.RLock()
        self._decisions: dict[tuple, bool] = {}
        self._reads: dict[tuple, ReadFilter] = {}
        self._explainer: Explainer | None = None
        self._departing: dict[str, bool] = {}

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

    def decide(self, user, action: str, project, collection: str | None = None,
               document: dict | None = None) -> Decision:
        """The one decision behind :meth:`authorize` and :meth:`explain`: no role → 404, a
        document the user may not view → 404 whatever the action (view before edit), then
        ``content:view`` of a document by its compiled filter, any other action by Polar."""
        actor = self.actor(user)
        proj = self.project_resource(project)
        role = actor.role_in(proj)
        if role is None:
            return Decision(False, None)
        if collection is not None and document is not None:
            if not self.can_view(actor, project, collection, document):
                return Decision(False, role, hidden=True)
            if action == READ:
                return Decision(True, role)
        resource = proj if collection is None else Content.of(proj, collection, document)
        return Decision(self.is_allowed(actor, action, resource), role)

    def authorize(self, user, action: str, project, collection: str | None = None,
                  document: dict | None = None) -> str:
        """Allow or raise: no role → NotFound (reveals nothing), no permission → Forbidden,
        a document the user may not view → NotFound, the same answer as a missing one.

        Returns the user's role in the project."""
        decision = self.decide(user, action, project, collection, document)
        if decision.role is None:
            slug = project.slug
            raise NotFound("project not found", detail=lambda: self._no_role_detail(user, slug))
        if decision.hidden:
            raise NotFound("document not found")
        if not decision.allowed:
            raise Forbidden(f"your role ({decision.role}) does not allow {action}")
        return decision.role

    def _no_role_detail(self, user, slug: str) -> str:
        email = getattr(user, "email", None)
        if not email:
            return f"no role in project {slug!r}"
        if self.member_slugs is None:
            return f"{email} has no role in project {slug!r}"
        visible = ", ".join(self.member_slugs(user)) or "no project"
        return f"{email} has no role in project {slug!r}; {email} can see: {visible}"

    # --- reads: the one choke point -----------------------------------------------------

    def read_filter(self, user, project, collection: str, only: list | None = None) -> ReadFilter:
        """Which documents of ``collection`` ``user`` may view, as a MongoDB filter.

        Every surface that reads content asks this (or :meth:`can_view`, its single-document
        form). A user without a role sees nothing. The rules' part is compiled once and cached;
        what the collection inherits (see :class:`Inheritance`) is added per call, for the ids
        ``only`` names when the caller reads just those (the filter is then exact for them alone)."""
        own = self.own_read_filter(user, project, collection)
        if self.inherited is None or own.nothing:
            return own
        extra = self.inherited.filter(self.actor(user), project, collection, only)
        return own if extra is None else ReadFilter.of(all_of([own.condition, extra]))

    def own_read_filter(self, user, project, collection: str) -> ReadFilter:
        """:meth:`read_filter` from the rules alone (compiled once per reader, role, project and
        collection, then cached)."""
        actor = self.actor(user)
        proj = self.project_resource(project)
        if actor.role_in(proj) is None:
            return NOTHING_FILTER
        try:
            return self._compiled(actor, proj, collection, READ)
        except CompileError as exc:
            # `policy check` (and so start-up) proved every clause translatable for any
            # actor; what is left (a rule that raises on this actor's own attributes) hides
            # the collection from this reader rather than answer 500.
            log.error("the read policy cannot be applied to %s for %s: %s (run `aladdin policy check`); "
                      "showing nothing", collection, actor.email, exc)
            return NOTHING_FILTER

    def _compiled(self, actor: User, proj: Project, collection: str, action: str) -> ReadFilter:
        """``action`` compiled for ``actor`` on ``collection`` (cached; a rule that does not compile
        raises :class:`CompileError` each time, from the cache too). Reads skip encrypted fields
        (the database holds ciphertext); other actions match documents in hand, in plain text."""
        key = (actor.facts, actor.role_in(proj), proj.id, proj.slug, proj.owner_id, collection, action)
        cached = self._reads.get(key)
        if isinstance(cached, CompileError):
            raise cached
        if cached is not None:
            return cached
        sensitive = (lambda path: self.sensitive(collection, path)) if action == READ else (lambda path: False)
        with self._lock:
            try:
                compiled = compile_read_filter(self.oso, ListReader(actor, proj), proj, collection, sensitive,
                                               action)
            except CompileError as exc:
                compiled = exc
            if len(self._reads) >= DECISION_CACHE_SIZE:
                self._reads.clear()
            self._reads[key] = compiled
        if isinstance(compiled, CompileError):
            raise compiled
        return compiled

    def allowed_documents(self, user, action: str, project, collection: str, documents: list[dict]) -> list[bool]:
        """May ``user`` ``action`` each of ``documents`` (in hand, as they are or will be stored)?

        The rule is compiled once for the collection, as for a list, and matched against each
        document, so a clone's thousands of copies cost what one check does (Polar itself takes
        about half a millisecond per document); a rule the compiler cannot translate is asked of
        Polar per document, with the same answers. No role in the project: NotFound."""
        actor = self.actor(user)
        proj = self.project_resource(project)
        if actor.role_in(proj) is None:
            raise NotFound("project not found", detail=lambda: self._no_role_detail(user, proj.slug))
        try:
            if self._departs(action):
                raise CompileError(f"a {action} rule has a shape the compiler does not follow exactly")
            rule = self._compiled(actor, proj, collection, action)
        except CompileError:
            return [self.is_allowed(actor, action, Content.of(proj, collection, d)) for d in documents]
        return [rule.matches(d) for d in documents]

    def _departs(self, action: str) -> bool:
        """Has a clause for ``action`` a shape on which the compiled rule would depart from Polar
        (:mod:`.shapes`)? ``policy check`` refuses such read rules; other actions are then asked of
        Polar per document, exact if slower."""
        with self._lock:
            if action not in self._departing:
                self._departing[action] = any(departures(c.written, action) for c in index_clauses(self.origins))
            return self._departing[action]

    def can_view(self, user, project, collection: str, document: dict) -> bool:
        """May ``user`` view this stored ``document``? The list filter, matched against it."""
        only = [document["_id"]] if "_id" in document else None
        return self.read_filter(user, project, collection, only).matches(document)

    # --- admins' tools -----------------------------------------------------------------

    @property
    def explainer(self) -> Explainer:
        with self._lock:
            if self._explainer is None:
                self._explainer = Explainer(self.origins, self.sensitive)
            return self._explainer

    def check_reads(self, collections: Iterable[str]) -> list[str]:
        """Problems that keep read rules from compiling for lists, one line per clause (its file,
        line, text, why and a rewrite where one is known): clauses of a shape the compiler would not
        follow exactly (:mod:`.shapes`), then those that do not compile for any actor of each role: its
        attributes unknown (every branch a rule has), then set to each value a rule compares them
        with (Polar's partial evaluator takes other paths once an attribute is known, and fails on
        some, so those actors are tried too)."""
        problems = self.explainer.allow_problems() + self.explainer.shape_problems()
        probe_project = Project(id="000000000000000000000000", slug="policy-check", owner_id="")
        for collection in collections:
            for role in ROLES:
                lookup = (lambda user_id, project_id, r=role: r)
                readers = [SymbolicReader(role, probe_project)]
                readers += [ListReader(actor, probe_project) for actor in self._tested_actors(lookup)]
                for reader in readers:
                    problems += self.explainer.read_problems(reader, probe_project, collection,
                                                             lambda path, c=collection: self.sensitive(c, path))
        return [str(problem) for problem in one_per_clause(problems)]

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
        """Allowed or denied, as :meth:`decide` (hence the API) answers, and the rule that decided,
        by file, line and origin."""
        actor = self.actor(user)
        decision = self.decide(actor, action, project, collection, document)
        if decision.role is None:
            return False, f"{actor.email} has no role in project {project.slug}: denied ({decision.status} over HTTP)"
        hidden_by = None
        if decision.hidden and self.inherited is not None:
            hidden_by = self.inherited.hidden_by(actor, project, collection, document)
        with self._lock:
            return decision.allowed, self.explainer.reason(decision, actor, action, self.project_resource(project),
                                                           collection, document, hidden_by)


__all__ = ["Authorizer", "DECISION_CACHE_SIZE", "Decision", "EVERYTHING", "Inheritance"]
