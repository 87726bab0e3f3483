"""How ``policy check`` (and ``serve``) report a rule they refuse: one line per clause.

A line says where (``file:line (origin)``), the clause as written, why it is refused in the
admin's terms, and a rewrite that works where one exists. The compiler's and Polar's own words
carry internal names (probe rules, ``__value_27_180`` variables, line/column positions in probe
source); they are translated here, so what an admin reads only names their own files."""

from __future__ import annotations

import dataclasses
import re

from .rules import Clause
from .shapes import departures, rewritten


@dataclasses.dataclass(frozen=True)
class Problem:
    where: str            # file:line (origin)
    why: str
    clause: str = ""      # the clause as written, on one line
    rewrite: str | None = None

    def __str__(self) -> str:
        text = f"{self.where}: " + (f"`{self.clause}`: " if self.clause else "") + self.why
        return text + (f"; rewrite as `{self.rewrite}`" if self.rewrite else "")


def one_per_clause(problems: list[Problem]) -> list[Problem]:
    """The first problem of each clause: a rule refused for every role and collection is one line."""
    seen, out = set(), []
    for problem in problems:
        if problem.where not in seen:
            seen.add(problem.where)
            out.append(problem)
    return out


# --- why -----------------------------------------------------------------------------------

_METHOD_CALL = re.compile(r"cannot call method|method calls? on a document|calling a method on the document")
_UNNAMED = re.compile(r"unbound variable")
_POSITION = re.compile(r"\s*at line \d+, col(?:umn)? \d+(?: in (?:file|query) \S+)?")
_INTERNAL = re.compile(r"_aladdin_clause_\d+|Variable\('_*\w+?'\)|\b_+value_\d+_\d+\b")


def why(clause: Clause, error: str) -> str:
    """The compiler's refusal of ``clause`` in the admin's terms."""
    if _METHOD_CALL.search(error):
        call = re.search(r"(doc(?:\.\w+)+)\.(\w+)\(", clause.written)
        named = f"{call.group(1)}.{call.group(2)}(...)" if call else "a method"
        return (f"it calls {named} on the document; a database filter can only compare the "
                f"document's stored fields with constants (=, !=, <, >, in)")
    if _UNNAMED.search(error):
        return ("part of it is a value computed inside the rule rather than a field of the document "
                "or a constant, so it cannot become a database filter")
    text = _POSITION.sub("", error)
    text = re.sub(r"^\S*\(\.\.\.\) cannot be evaluated for lists: ", "", text)
    text = _INTERNAL.sub(clause.rule, text)
    return text.rstrip(". ") + "; lists could not apply it"


# --- rewrite -------------------------------------------------------------------------------

_ROLE = r"actor\.role_in\(doc\.project\)"
_REWRITES = (
    # `not ROLE in [...]`: bind the role first, then negate the membership.
    (re.compile(rf"\bnot\s+{_ROLE}\s+in\s+(\[[^\]]*\])"), r"role = actor.role_in(doc.project) and not role in \1"),
    # `not ROLE = "x"`: the inequality says the same.
    (re.compile(rf"\bnot\s+{_ROLE}\s*=\s*(\"[^\"]*\")"), r"actor.role_in(doc.project) != \1"),
    # `not doc.x = v`: the inequality (a document without x matches both).
    (re.compile(r"\bnot\s+(doc(?:\.\w+)+)\s*=\s*(\"[^\"]*\"|\d+(?:\.\d+)?|true|false)"), r"\1 != \2"),
)


def rewrite(clause: Clause) -> str | None:
    """A clause saying the same in a shape the compiler translates, or None when none is known."""
    text = clause.written
    if clause.rule == "allow":
        return "permitted" + text[len("allow"):]
    out = text
    role = "reader_role" if re.search(r"\brole\b", text) else "role"  # never rebind the rule's own
    for pattern, replacement in _REWRITES:
        out = pattern.sub(replacement.replace("role =", f"{role} =").replace("not role", f"not {role}"), out)
    return out if out != text else None


def shape_problem(clause: Clause) -> Problem | None:
    """The clause as one line when it has a shape the list compiler would not follow exactly
    (:mod:`.shapes`): the first such place, why, and the rewrite, or what to do when none is known."""
    found = departures(clause.written)
    if not found:
        return None
    fixed = rewritten(clause.written)
    why = found[0].why + ("" if fixed else f"; {found[0].advice}")
    return Problem(clause.where, why, clause.written, fixed)


def clause_problem(clause: Clause, error: str) -> Problem:
    return Problem(clause.where, why(clause, error), clause.written, rewrite(clause))


_LOAD_AT = re.compile(r"\s*at line (\d+), column (\d+) of file (.+?):\s*$", re.M)


def load_problem(error: str, origins: dict) -> Problem:
    """A file Polar refuses to load (a syntax error), as one line: ``file:line (origin)``, the
    line as written, and Polar's words without its source excerpt and help link."""
    first = error.strip().splitlines()[0] if error.strip() else error
    at = _LOAD_AT.search(first)
    if at is None:
        return Problem("policy files", first.strip())
    line, column, path = int(at.group(1)), at.group(2), at.group(3)
    origin = next((o for p, o in origins.items() if str(p) == path), None)
    name = path.rsplit("/", 1)[-1]
    where = f"{name}:{line}" + (f" ({origin})" if origin else "")
    try:
        written = " ".join(open(path).read().splitlines()[line - 1].split())
    except (OSError, IndexError):
        written = ""
    return Problem(where, f"{first[:at.start()].strip()} (column {column}); the file does not load", written)
