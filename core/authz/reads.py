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

from bson import ObjectId
from bson.errors import InvalidId
from polar import Expression, Pattern, Variable

from ..compat.mongomock import matches
from .resources import MISSING, STORED_NAMES, Content, Fields, Project

READ = "content:view"
_DOC = "aladdin_doc"  # no leading underscore: Polar hides such variables from results


class CompileError(Exception):
    """A read rule the list compiler cannot translate; such a policy is refused, never half-applied."""


@dataclasses.dataclass(frozen=True)
class ReadFilter:
    """Which documents of one collection a reader may view: ``query`` for MongoDB, or all/none."""

    query: dict | None  # None: every document

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
        if self.query is None:
            return True
        if self.nothing:
            return False
        return matches(self.query, document)


NOTHING = {"_id": {"$in": []}}
EVERYTHING = ReadFilter(None)


def compile_read_filter(oso, reader, project: Project, collection: str,
                        sensitive: Callable[[str], bool] = lambda path: False, action: str = READ) -> ReadFilter:
    """Compile ``action`` (``content:view`` unless told) for ``reader`` (a :class:`ListReader`) on one
    collection: the documents of it ``reader`` may ``action``."""
    translate = _Translator(project, collection, sensitive)
    permitted = translate.any_of(_partials(oso, "permitted", reader, action))
    if permitted is False:
        return ReadFilter(NOTHING)
    denied = translate.any_of(_partials(oso, "denied", reader, action))
    return ReadFilter(_to_query(_and([permitted, _not(denied)])))


def compile_rule(oso, rule_name: str, reader, project: Project, collection: str,
                 sensitive: Callable[[str], bool] = lambda path: False) -> Any:
    """Translate one rule (``policy check`` probes clause by clause); raises :class:`CompileError`."""
    return _Translator(project, collection, sensitive).any_of(_partials(oso, rule_name, reader))


def rule_filter(oso, rule_name: str, reader, project: Project, collection: str,
                sensitive: Callable[[str], bool] = lambda path: False) -> ReadFilter:
    """The documents one rule alone holds for, as a filter: ``policy explain`` matches each
    clause's own filter against a document, the way the whole filter decided it."""
    return ReadFilter(_to_query(compile_rule(oso, rule_name, reader, project, collection, sensitive)))


def _partials(oso, rule: str, reader, action: str = READ) -> list:
    """Every answer of ``rule(reader, action, doc)`` with ``doc`` an unbound Content."""
    doc = Variable(_DOC)
    constraint = Expression("And", [Expression("Isa", [doc, Pattern("Content", {})])])
    try:
        results = list(oso.query_rule(rule, reader, action, doc, bindings={_DOC: constraint},
                                      accept_expression=True))
    except Exception as exc:  # polar reports unsupported partial operations as runtime errors
        raise CompileError(f"{rule}(...) cannot be evaluated for lists: {_first_line(exc)}") from exc
    return [r["bindings"].get(_DOC) for r in results]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if line.strip() and not line.startswith(("trace", "  ")):
            return line.strip()
    return text.splitlines()[-1] if text else type(exc).__name__


# --- translation -------------------------------------------------------------------------
# A condition is True, False or a MongoDB filter dict.


def _and(parts: list) -> Any:
    out = []
    for p in parts:
        if p is False:
            return False
        if p is not True:
            out.append(p)
    if not out:
        return True
    return out[0] if len(out) == 1 else {"$and": out}


def _or(parts: list) -> Any:
    out = []
    for p in parts:
        if p is True:
            return True
        if p is not False:
            out.append(p)
    if not out:
        return False
    return out[0] if len(out) == 1 else {"$or": out}


def _not(cond: Any) -> Any:
    if cond is True:
        return False
    if cond is False:
        return True
    return {"$nor": [cond]}


def _to_query(cond: Any) -> dict | None:
    if cond is True:
        return None
    if cond is False:
        return NOTHING
    return cond


class _Path:
    """A stored field path of the unknown document (``content.secret``, ``_id``, ``status``)."""

    __slots__ = ("field",)

    def __init__(self, field: str):
        self.field = field


_COMPARISONS = {"Gt": "$gt", "Geq": "$gte", "Lt": "$lt", "Leq": "$lte"}
_FLIPPED = {"$gt": "$lt", "$gte": "$lte", "$lt": "$gt", "$lte": "$gte"}


