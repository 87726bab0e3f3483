"""Read rules compiled to MongoDB filters: our own Oso data-filtering adapter for MongoDB.

For a list, the actor, project, role and collection are known and only the document is not.
Polar partially evaluates ``permitted`` and ``denied`` for ``content:view`` with the document
unbound; each answer is a constraint on the document's fields, translated here into a MongoDB
filter: ``(any permitted) and not (any denied)``, which is what ``allow`` in ``roles.polar``
says. The same compiled filter decides single reads (matched in Python against the stored
document), so a list, its total and a GET can never disagree."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from polar import Expression, Pattern, Variable

from . import semantics
from .filters import FALSE, TRUE, Cond, all_of, any_of, negate
from .resources import (ACTOR_VARIABLE, MISSING, STORED_NAMES, SYMBOLIC_VALUE, Content, Fields, Project,
                        SymbolicReader)

READ = "content:view"
_DOC = "aladdin_doc"  # no leading underscore: Polar hides such variables from results


class CompileError(Exception):
    """A read rule the list compiler cannot translate; such a policy is refused, never half-applied."""


@dataclasses.dataclass(frozen=True)
class ReadFilter:
    """Which documents of one collection a reader may view: ``query`` for MongoDB (None: every
    document), and the same ``condition`` decided in Python for a document in hand."""

    query: dict | None
    condition: Cond = TRUE

    @classmethod
    def of(cls, condition: Cond) -> "ReadFilter":
        if condition == TRUE:
            return EVERYTHING
        if condition == FALSE:
            return cls(NOTHING, FALSE)
        return cls(condition.query(), condition)

    @property
    def everything(self) -> bool:
        return self.query is None

    @property
    def nothing(self) -> bool:
        return self.query == NOTHING

    def combine(self, filters: dict | None) -> dict:
        """The user's own filters narrowed to what the policy allows (never widened)."""
        if self.query is None:
            return dict(filters or {})
        if not filters:
            return self.query
        return {"$and": [filters, self.query]}

    def matches(self, document: dict) -> bool:
        """The same decision for a document in hand (a stored, undecrypted-or-decrypted dict)."""
        return self.condition.evaluate(document)


NOTHING = {"_id": {"$in": []}}
EVERYTHING = ReadFilter(None, TRUE)
NOTHING_FILTER = ReadFilter(NOTHING, FALSE)


def compile_read_filter(oso, reader, project: Project, collection: str,
                        sensitive: Callable[[str], bool] = lambda path: False, action: str = READ,
                        ) -> ReadFilter:
    """Compile ``action`` (``content:view`` unless told) for ``reader`` (a :class:`ListReader`, or a
    :class:`SymbolicReader` to prove a rule set translatable for any actor) on one collection:
    ``permitted`` holds and ``denied`` neither holds nor raises."""
    translate = _Translator(project, collection, sensitive, isinstance(reader, SymbolicReader))
    permitted = translate.first_of(_partials(oso, "permitted", reader, action))
    if permitted == FALSE:
        return NOTHING_FILTER
    holds, raises = translate.inside_not(_partials(oso, "denied", reader, action))
    return ReadFilter.of(all_of([permitted, negate(holds), negate(raises)]))


def compile_rule(oso, rule_name: str, reader, project: Project, collection: str,
                 sensitive: Callable[[str], bool] = lambda path: False) -> Any:
    """Translate one rule (``policy check`` probes clause by clause); raises :class:`CompileError`."""
    translate = _Translator(project, collection, sensitive, isinstance(reader, SymbolicReader))
    return translate.first_of(_partials(oso, rule_name, reader))


def rule_filter(oso, rule_name: str, reader, project: Project, collection: str,
                sensitive: Callable[[str], bool] = lambda path: False, *, denied: bool = False) -> ReadFilter:
    """The documents one rule alone decides, as a filter: ``policy explain`` matches each clause's
    own filter against a document, the way the whole filter decided it. A ``denied`` clause
    decides where it holds or raises (a type error hides, as in :func:`compile_read_filter`)."""
    translate = _Translator(project, collection, sensitive, isinstance(reader, SymbolicReader))
    partials = _partials(oso, rule_name, reader)
    if denied:
        return ReadFilter.of(any_of(list(translate.inside_not(partials))))
    return ReadFilter.of(translate.first_of(partials))


