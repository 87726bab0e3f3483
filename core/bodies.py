"""Hostile JSON bodies are refused (422) before anything parses or walks them recursively.

Limits: nesting deeper than :data:`MAX_DEPTH` levels of objects/arrays; a NUL character or a
lone UTF-16 surrogate in any string, key or value (BSON cannot store a surrogate and treats
NUL in a key as its end). The depth is counted on the raw text, iteratively, so neither the
JSON decoder nor a deep copy ever sees a body it would recurse on too deeply."""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class BadBody(ValueError):
    """A body refused by these rules; the message says which and where."""


def json_depth(text: str) -> int:
    """The deepest nesting of objects/arrays in JSON ``text`` (brackets inside strings ignored)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return text.count("[") + text.count("{")  # an upper bound, and already within the limit
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def bad_text(value: str) -> str | None:
    """Why ``value`` cannot be stored (a NUL, a lone surrogate), or None."""
    if "\x00" in value:
        return "contains a NUL character"
    if _SURROGATE.search(value):
        return "contains a lone UTF-16 surrogate"
    return None


def check_strings(value: Any, where: str = "body") -> None:
    """Walk ``value`` iteratively: every key and string must be storable; nesting is bounded."""
    stack = [(value, where, 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadBody(f"{path} is nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            for key, item in node.items():
                if isinstance(key, str) and (problem := bad_text(key)):
                    raise BadBody(f"a key in {path} {problem}")
                stack.append((item, f"{path}.{key}" if len(path) < 200 else path, depth + 1))
        elif isinstance(node, (list, tuple)):
            stack.extend((item, f"{path}[{i}]" if len(path) < 200 else path, depth + 1)
                         for i, item in enumerate(node))
        elif isinstance(node, str) and (problem := bad_text(node)):
            raise BadBody(f"a string in {path} {problem}")


def check_json_text(text: str) -> Any:
    """Parse a JSON body safely: refuse it (``BadBody``) when too deep or holding bad strings."""
    if json_depth(text) > MAX_DEPTH:
        raise BadBody(f"the body is nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text)
    except ValueError:
        return None  # not JSON at all: the route's own parser answers that (400/422)
    check_strings(value)
    return value


def guard_json_body():
    """``before_request``: a JSON body breaking the rules above is 422 before any view runs."""
    from flask import request

    from .errors import AladdinError

    if request.method in ("GET", "HEAD", "OPTIONS", "DELETE") and not request.content_length:
        return None
    if not request.is_json:
        return None
    raw = request.get_data(cache=True)
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AladdinError("the body is not valid UTF-8", status=422)
    try:
        check_json_text(text)
    except BadBody as exc:
        raise AladdinError(str(exc), status=422)
    return None
