"""The clause shapes on which Polar's list compiler (partial evaluation) loses what Polar decides
per document, found in the clause as written, with a rewrite that compiles exactly where one exists.

Polar hands the list compiler a simplified constraint, and for four shapes the simplification drops
information the per-document answer depends on (measured with the differential test,
``tests/unit/test_read_differential.py``; ``docs/policies.md`` has the table):

1. two ``not``\\s about the document in one clause: merged into a constraint that is not Polar's;
2. ``not (a or b)`` and ``not (not a)`` about the document: inside a ``not`` Polar tries every
   alternative and fails on a value of the wrong kind in any of them; a double negation comes back
   as ``a``, dropping where the inner ``not`` absorbed a field that cannot be reached;
3. ``not doc.a.b >= c`` on a nested path: comes back as ``doc.a.b < c``, which differs where
   ``doc.a`` is a list or a string (the ``not`` held);
4. a test of the document that can fail on a value of the wrong kind before a test of the actor
   or role: Polar asked about a document fails there first, the compiler decides the role first;

and a clause handing the document to another rule (``hidden(doc)``), whose shape is not seen here.

A clause of these shapes is refused by ``policy check`` (and so by ``serve``) rather than compiled
into a filter that departs from Polar; a write rule of these shapes is asked of Polar per document."""

from __future__ import annotations

import dataclasses
import json
import re

from .syntax import ORDERINGS, Node, ParsedClause, SyntaxProblem, parse, unwrap

#: First names under ``doc`` whose value the compiler knows (the project) or folds (the collection).
_KNOWN_FIELDS = ("project", "collection")
_FLIPPED = {">=": "<", ">": "<=", "<": ">=", "<=": ">"}
#: A permitted/denied head and its action, for a clause the reader cannot follow.
_HEAD = re.compile(r'\s*(permitted|denied)\s*\(\s*[^,()]*,\s*("(?:[^"\\]|\\.)*")?')


@dataclasses.dataclass(frozen=True)
class Departure:
    shape: str  # "two-nots", "not-or", "not-not", "nested-ordering", "field-first", "rule-call", "unread"
    why: str
    node: Node
    advice: str = ""  # said when no rewrite is known


class _Reading:
    """One clause's names: which variable is the document, which values derive from it."""

    def __init__(self, parsed: ParsedClause):
        self.parsed = parsed
        self.text = parsed.text
        names = [name for name, _, _ in parsed.params]
        self.doc = names[2] if len(names) > 2 else None
        self.derived: set[str] = set()
        if parsed.body is not None:  # `v = doc.content.a`: v stands for a document field
            for node in parsed.body.walk():
                if node.kind == "cmp" and node.op == "=":
                    for var, other in ((node.left, node.right), (node.right, node.left)):
                        if var.chain and len(var.chain) == 1 and self._fields([other]):
                            self.derived.add(var.chain[0])

    def _fields(self, values) -> list[tuple]:
        return self._ref_fields([ref for value in values for ref in value.refs])

    def _ref_fields(self, refs) -> list[tuple]:
        out = []
        for ref in refs:
            if ref[0] == self.doc and (len(ref) == 1 or ref[1] not in _KNOWN_FIELDS):
                out.append(ref[1:] or ("*",))
            elif ref[0] in self.derived:
                out.append(("*", "*", "*"))  # unknown depth: assume the worst
        return out

    def fields(self, node: Node) -> list[tuple]:
        """The document fields ``node`` tests (``("content", "a")``), the project and collection aside."""
        return self._fields([v for n in node.walk() for v in n.values()])

    def atoms(self, node: Node) -> list[Node]:
        return [n for n in node.walk() if n.kind in ("cmp", "goal")]

    def known(self, atom: Node) -> bool:
        """A test Polar decides while compiling a list: it reads no document field."""
        return not self.fields(atom)

    def can_fail(self, atom: Node) -> bool:
        """Can this test of the document raise a type error (which no ``not`` absorbs)?"""
        fields = self.fields(atom)
        if not fields:
            return False
        if atom.kind == "goal" or any(v.called for v in atom.values()) or atom.op not in ("=", "in"):
            return True
        if atom.op == "in" and self._fields([atom.right]):
            return True  # `c in doc.f`: `in` a number, boolean, null or object raises
        # `=` and `x in [...]` raise only where the path crosses a boolean; `doc.content` is
        # always an object (the one write path validates it), so `doc.content.x` never does
        return any(len(f) > 2 or (len(f) == 2 and f[0] != "content") or "*" in f for f in fields)

    def passes_document(self, goal: Node) -> bool:
        """A call of another rule with the document or one of its fields (``hidden(doc)``); a
        method called on the document (``doc.content.title.startswith(...)``) is the compiler's
        to refuse, and ``actor.role_in(doc.project)`` reads only the project."""
        value = goal.left
        if not value.called or not value.refs:
            return False
        *arguments, callee = value.refs  # a call's own name comes after its arguments
        return callee[0] != self.doc and bool(self._ref_fields(arguments))

    def show(self, node: Node) -> str:
        return self.text[node.start:node.end]