def _partials(oso, rule: str, reader, action: str = READ) -> list:
    """Every answer of ``rule(reader, action, doc)`` with ``doc`` an unbound Content."""
    doc = Variable(_DOC)
    constraint = Expression("And", [Expression("Isa", [doc, Pattern("Content", {})])])
    try:
        results = list(oso.query_rule(rule, reader, action, doc, bindings={_DOC: constraint},
                                      accept_expression=True))
    except Exception as exc:  # polar reports unsupported partial operations as runtime errors
        raise CompileError(_first_line(exc)) from exc
    return [r["bindings"].get(_DOC) for r in results]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if line.strip() and not line.startswith(("trace", "  ")):
            line = line.strip()
            line = line.split(" at line ")[0]  # polar's own position is in a probe copy
            if "cannot call method on unbound variable" in line:
                return "calling a method on the document (such as startswith) cannot be translated " \
                       "into a database filter"
            if "dot_op_helper" in line:  # names a generated variable (_rwdot_12.title)
                return "Polar's partial evaluation fails on this combination of `not`/`in` with the " \
                       "document's fields; split the clause (one `not` per clause)"
            return line
    return text.splitlines()[-1] if text else type(exc).__name__


# --- translation -------------------------------------------------------------------------
# Each partial constraint becomes a triple (holds, raises, unreachable) of conditions (see
# .semantics). How Polar evaluates, measured: a conjunction stops at its first false part; the
# alternatives of ``permitted`` are tried in order until one holds (an error on the way raises);
# ``not denied(...)`` explores every alternative, so a type error in any of them raises, while a
# failed lookup only fails its own alternative; a ``not`` written in a rule absorbs a failed lookup
# too. A raised error decides like a denial (``Authorizer.is_allowed``).


def _inverted(triple) -> tuple:
    """``not X``: holds when X is false or its lookup failed; a type error still raises."""
    holds, raises, _unreachable = triple
    return all_of([negate(holds), negate(raises)]), raises, FALSE


def _false(triple) -> Cond:
    return negate(any_of(triple))


def _sequence_and(triples: list) -> tuple:
    holds, raises, unreachable, reached = [], [], [], TRUE
    for h, r, u in triples:
        raises.append(all_of([reached, r]))
        unreachable.append(all_of([reached, u]))
        reached = all_of([reached, h])
        holds.append(h)
    return all_of(holds), any_of(raises), any_of(unreachable)


def _sequence_or(triples: list) -> tuple:
    holds, raises, unreachable, pending = [], [], [], TRUE
    for h, r, u in triples:
        holds.append(all_of([pending, h]))
        raises.append(all_of([pending, r]))
        unreachable.append(all_of([pending, u]))
        pending = all_of([pending, _false((h, r, u))])
    return any_of(holds), any_of(raises), any_of(unreachable)


class _Path:
    """A stored field path of the unknown document (``content.secret``, ``_id``, ``status``)."""

    __slots__ = ("field",)

    def __init__(self, field: str):
        self.field = field


_ORDERINGS = {"Gt": "gt", "Geq": "gte", "Lt": "lt", "Leq": "lte"}
_FLIPPED = {"gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte"}
_KNOWN_HEADS = ("project", "collection")


