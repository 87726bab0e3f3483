"""Writing user-given dotted paths (PATCH keys, clone overrides) into a document.

``content.cast.0.line`` walks objects by key and lists by index. A write never changes a
container's type: an index out of range, a path through a scalar, or a value that would turn a
list into an object or an object into a list is a :class:`PathError` (422) naming the path."""

from __future__ import annotations

from typing import Any

from .errors import AladdinError


class PathError(AladdinError):
    """A dotted path that cannot be written without destroying data."""

    status = 422


def get_path(doc: dict, dotted: str, default: Any = None) -> Any:
    """The value at ``dotted`` (dict keys only), or ``default`` where the path does not lead."""
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _index(node: list, part: str, dotted: str) -> int:
    if not part.isdigit():
        raise PathError(f"{dotted!r}: {part!r} is not an index into a list", path=dotted)
    i = int(part)
    if i >= len(node):
        raise PathError(f"{dotted!r}: index {i} is out of range (the list has {len(node)} items)",
                        path=dotted)
    return i


def _parent(doc: dict, parts: list[str], dotted: str, create: bool) -> Any:
    """The container holding the last part; missing objects on the way are created when
    ``create`` (``None`` answered otherwise)."""
    node: Any = doc
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            nxt = node[_index(node, part, dotted)]
        else:
            nxt = node.get(part)
        if nxt is None:
            if not create:
                return None
            if isinstance(node, list):
                raise PathError(f"{dotted!r}: item {part} is empty, not an object", path=dotted)
            nxt = node[part] = {}
        elif not isinstance(nxt, (dict, list)):
            where = ".".join(parts[:depth + 1])
            raise PathError(f"{dotted!r}: {where!r} holds a {type(nxt).__name__}, not an object or a list",
                            path=dotted)
        node = nxt
    return node


def _same_container(old: Any, new: Any) -> bool:
    """A list never becomes an object nor an object a list (the shape of the data-loss bug:
    ``cast`` turned into ``{"0": ...}``); replacing a value by a plain value is a field's update."""
    if isinstance(old, dict):
        return not isinstance(new, list)
    if isinstance(old, list):
        return not isinstance(new, dict)
    return True


def write_path(doc: dict, dotted: str, value: Any) -> None:
    """Set ``dotted`` to ``value`` (the user-facing rules above)."""
    parts = dotted.split(".")
    node = _parent(doc, parts, dotted, create=True)
    last = parts[-1]
    if isinstance(node, list):
        i = _index(node, last, dotted)
        old = node[i]
    else:
        old = node.get(last)
    if not _same_container(old, value):
        kind = "an object" if isinstance(old, dict) else "a list"
        raise PathError(f"{dotted!r} holds {kind}; it cannot be replaced by a {type(value).__name__}",
                        path=dotted)
    if isinstance(node, list):
        node[i] = value
    else:
        node[last] = value


def remove_path(doc: dict, dotted: str) -> None:
    """Remove ``dotted``: a key is deleted (a missing one is no change); a list item is set to
    ``None`` rather than removed, so the indexes of the items after it stay (MongoDB's ``$unset``)."""
    parts = dotted.split(".")
    node = _parent(doc, parts, dotted, create=False)
    if node is None:
        return
    if isinstance(node, list):
        node[_index(node, parts[-1], dotted)] = None
    else:
        node.pop(parts[-1], None)


def apply_dotted(doc: dict, dotted: str, value: Any) -> None:
    """One PATCH/override entry: ``None`` removes a ``content.`` path, anything else is written."""
    if value is None and dotted.startswith("content."):
        remove_path(doc, dotted)
    else:
        write_path(doc, dotted, value)
