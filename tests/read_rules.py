"""Generated admin read rules and documents (hypothesis strategies) for the differential tests:
rules of every shape read rules take (tests of the actor and role before, after and among the
document's), each knowing by construction which of the four shapes ``policy check`` refuses it has
(``docs/policies.md``, "What policy check refuses for its shape"), and documents holding every
value kind (missing, null, bool, int, float, string, list, list of objects, object).

The shape of a generated rule is worked out from how it was built, not by the checker's reader
(:mod:`core.authz.shapes`), so the two are compared, not one copied into the other."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import strategies as st

ACTOR_ID = "u-1"
EMAILS = ("intern@studio.test", "lead@studio.test")
PATHS = ("content.a", "content.b", "content.m.s", "status")
NESTED = ("content.a", "content.b", "content.m.s")  # more than one name after `doc.`
#: `=` and `x in [...]` fail (a type error) only where the path crosses a boolean: content.m
CROSSES_A_BOOLEAN = ("content.m.s",)
#: Tests of the actor and its role: Polar decides them while compiling a list.
ACTOR_TERMS = ('actor.role_in(doc.project) = "viewer"', 'not actor.role_in(doc.project) in ["owner", "editor"]',
               'not actor.role_in(doc.project) = "owner"', 'actor.email = "intern@studio.test"',
               'not actor.email = "intern@studio.test"')
#: The four shapes (docs/policies.md): two doc `not`s, `not` around `or`/`not`, a negated ordering
#: on a nested path, a test that can fail before an actor or role test.
TWO_NOTS, NOT_AROUND, NESTED_ORDERING, FIELD_FIRST = "two-nots", "not-around", "nested-ordering", "field-first"


@dataclasses.dataclass(frozen=True)
class Body:
    """A rule body and what it is made of."""

    text: str
    nots: int = 0          # `not`s about the document not inside another `not`
    fails: bool = False    # some test in it can raise a type error
    compound: bool = False  # holds an `or` or a `not`
    ordering: bool = False  # orders a nested path
    shapes: frozenset = frozenset()
    doc: bool = True       # tests a document field
    known: bool = False    # holds a test of the actor or its role


@dataclasses.dataclass(frozen=True)
class Rule:
    text: str
    shapes: frozenset  # empty: policy check accepts it


strings = st.sampled_from(["a", "b", "ab", "public", ""])
numbers = st.sampled_from([-1, 0, 1, 2, 1.0, 2.5])
scalars = st.one_of(strings, numbers, st.booleans(), st.none())
values = st.one_of(
    scalars,
    st.lists(st.one_of(strings, numbers, st.booleans()), max_size=3),
    st.lists(st.fixed_dictionaries({}, optional={"s": scalars}), min_size=1, max_size=2),  # a list of objects
    st.fixed_dictionaries({}, optional={"s": scalars, "a": scalars}),  # a nested object
)
constants = st.one_of(strings, numbers, st.booleans())


def _field(doc: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for name in parents:
        doc = doc.setdefault(name, {})
        if not isinstance(doc, dict):
            return
    doc[last] = value


@st.composite
def documents(draw) -> dict:
    doc: dict = {}
    content = draw(st.sampled_from(["object", "object", "object", "missing", "list"]))
    if content == "list":
        doc["content"] = [{"a": 1}]
    elif content == "object":
        doc["content"] = {}
        for path in ("content.a", "content.b"):
            if draw(st.booleans()):
                _field(doc, path, draw(values))
        m = draw(st.sampled_from(["missing", "object", "value"]))
        if m == "object":
            doc["content"]["m"] = draw(st.fixed_dictionaries({}, optional={"s": values}))
        elif m == "value":
            doc["content"]["m"] = draw(values)
    if draw(st.booleans()):
        doc["status"] = draw(values)
    creator = draw(st.sampled_from([ACTOR_ID, "u-2", None, "absent"]))
    if creator != "absent":
        doc["createdBy"] = creator
    return doc


def polar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


@st.composite
def atoms(draw) -> Body:
    name = draw(st.sampled_from(PATHS))
    path, c = "doc." + name, polar(draw(constants))
    listed = "[" + ", ".join(polar(v) for v in draw(st.lists(constants, min_size=1, max_size=3))) + "]"
    crosses = name in CROSSES_A_BOOLEAN
    nested = name in NESTED
    positive = [
        Body(f"{path} = {c}", fails=crosses), Body(f"{path} != {c}", fails=True),
        Body(f"{path} in {listed}", fails=crosses), Body(f"{c} in {path}", fails=True),
        Body(f"{path} < {c}", fails=True, ordering=nested), Body(f"{path} >= {c}", fails=True, ordering=nested),
        Body(f"{c} < {path}", fails=True, ordering=nested), Body("doc.created_by = actor.id"),
    ]
    order = frozenset({NESTED_ORDERING}) if nested else frozenset()
    negative = [
        Body(f"not {path} = {c}", 1, crosses, True), Body(f"not {path} in {listed}", 1, crosses, True),
        Body(f"not {c} in {path}", 1, True, True),
        Body(f"not {path} >= {c}", 1, True, True, nested, order),
        Body(f"not {c} < {path}", 1, True, True, nested, order),
        Body("not doc.created_by = actor.id", 1, False, True),
    ]
    if draw(st.integers(0, 5)) == 0:  # a test of the actor among the document's
        term = draw(st.sampled_from(ACTOR_TERMS))
        return Body(term, compound=term.startswith("not "), doc=False, known=True)
    return draw(st.sampled_from(positive * 3 + negative))  # one atom in five is negated


def _both(word: str, a: Body, b: Body) -> Body:
    first = {FIELD_FIRST} if word == "and" and a.fails and b.known else set()
    return Body(f"({a.text}) {word} ({b.text})", a.nots + b.nots, a.fails or b.fails,
                word == "or" or a.compound or b.compound, a.ordering or b.ordering, a.shapes | b.shapes | first,
                a.doc or b.doc, a.known or b.known)


def _negated(a: Body) -> Body:
    if not a.doc:  # about the actor alone: Polar decides it while compiling
        return Body(f"not ({a.text})", compound=True, shapes=a.shapes, doc=False, known=True)
    shapes = a.shapes | ({NOT_AROUND} if a.compound else set()) | ({NESTED_ORDERING} if a.ordering else set())
    return Body(f"not ({a.text})", 1, a.fails, True, a.ordering, frozenset(shapes), True, a.known)


def bodies(depth: int = 2):
    """Rule bodies of atoms, ``and``, ``or`` and ``not`` (around anything, `or` and `not` too)."""
    if depth == 0:
        return atoms()
    inner = bodies(depth - 1)
    both = st.builds(lambda a, b: _both("and", a, b), inner, inner)
    either = st.builds(lambda a, b: _both("or", a, b), inner, inner)
    # weighted so that about one rule in four has a shape policy check refuses
    return st.one_of(atoms(), atoms(), atoms(), both, both, either, st.builds(_negated, inner))


@st.composite
def rules(draw) -> Rule:
    body = draw(bodies())
    shapes = set(body.shapes) | ({TWO_NOTS} if body.nots > 1 else set())
    term = draw(st.sampled_from(("", "", *ACTOR_TERMS)))
    text = body.text
    if term and draw(st.integers(0, 3)) == 0:  # the actor test after the document's
        text = f"({text}) and {term}"
        shapes |= {FIELD_FIRST} if body.fails else set()
    elif term:
        text = f"{term} and ({text})"
    head = draw(st.sampled_from(["denied", "denied", "permitted"]))
    actor = "actor" if "actor" in text else "_actor"
    doc = "doc" if "doc" in text else "_doc"
    return Rule(f'{head}({actor}: User, "content:view", {doc}: Content) if {text};', frozenset(shapes))


def rule_sets(min_size: int = 1, max_size: int = 3):
    return st.lists(rules(), min_size=min_size, max_size=max_size)