def reads_content(parsed: ParsedClause, action: str = "content:view") -> bool:
    """Does this ``permitted``/``denied`` clause apply to ``action`` on a document?"""
    if parsed.rule not in ("permitted", "denied") or len(parsed.params) != 3:
        return False
    _, literal, _ = parsed.params[1]
    doc, _, kind = parsed.params[2]
    about_content = kind is None or kind.split("{")[0].strip() == "Content"  # `doc: Content{...}` too
    return doc is not None and about_content and (literal is None or literal == json.dumps(action))


def departures(text: str, action: str = "content:view") -> list[Departure]:
    """Where ``text`` (one clause) departs from Polar once compiled for ``action``, in text order."""
    try:
        parsed = parse(text)
    except SyntaxProblem as exc:
        head = _HEAD.match(text)
        if head and head.group(2) in (None, json.dumps(action)):
            return [Departure("unread", f"policy check cannot read the shape of this clause ({exc}), so it cannot "
                                        "promise lists apply it as Polar does", Node("goal", 0, len(text)),
                              "write it with comparisons, `and`, `or` and `not`")]
        return []
    if not reads_content(parsed, action) or parsed.body is None:
        return []
    reading = _Reading(parsed)
    found: list[Departure] = []
    outer_nots = []
    _nots(parsed.body, False, outer_nots)
    for node in parsed.body.walk():
        if node.kind == "goal" and reading.passes_document(node):
            found.append(Departure(
                "rule-call", f"`{reading.show(node)}` hands the document to another rule, whose shape policy "
                "check cannot see here, so it cannot promise lists apply it as Polar does", node,
                "write that rule's tests into this clause"))
        if node.kind == "not" and reading.fields(node):
            found += _inside_not(reading, node)
        if node.kind == "and":
            found += _field_first(reading, node)
    about_doc = [n for n in outer_nots if reading.fields(n)]
    if len(about_doc) > 1:
        shown = ", ".join(f"`{reading.show(n)}`" for n in about_doc)
        found.append(Departure(
            "two-nots", f"it has {len(about_doc)} `not`s about the document in one clause ({shown}); Polar's "
            "list compiler merges them into a condition that is not what Polar decides per document",
            parsed.body, "keep one `not` about the document per clause: write the others without `not` "
            "(`doc.x != c`, `doc.x < c`, `doc.x in [...]`) or split the clause"))
    # a call hiding a rule's shape first: no rewrite here can fix it
    return sorted(found, key=lambda d: (d.shape != "rule-call", d.node.start))


def _nots(node: Node, inside: bool, out: list) -> None:
    if node.kind == "not" and not inside:
        out.append(node)
        inside = True
    for part in node.parts:
        _nots(part, inside, out)


