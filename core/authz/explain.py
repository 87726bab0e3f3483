"""Which rule decided: ``policy explain``'s reasons and ``policy check``'s read-rule problems."""

from __future__ import annotations

from pathlib import Path

from .policy import build_oso
from .reads import READ, CompileError, compile_read_filter, compile_rule
from .resources import Content, Project
from .rules import Clause, index_clauses, probe_source


class Explainer:
    """The app's policy files loaded again with every clause also under a probe name of its own."""

    def __init__(self, origins: dict[Path, str]):
        self.clauses: list[Clause] = index_clauses(origins)
        probes = probe_source(self.clauses)
        try:
            self.oso = build_oso([*origins, probes])
        finally:
            probes.unlink(missing_ok=True)

    def holding(self, rule: str, *args) -> list[Clause]:
        """The clauses of ``rule`` that hold for ``args``, in load order."""
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

    # --- policy explain ----------------------------------------------------------------

    def reason(self, allowed: bool, actor, role: str, action: str, resource) -> str:
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

    def allow_problems(self) -> list[str]:
        """``allow`` is the core's: permitted and not denied. Another ``allow`` would bypass the
        read compiler (and the rule book), so it is refused; admins write permitted/denied rules."""
        return [f"{c.where}: an allow(...) rule outside roles.polar is not supported; "
                f"write permitted(...) to widen and denied(...) to tighten"
                for c in self.clauses if c.rule == "allow" and c.origin != "core"]

    def read_problems(self, reader, project: Project, collection: str, sensitive) -> list[str]:
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
                    problems.append(f"{clause.where}: this {READ} rule cannot be compiled into a "
                                    f"database filter for lists: {exc}")
            return problems or [f"{READ} on {collection}: {whole}"]


def _created_by(resource, user_id: str):
    """The same document as if ``user_id`` had created it (to name an ownership rule)."""
    return Content(resource.project, resource.collection, resource.id, user_id, resource._document)