class _Translator:
    def __init__(self, project: Project, collection: str, sensitive: Callable[[str], bool],
                 symbolic: bool = False):
        self.project = project
        self.collection = collection
        self.sensitive = sensitive
        self.symbolic = symbolic  # `policy check`: the actor's attributes are unknown variables

    def first_of(self, bindings: list) -> Cond:
        """Where the first alternative that does not fail holds (``permitted``)."""
        holds, raises, unreachable = _sequence_or([self.condition(b) for b in bindings])
        return holds

    def inside_not(self, bindings: list) -> tuple:
        """``(holds, raises)`` of a rule under ``not`` (``denied``): some alternative holds, or a
        type error is raised in any of them; a failed lookup only fails its alternative."""
        triples = [self.condition(b) for b in bindings]
        return any_of(t[0] for t in triples), any_of(t[1] for t in triples)

    def condition(self, term: Any) -> tuple:
        if term is None or isinstance(term, Variable):
            return TRUE, FALSE, FALSE  # the rule held whatever the document is
        if isinstance(term, bool):
            return (TRUE if term else FALSE), FALSE, FALSE
        if not isinstance(term, Expression):
            raise CompileError(f"unexpected term {term!r}")
        op, args = term.operator, term.args
        if op == "And":
            return _sequence_and([self.condition(a) for a in args])
        if op == "Or":
            return _sequence_or([self.condition(a) for a in args])
        if op == "Not":
            return _inverted(self.condition(args[0]))
        if op == "Isa":
            return self.isa(*args)
        if op in ("Unify", "Eq", "Neq") or op in _ORDERINGS:
            return self.compare(op, *args)
        if op == "In":
            return self.member(*args)
        raise CompileError(f"the operator {op} cannot be translated into a database filter")

    # -- operands ---------------------------------------------------------------------

    def operand(self, term: Any) -> Any:
        """A constant (folded from what is known) or a :class:`_Path` into the document."""
        if isinstance(term, Expression) and term.operator == "Dot":
            chain = []
            while isinstance(term, Expression) and term.operator == "Dot":
                chain.append(term.args[1])
                term = term.args[0]
            if not (isinstance(term, Variable) and term in ("_this", _DOC)):
                raise CompileError(f"a lookup on {term!r} cannot be translated")
            chain.reverse()
            if not all(isinstance(c, str) for c in chain):
                raise CompileError("calling a method on the document (such as startswith) cannot be "
                                   "translated into a database filter")
            return self.path(chain)
        if isinstance(term, Variable):
            if term in ("_this", _DOC):
                raise CompileError("a whole document cannot be compared")
            if self.symbolic and term.startswith(ACTOR_VARIABLE):
                return SYMBOLIC_VALUE  # whatever the attribute is, the same filter shape serves
            raise CompileError(f"the unbound variable {term[:]} cannot be translated")
        if isinstance(term, Expression):
            raise CompileError(f"the operator {term.operator} cannot be translated into a database filter")
        return term

    def path(self, chain: list[str]) -> Any:
        head, rest = chain[0], chain[1:]
        if head == "project":
            value: Any = self.project
            for name in rest:
                value = getattr(value, name, MISSING)
            return value
        if head == "collection":
            return self.collection if not rest else MISSING
        if head in ("id", "created_by") and rest:
            raise CompileError(f"doc.{head} is a string; looking up .{rest[0]} in it fails")
        field = ".".join([STORED_NAMES.get(head, head), *rest])
        if self.sensitive(field):
            raise CompileError(f"doc.{'.'.join(chain)} is encrypted at rest; read rules cannot filter on it")
        return _Path(field)

    # -- operations -------------------------------------------------------------------

    def isa(self, value: Any, pattern: Any) -> tuple:
        if not isinstance(pattern, Pattern):
            raise CompileError(f"cannot translate 'matches {pattern!r}'")
        if isinstance(value, Variable) and value in ("_this", _DOC):
            if pattern.tag not in (None, "Content"):
                return FALSE, FALSE, FALSE
            fields = pattern.fields or {}
            return _sequence_and([self.compare("Unify", v, Expression("Dot", [value, k]))
                                  for k, v in fields.items()])
        target = self.operand(value)
        if isinstance(target, _Path):
            raise CompileError(f"cannot translate a type check on doc.{target.field}")
        tag = pattern.tag
        known = {"Project": Project, "Content": Content, "String": str, "Integer": int,
                 "Float": float, "Boolean": bool, "Dictionary": Fields, "List": list}
        if tag is not None and tag not in known:
            raise CompileError(f"cannot translate 'matches {tag}'")
        return (TRUE if tag is None or isinstance(target, known[tag]) else FALSE), FALSE, FALSE

    def compare(self, op: str, left: Any, right: Any) -> tuple:
        lookup = _lookup_binding(op, left, right)
        if lookup is not None:
            return lookup
        a, b = self.operand(left), self.operand(right)
        if isinstance(a, _Path) and isinstance(b, _Path):
            if a.field == b.field and op in ("Unify", "Neq"):
                # Polar's partial evaluator negates a lookup's own binding (``doc.content !=
                # doc.content`` under a ``not``): a field is always itself
                return semantics.guarded(a.field, TRUE if op == "Unify" else FALSE, FALSE)
            raise CompileError("comparing two fields of a document cannot be translated")
        if not isinstance(a, _Path) and not isinstance(b, _Path):
            return (TRUE if _fold(op, a, b) else FALSE), FALSE, FALSE
        field_first = isinstance(a, _Path)
        path, value = (a, b) if field_first else (b, a)
        try:
            if op in _ORDERINGS:
                order = _ORDERINGS[op] if field_first else _FLIPPED[_ORDERINGS[op]]
                return semantics.ordered(path.field, order, _stored(path.field, value))
            # Polar's partial evaluation writes `doc.f = c` as Unify(c, f) and `not doc.f != c` as
            # Unify(f, c); `doc.f != c` as Neq(f, c) and `not doc.f = c` as Neq(c, f). Those mean
            # different things when the kinds differ ("a" != 1 raises, not "a" = 1 holds).
            value = _stored(path.field, value)
            if op == "Unify" and not field_first:
                return semantics.equals(path.field, value)
            if op == "Neq" and field_first:
                return semantics.differs(path.field, value)
            if op == "Neq":
                return _inverted(semantics.equals(path.field, value))
            holds, raises, unreachable = semantics.differs(path.field, value)
            if op == "Eq":  # `doc.f == c`: the comparison `!=` negates, without a `not`
                return negate(any_of([holds, raises, unreachable])), raises, unreachable
            return _inverted((holds, raises, unreachable))  # `not doc.f != c`
        except (semantics.Untranslatable, ValueError) as exc:
            raise CompileError(str(exc)) from exc

    def member(self, item: Any, container: Any) -> tuple:
        a, b = self.operand(item), self.operand(container)
        try:
            if isinstance(b, _Path) and not isinstance(a, _Path):
                return semantics.contains(b.field, _stored(b.field, a))
            if isinstance(a, _Path) and isinstance(b, list):
                return semantics.one_of(a.field, [_stored(a.field, v) for v in b])
        except (semantics.Untranslatable, ValueError) as exc:
            raise CompileError(str(exc)) from exc
        if not isinstance(a, _Path) and not isinstance(b, _Path):
            return (TRUE if isinstance(b, (list, str)) and a in b else FALSE), FALSE, FALSE
        raise CompileError("this 'in' cannot be translated into a database filter")


