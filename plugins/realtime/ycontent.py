"""The stored ``content`` object and a Y.Doc's ``Y.Map("content")``: seeding, writes made elsewhere, commits.

Mapping: each top-level field is one entry of the map; a string is a ``Y.Text``, an object a
``Y.Map`` (same rules inside: its strings are ``Y.Text`` too), an array a ``Y.Array`` whose items
are plain values, ``Y.Map`` for objects and ``Y.Array`` for arrays (strings in arrays stay plain);
numbers, booleans and null stay plain. Field names that are not plain identifiers and fields
encrypted at rest (``sensitive_fields``) are never put into the Y.Doc: its updates are stored
and relayed in clear.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from pycrdt import Array, Doc, Map, Text

CONTENT_MAP = "content"
FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
MISSING = object()
Skip = Callable[[str], bool]  # field name -> keep it out of the Y.Doc


def to_y(value: Any, top: bool = True) -> Any:
    """A prelim Yjs value for a JSON value (``top``: strings become Y.Text)."""
    if isinstance(value, str):
        return Text(value) if top else value
    if isinstance(value, dict):
        return Map({str(k): to_y(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return Array([to_y(v, top=False) for v in value])
    return value


def plain(value: Any) -> Any:
    """JSON numbers come back from Yjs as floats: integral ones are ints again (1.0 -> 1)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def to_python(value: Any) -> Any:
    if isinstance(value, Text):
        return str(value)
    if isinstance(value, (Map, Array)):
        return plain(value.to_py())
    return plain(value)


def fields(content: dict, skip: Skip) -> dict:
    return {k: v for k, v in (content or {}).items() if FIELD_RE.match(k) and not skip(k)}


def seed(doc: Doc, content: dict, skip: Skip) -> None:
    """Fill an empty document's ``Y.Map("content")`` from a stored ``content`` (JSON-ready)."""
    ymap = doc.get(CONTENT_MAP, type=Map)
    with doc.transaction(origin="server"):
        for name, value in fields(content, skip).items():
            ymap[name] = to_y(value)


# --- writes made elsewhere -----------------------------------------------------------------

def text_diff(a: str, b: str) -> tuple[int, int, str]:
    """The one-range edit turning ``a`` into ``b``: (position, deleted length, inserted text)."""
    limit = min(len(a), len(b))
    p = 0
    while p < limit and a[p] == b[p]:
        p += 1
    s = 0
    while s < limit - p and a[len(a) - 1 - s] == b[len(b) - 1 - s]:
        s += 1
    return p, len(a) - p - s, b[p:len(b) - s]


def rebase_text(base: str, ours: str, theirs: str) -> tuple[int, int, str] | None:
    """The edit to make on ``ours`` (the live text) for a write that turned ``base`` into
    ``theirs``: the write's own range, moved past live typing elsewhere in the field that the
    write did not see; where both touched the same range the write wins that range."""
    if ours == theirs:
        return None
    wp, wd, wi = text_diff(base, theirs)
    if ours == base:
        return wp, wd, wi
    lp, ld, li = text_diff(base, ours)
    if wp + wd <= lp:
        return wp, wd, wi
    if lp + ld <= wp:
        return wp - ld + len(li), wd, wi
    return text_diff(ours, theirs)


def _utf8(s: str, i: int) -> int:
    return len(s[:i].encode("utf-8"))  # pycrdt indexes Y.Text by UTF-8 byte offset


def edit_text(ytext: Text, base: str, target: str) -> None:
    ours = str(ytext)
    edit = rebase_text(base, ours, target)
    if edit is None:
        return
    pos, deleted, inserted = edit
    start, end = _utf8(ours, pos), _utf8(ours, pos + deleted)
    if end > start:
        del ytext[start:end]
    if inserted:
        ytext.insert(start, inserted)


def edit_array(yarray: Array, target: list) -> None:
    current = [to_python(v) for v in yarray]
    limit = min(len(current), len(target))
    p = 0
    while p < limit and current[p] == target[p]:
        p += 1
    s = 0
    while s < limit - p and current[-1 - s] == target[-1 - s]:
        s += 1
    if len(current) - s > p:
        del yarray[p:len(current) - s]
    for offset, value in enumerate(target[p:len(target) - s]):
        yarray.insert(p + offset, to_y(value, top=False))


def merge_into(ymap: Map, base: dict, target: dict, skip: Skip = lambda name: False) -> None:
    """Bring ``ymap`` from ``base`` (what it last matched) to ``target``, touching only the
    entries the write changed, each as little as possible."""
    for name in list(dict.fromkeys([*base, *target])):
        if skip(name):
            continue
        old, new = base.get(name, MISSING), target.get(name, MISSING)
        if old == new and (new is MISSING or type(old) is type(new)):
            continue  # unchanged by this write: live edits in it stay as they are
        current = ymap.get(name) if name in ymap else MISSING
        if new is MISSING:
            if current is not MISSING:
                del ymap[name]
        elif isinstance(new, str) and isinstance(current, Text):
            edit_text(current, old if isinstance(old, str) else str(current), new)
        elif isinstance(new, dict) and isinstance(current, Map):
            merge_into(current, old if isinstance(old, dict) else {}, new)
        elif isinstance(new, list) and isinstance(current, Array):
            edit_array(current, new)
        else:
            ymap[name] = to_y(new)


def apply_write(doc: Doc, base: dict, target: dict, skip: Skip) -> bytes | None:
    """Apply a write (stored ``content`` went ``base`` -> ``target``) to ``doc``; the Yjs update
    it made, or None when the Y.Doc already says the same."""
    captured: list[bytes] = []
    subscription = doc.observe(lambda event: captured.append(event.update))
    try:
        ymap = doc.get(CONTENT_MAP, type=Map)
        with doc.transaction(origin="server"):
            merge_into(ymap, fields(base, skip), fields(target, skip), skip)
    finally:
        doc.unobserve(subscription)
    return captured[0] if captured else None