class _Translator:
    def __init__(self, project: Project, collection: str, sensitive: Callable[[str], bool]):
        self.project = project
        self.collection = collection
        self.sensitive = sensitive

    def any_of(self, bindings: list) -> Any:
        return _or([self.condition(b) for b in bindings])

    def condition(self, term: Any) -> Any:
        if term is None or isinstance(term, Variable):
            return True  # the rule held whatever the document is
        if isinstance(term, bool):
            return term
        if not isinstance(term, Expression):
            raise CompileError(f"unexpected term {term!r}")
        op, args = term.operator, term.args
        if op == "And":
            return _and([self.condition(a) for a in args])
        if op == "Or":
            return _or([self.condition(a) for a in args])
        if op == "Not":
            return _not(self.condition(args[0]))
        if op == "Isa":
            return self.isa(*args)
        if op in ("Unify", "Eq"):
            return self.compare("$eq", *args)
        if op == "Neq":
            return self.compare("$ne", *args)
        if op in _COMPARISONS:
            return self.compare(_COMPARISONS[op], *args)
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
                raise CompileError("method calls on a document cannot be translated into a database filter")
            return self.path(chain)
        if isinstance(term, Variable):
            if term in ("_this", _DOC):
                raise CompileError("a whole document cannot be compared")
            raise CompileError(f"the unbound variable {term} cannot be translated")
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
            return MISSING
        field = ".".join([STORED_NAMES.get(head, head), *rest])
        if self.sensitive(field):
            raise CompileError(f"doc.{'.'.join(chain)} is encrypted at rest; read rules cannot filter on it")
        return _Path(field)

    # -- operations -------------------------------------------------------------------

    def isa(self, value: Any, pattern: Any) -> Any:
        if not isinstance(pattern, Pattern):
            raise CompileError(f"cannot translate 'matches {pattern!r}'")
        if isinstance(value, Variable) and value in ("_this", _DOC):
            if pattern.tag not in (None, "Content"):
                return False
            fields = pattern.fields or {}
            return _and([self.compare("$eq", Expression("Dot", [value, k]), v) for k, v in fields.items()])
        target = self.operand(value)
        if isinstance(target, _Path):
            raise CompileError(f"cannot translate a type check on doc.{target.field}")
        tag = pattern.tag
        known = {"Project": Project, "Content": Content, "String": str, "Integer": int,
                 "Float": float, "Boolean": bool, "Dictionary": Fields, "List": list}
        if tag is not None and tag not in known:
            raise CompileError(f"cannot translate 'matches {tag}'")
        return tag is None or isinstance(target, known[tag])

    def compare(self, op: str, left: Any, right: Any) -> Any:
        a, b = self.operand(left), self.operand(right)
        if isinstance(a, _Path) and isinstance(b, _Path):
            raise CompileError("comparing two fields of a document cannot be translated")
        if not isinstance(a, _Path) and not isinstance(b, _Path):
            return _fold(op, a, b)
        if isinstance(b, _Path):
            a, b = b, a
            op = _FLIPPED.get(op, op)
        return {a.field: {op: _stored(a.field, b)}}

    def member(self, item: Any, container: Any) -> Any:
        a, b = self.operand(item), self.operand(container)
        if isinstance(b, _Path) and not isinstance(a, _Path):
            return {b.field: {"$elemMatch": {"$eq": _stored(b.field, a)}}}
        if isinstance(a, _Path) and isinstance(b, list):
            return {a.field: {"$in": [_stored(a.field, v) for v in b]}}
        if not isinstance(a, _Path) and not isinstance(b, _Path):
            return isinstance(b, (list, str, dict)) and a in b
        raise CompileError("this 'in' cannot be translated into a database filter")


def _fold(op: str, a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return op == "$ne"
    try:
        return {"$eq": a == b, "$ne": a != b}[op] if op in ("$eq", "$ne") else \
            {"$gt": a > b, "$gte": a >= b, "$lt": a < b, "$lte": a <= b}[op]
    except TypeError:
        return False


def _stored(field: str, value: Any) -> Any:
    """A Polar constant as the database stores it (ids are ObjectIds)."""
    if isinstance(value, Fields):
        raise CompileError("comparing with an object cannot be translated")
    if field == "_id" and isinstance(value, str):
        try:
            return ObjectId(value)
        except (InvalidId, TypeError):
            return value
    return value
