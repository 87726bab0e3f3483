"""What Polar answers when it compares one stored field with a constant, as conditions per kind.

Polar is asked about documents whose values are plain Python values (``policy_value``), so its
answer depends on the field's kind. Each function returns a triple ``(holds, raises, unreachable)``
of conditions: the documents for which the comparison is true; those for which Polar raises a
type error (``"a" != 1``, ``null < 3``, ``1 in 5``), which no ``not`` absorbs; and those for which
the field cannot be looked up (an ancestor is a list or a string), an error a ``not`` around it
absorbs. :mod:`.reads` combines them in Polar's evaluation order. The tables were measured
against Polar itself (``tests/unit/test_read_differential.py`` keeps them honest) and are
documented in ``docs/policies.md``."""

from __future__ import annotations

from typing import Any

from .filters import FALSE, TRUE, Compare, Cond, Element, Kind, Substring, all_of, any_of, negate

Triple = tuple  # (holds, raises, unreachable): conditions
_SCALAR_KIND = {bool: "bool", int: "number", float: "number", str: "string"}


class Untranslatable(Exception):
    """A comparison with a constant that has no exact database form (a list, an object)."""


def constant_kind(value: Any) -> str:
    kind = _SCALAR_KIND.get(type(value))
    if kind is None:
        raise Untranslatable(f"comparing a field with {value!r} cannot be translated into a database filter")
    return kind


def guarded(field: str, holds: Cond, fails: Cond) -> Triple:
    """A leaf comparison at ``field`` with its lookup: an ancestor that is present but not an
    object fails the lookup before anything is compared; Polar raises a type error for a
    boolean, an error a ``not`` absorbs for anything else (a list of objects, a string, null)."""
    parts = field.split(".")
    reached, raises, unreachable = TRUE, [], []
    for prefix in (".".join(parts[:i]) for i in range(1, len(parts))):
        raises.append(all_of([reached, Kind(prefix, "bool")]))
        unreachable.append(all_of([reached, _kinds(prefix, "number", "string", "null", "array", "other")]))
        reached = all_of([reached, _kinds(prefix, "object", "missing")])
    return (all_of([reached, holds]), any_of([*raises, all_of([reached, fails])]), any_of(unreachable))


def _kinds(field: str, *kinds: str) -> Cond:
    return any_of(Kind(field, k) for k in kinds)


def _equal(field: str, value: Any) -> Cond:
    """``field = value``: Polar unifies numbers across int and float, never bool with a number."""
    kind = constant_kind(value)
    return Compare(field, kind, "eq", value)


def equals(field: str, value: Any) -> Triple:
    """``doc.f = c``: true for the same value of the same kind; never raises."""
    return guarded(field, _equal(field, value), FALSE)


def _numeric_bools(value: float, op: str) -> list:
    """The booleans Polar's ``<``/``!=`` treat as 1 and 0 that satisfy ``b op value``."""
    test = {"ne": lambda b: b != value, "lt": lambda b: b < value, "lte": lambda b: b <= value,
            "gt": lambda b: b > value, "gte": lambda b: b >= value}[op]
    return [b for b in (False, True) if test(int(b))]


def differs(field: str, value: Any) -> Triple:
    """``doc.f != c`` as written: missing, null and objects differ from everything; a string and
    a number (or a list and anything) raise; booleans compare with numbers as 1 and 0."""
    kind = constant_kind(value)
    always = _kinds(field, "missing", "null", "object", "other")
    if kind == "string":
        same = all_of([Kind(field, "string"), negate(Compare(field, "string", "eq", value))])
        return guarded(field, any_of([always, same]), _kinds(field, "number", "bool", "array"))
    number = int(value) if kind == "bool" else value
    holds = [always, all_of([Kind(field, "number"), negate(Compare(field, "number", "eq", number))])]
    holds += [Compare(field, "bool", "eq", b) for b in _numeric_bools(number, "ne")]
    return guarded(field, any_of(holds), _kinds(field, "string", "array"))


def ordered(field: str, op: str, value: Any) -> Triple:
    """``doc.f < c`` (``op``: lt, lte, gt, gte). A missing field is below every value, so that
    ``not doc.f >= c``, which partial evaluation turns into ``doc.f < c``, means the same;
    null, lists and objects raise, as do a string against a number or a boolean."""
    kind = constant_kind(value)
    below = TRUE if op in ("lt", "lte") else FALSE
    missing = all_of([Kind(field, "missing"), below])
    if kind == "string":
        holds = any_of([missing, Compare(field, "string", op, value)])
        return guarded(field, holds, _kinds(field, "null", "object", "array", "other", "number", "bool"))
    number = int(value) if kind == "bool" else value
    holds = any_of([missing, Compare(field, "number", op, number),
                    *[Compare(field, "bool", "eq", b) for b in _numeric_bools(number, op)]])
    return guarded(field, holds, _kinds(field, "null", "object", "array", "other", "string"))


def contains(field: str, value: Any) -> Triple:
    """``c in doc.f``: an element equal to ``c`` in a list, one of the characters of a string
    (``"a" in "abc"``; ``"ab" in "abc"`` is false); nothing is in a missing field; ``in`` a
    number, boolean, null or object raises."""
    kind = constant_kind(value)
    holds = [Element(field, kind, value)]  # 1 in [1.0]; never true in [true]
    if kind == "string" and len(value) == 1:
        holds.append(Substring(field, value))
    return guarded(field, any_of(holds), _kinds(field, "number", "bool", "null", "object", "other"))


def one_of(field: str, values: list) -> Triple:
    """``doc.f in [a, b]``: equal to one of them; never raises."""
    return guarded(field, any_of(_equal(field, v) for v in values), FALSE)