def _lookup_binding(op: str, left: Any, right: Any) -> tuple | None:
    """``not actor.role_in(doc.project) in [...]``: Polar's partial evaluator negates the lookup
    of ``doc.project`` along with the test, leaving ``__value != doc.project``, where
    ``__value`` *is* that lookup. Every document of a list has the one known project, so the
    binding always holds: ``=`` is true, ``!=`` false (what remains of the test was decided)."""
    if op not in ("Unify", "Neq"):
        return None
    for var, other in ((left, right), (right, left)):
        if (isinstance(var, Variable) and var.startswith("__value") and isinstance(other, Expression)
                and other.operator == "Dot" and other.args[0] in ("_this", _DOC) and other.args[1] in _KNOWN_HEADS):
            return (TRUE if op == "Unify" else FALSE), FALSE, FALSE
    return None


def _same_kind(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return type(a) is type(b) or (isinstance(a, numbers) and isinstance(b, numbers))


def _fold(op: str, a: Any, b: Any) -> bool:
    """A comparison between two known values (the project, the collection)."""
    if a is MISSING or b is MISSING:
        return op == "Neq"
    equal = _same_kind(a, b) and a == b
    if op in ("Unify", "Eq"):
        return equal
    if op == "Neq":
        return not equal
    try:
        return {"Gt": a > b, "Geq": a >= b, "Lt": a < b, "Leq": a <= b}[op]
    except TypeError:
        return False


def _stored(field: str, value: Any) -> Any:
    if isinstance(value, Fields) or value is MISSING or isinstance(value, Project):
        raise CompileError(f"comparing doc.{field} with {value!r} cannot be translated")
    return value