def _inside_not(reading: _Reading, node: Node) -> list[Departure]:
    out = []
    inner = unwrap(node.parts[0])
    shown = reading.show(node)
    if inner.kind == "not":
        out.append(Departure("not-not", f"the double negation `{shown}` about the document comes back from "
                                        "Polar's list compiler without both `not`s, losing what the inner "
                                        "`not` decides where a field cannot be reached (a list or string on "
                                        "the way)", node, "drop the double negation"))
    elif any(n.kind in ("or", "not") for n in inner.walk()):
        out.append(Departure("not-or", f"inside `{shown}` Polar tries every alternative and fails on a value of "
                                       "the wrong kind in any of them, which its list compiler cannot see", node,
                             "write one `not` per test (`not a and not b`), with one `not` about the document "
                             "per clause; `not doc.x in [a, b]` when they compare one field with constants"))
    for atom in reading.atoms(node):
        nested = [v.chain for v in atom.values() if v.chain and v.chain[0] == reading.doc and len(v.chain) > 2
                  and v.chain[1] not in _KNOWN_FIELDS]
        if atom.kind == "cmp" and atom.op in ORDERINGS and nested:
            path = "doc." + ".".join(nested[0][1:])
            out.append(Departure("nested-ordering", f"`{shown}` orders a nested path under `not`; Polar's list "
                                                    f"compiler turns it into the opposite ordering, which differs "
                                                    f"where {path.rsplit('.', 1)[0]} is a list or a string", node,
                                 "write the opposite ordering without `not`"))
    return out


def _field_first(reading: _Reading, node: Node) -> list[Departure]:
    for i, part in enumerate(node.parts):
        failing = [a for a in reading.atoms(part) if reading.can_fail(a)]
        if not failing:
            continue
        for later in node.parts[i + 1:]:
            known = [a for a in reading.atoms(later) if reading.known(a)]
            if known:
                return [Departure(
                    "field-first", f"`{reading.show(failing[0])}` can fail on a value of the wrong kind and comes "
                    f"before `{reading.show(known[0])}`: Polar asked about a document fails there first, its list "
                    "compiler decides the actor and role first", node, "test the actor and role first")]
    return []


# --- rewrites ----------------------------------------------------------------------------


def rewritten(text: str, action: str = "content:view") -> str | None:
    """``text`` rewritten so that no departure is left, or None when no rewrite is known."""
    for _ in range(8):
        found = departures(text, action)
        if not found:
            return text
        fixed = _fix(text, found[0])
        if fixed is None or fixed == text:
            return None
        text = fixed
    return None


def _splice(text: str, node: Node, replacement: str) -> str:
    return text[:node.start] + replacement + text[node.end:]


def _fix(text: str, departure: Departure) -> str | None:
    node, shape = departure.node, departure.shape
    if shape == "not-not":
        inner = unwrap(unwrap(node.parts[0]).parts[0])
        body = text[inner.start:inner.end]
        return _splice(text, node, f"({body})" if inner.kind in ("and", "or") else body)
    if shape == "nested-ordering":
        inner = unwrap(node.parts[0])
        if inner.kind != "cmp":
            return None
        left, right = (text[v.start:v.end] for v in (inner.left, inner.right))
        return _splice(text, node, f"{left} {_FLIPPED[inner.op]} {right}")
    if shape == "not-or":
        return _fix_not_or(text, node)
    if shape == "field-first":
        reading = _Reading(parse(text))
        first = [p for p in node.parts if not reading.fields(p)]
        rest = [p for p in node.parts if reading.fields(p)]
        return _splice(text, node, " and ".join(text[p.start:p.end] for p in first + rest))
    return None


def _fix_not_or(text: str, node: Node) -> str | None:
    """``not (doc.x = a or doc.x = b)`` → ``not doc.x in [a, b]``; ``not (a or b)`` with one
    alternative about the document → ``not a and not b``."""
    inner = unwrap(node.parts[0])
    if inner.kind != "or":
        return None
    alternatives = [unwrap(p) for p in inner.parts]
    paths, constants = set(), []
    for alt in alternatives:
        if alt.kind != "cmp" or alt.op != "=":
            break
        for path, const in ((alt.left, alt.right), (alt.right, alt.left)):
            if path.chain and len(path.chain) > 1 and not const.refs:
                paths.add(text[path.start:path.end])
                constants.append(text[const.start:const.end])
                break
    else:
        if len(paths) == 1 and len(constants) == len(alternatives):
            return _splice(text, node, f"not {paths.pop()} in [{', '.join(constants)}]")
    parsed = parse(text)
    reading = _Reading(parsed)
    if sum(1 for alt in alternatives if reading.fields(alt)) > 1:
        return None
    return _splice(text, node, " and ".join(f"not ({text[a.start:a.end]})" if a.kind in ("and", "or")
                                            else f"not {text[a.start:a.end]}" for a in alternatives))
