"""Which rule decided: ``policy explain``'s reasons and ``policy check``'s read-rule problems.

The decision itself is never made here: ``Authorizer.decide`` makes it, for the API and for
``explain`` alike. This module only names the clause behind it, asking each clause the way the
decision was asked: ``content:view`` of a document through its compiled filter (the path lists
and single reads use), other actions through Polar (the path ``authorize`` uses)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .policy import build_oso
from .problems import Problem, clause_problem, one_per_clause, rewrite, shape_problem
from .reads import READ, CompileError, compile_read_filter, compile_rule, rule_filter
from .resources import Content, ListReader, Project
from .rules import Clause, index_clauses, probe_source

#: The name Polar gives the in-memory probe source in its messages (see ``problems``).
PROBES = "policy-probes.polar"


class Explainer:
    """The app's policy files loaded again with every clause also under a probe name of its own."""

    def __init__(self, origins: dict[Path, str], sensitive: Callable[[str, str], bool] | None = None):
        self.clauses: list[Clause] = index_clauses(origins)
        self.oso = build_oso(list(origins), [(probe_source(self.clauses), PROBES)])
        self.sensitive = sensitive or (lambda collection, path: False)

    def holding(self, rule: str, *args) -> list[Clause]:
        """The clauses of ``rule`` that hold for ``args`` in Polar, in load order."""
        out = []
        for clause in self.clauses:
            if clause.rule != rule:
                continue
            try:
                if next(iter(self.oso.query_rule(clause.probe, *args)), None) is not None:
                    out.append(clause)
            except Exception:  # noqa: BLE001 - a clause that errors on these arguments does not hold
                continue
        return out

    def matching(self, rule: str, actor, project: Project, collection: str, document: dict) -> list[Clause]:
        """The clauses of ``rule`` whose compiled ``content:view`` filter matches ``document``:
        the question a GET or a list asks, clause by clause."""
        reader = ListReader(actor, project)
        out = []
        for clause in self.clauses:
            if clause.rule != rule:
                continue
            try:
                holds = rule_filter(self.oso, clause.probe, reader, project, collection,
                                    lambda path: self.sensitive(collection, path), denied=clause.rule == "denied")
            except CompileError:
                continue  # `policy check` refuses such a clause; a running app never has one
            if holds.matches(document):
                out.append(clause)
        return out

    # --- policy explain ----------------------------------------------------------------

    def reason(self, decision, actor, action: str, project: Project, collection: str | None = None,
               document: dict | None = None, hidden_by: list | None = None) -> str:
        """Why ``decision`` (``Authorizer.decide``'s answer) came out as it did, naming the clause."""
        role = decision.role
        if collection is not None and document is not None and (action == READ or decision.hidden):
            view = self.view_reason(decision.hidden, actor, role, project, collection, document, hidden_by)
            if action == READ:
                return view + (f" ({decision.status} over HTTP, like a missing document)" if decision.hidden else "")
            return (f"{actor.email} may not view this document, so {action!r} is refused like a missing "
                    f"document ({decision.status} over HTTP), whatever the {action} rules say: {view}")
        resource = project if collection is None else Content.of(project, collection, document)
        text = self.polar_reason(decision.allowed, actor, role, action, resource)
        return text if decision.allowed else f"{text} ({decision.status} over HTTP)"

    def view_reason(self, hidden: bool, actor, role: str, project: Project, collection: str, document: dict,
                    hidden_by: list | None = None) -> str:
        """``content:view`` of one stored document, by the compiled filters of each clause."""
        granted = self.matching("permitted", actor, project, collection, document)
        denied = self.matching("denied", actor, project, collection, document)
        by_role = self.holding("role_permission", role, READ)
        role_note = f" through role_permission at {by_role[0].where}" if by_role else ""
        if not hidden:
            if granted:
                return (f"role {role!r} is granted {READ!r} by the permitted(...) rule at "
                        f"{granted[0].where}{role_note}; no denied rule matches")
            return f"role {role!r} is granted {READ!r}"
        if granted and denied:
            return (f"role {role!r} would be granted {READ!r} ({granted[0].where}) but the denied(...) "
                    f"rule at {denied[0].where} refuses it")
        if granted and hidden_by:
            parent_collection, parent = hidden_by[0]
            parent_reason = self.view_reason(True, actor, role, project, parent_collection, parent)
            return (f"role {role!r} would be granted {READ!r} ({granted[0].where}), but this file is used "
                    f"only by documents {actor.email} may not view, and a file follows its documents: "
                    f"{parent_collection}/{parent.get('_id')}: {parent_reason}")
        if by_role:
            return (f"role {role!r} has {READ!r} (role_permission at {by_role[0].where}) but no permitted "
                    f"rule grants it on this document")
        return f"no rule grants {READ!r} to role {role!r} (role_permission in roles.polar (core))"

    def polar_reason(self, allowed: bool, actor, role: str, action: str, resource) -> str:
        granted = self.holding("permitted", actor, action, resource)
        denied = self.holding("denied", actor, action, resource)
        by_role = self.holding("role_permission", role, action)
        role_note = f" through role_permission at {by_role[0].where}" if by_role else ""
        if allowed:
            if granted:
                own = ""
                if isinstance(resource, Content) and self._ownership_required(role, action):
                    own = f"; {role} may only act on its own content and created this document"
                return (f"role {role!r} is granted {action!r} by the permitted(...) rule at "
                        f"{granted[0].where}{role_note}; no denied rule matches{own}")
            return f"role {role!r} is granted {action!r}"
        if granted and denied:
            return f"role {role!r} would be granted {action!r} ({granted[0].where}) " \
                   f"but the denied(...) rule at {denied[0].where} refuses it"
        ownership = self.holding("permitted", actor, action, _created_by(resource, actor.id)) \
            if by_role and isinstance(resource, Content) else []
        if ownership:
            return f"role {role!r} may {action!r} only content it created (the permitted(...) rule at " \
                   f"{ownership[0].where}); this document was created by {resource.created_by}"
        if by_role:
            return f"role {role!r} has {action!r} (role_permission at {by_role[0].where}) " \
                   f"but no permitted rule grants it on this resource"
        return f"no rule grants {action!r} to role {role!r} (role_permission in roles.polar (core))"

    def _ownership_required(self, role: str, action: str) -> bool:
        try:
            return next(iter(self.oso.query_rule("ownership_required", role, action)), None) is not None
        except Exception:  # noqa: BLE001 - a policy set without the ownership rule
            return False

    # --- policy check ------------------------------------------------------------------

    def allow_problems(self) -> list[Problem]:
        """``allow`` is the core's: permitted and not denied. Another ``allow`` would bypass the
        read compiler (and the rule book), so it is refused; admins write permitted/denied rules."""
        return [Problem(c.where, "an allow(...) rule outside roles.polar would bypass the rule book and "
                                 "the list compiler; write permitted(...) to widen, denied(...) to tighten",
                        c.written, rewrite(c))
                for c in self.clauses if c.rule == "allow" and c.origin != "core"]

    def shape_problems(self) -> list[Problem]:
        """Read clauses of a shape Polar's list compiler loses information on (:mod:`.shapes`):
        they would compile, into a filter that departs from Polar, so they are refused."""
        found = (shape_problem(c) for c in self.clauses)
        return [p for p in found if p is not None]

    def read_problems(self, reader, project: Project, collection: str, sensitive) -> list[Problem]:
        """One problem per clause that keeps ``content:view`` of ``collection`` from compiling."""
        try:
            compile_read_filter(self.oso, reader, project, collection, sensitive)
            return []
        except CompileError as whole:
            problems = []
            for clause in self.clauses:
                if clause.rule not in ("permitted", "denied"):
                    continue
                try:
                    compile_rule(self.oso, clause.probe, reader, project, collection, sensitive)
                except CompileError as exc:
                    problems.append(clause_problem(clause, str(exc)))
            return one_per_clause(problems) or [
                Problem(f"{READ} rules", f"together they cannot become a database filter: {whole}")]


def _created_by(resource, user_id: str):
    """The same document as if ``user_id`` had created it (to name an ownership rule)."""
    return Content(resource.project, resource.collection, resource.id, user_id, resource._document)
