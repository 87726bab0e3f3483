"""Reference discovery: which fields of a document name which other documents, and which keys copies drop.

The rules per content type come from its reference fields and the clone hooks, resolved once per plan.
A plugin whose ``aladdin_clone_references`` raises is left out (logged, counted, and named in the
clone's ``warnings``: its fields keep naming the source, like any reference the clone does not
know); one whose ``aladdin_clone_drop_fields`` raises stops the clone, named (a copy must not
carry what a plugin means to leave behind), and nothing is written."""

from __future__ import annotations

import logging
import re
from typing import Any, NamedTuple

from bson import ObjectId

from core.content import get_path
from core.errors import AladdinError
from core.plugins import call_each

log = logging.getLogger("aladdin.clone")

HEX24 = re.compile(r"[0-9a-f]{24}")
MEDIA_KEY_SUFFIXES = ("ImageId", "VideoId", "AudioId", "mediaId")
ALWAYS_DROPPED = ("brainValidated", "userApproved")
_DROPPED = frozenset(ALWAYS_DROPPED)
MEDIA_COLLECTION = "media"
RELATED = "relatedDocuments"


def is_media_key(key: str) -> bool:
    return key.endswith(MEDIA_KEY_SUFFIXES)


def is_id_key(key: str) -> bool:
    return key.endswith("Id") or key.endswith("Ids")


def id_str(value: Any) -> str | None:
    """The id a reference value names, if it looks like one (24 lowercase hex or an ObjectId)."""
    if isinstance(value, str):
        return value if len(value) == 24 and HEX24.fullmatch(value) else None
    if isinstance(value, ObjectId):
        return str(value)
    return None


# Key names repeat across thousands of documents, so each is classified once, as bit flags:
# _ID an id key, _MEDIA a media id key, _DROP always dropped from copies. List items are judged
# by their key without the plural "s" (_ITEM_* flags).
_ID, _MEDIA, _DROP, _ITEM_ID, _ITEM_MEDIA = 1, 2, 4, 8, 16
_KEY_FLAGS: dict[str, int] = {}
_KIND_CACHE_LIMIT = 100_000  # content keys are user data: bound the memo


def _key_flags(key: str) -> int:
    flags = 0
    if is_id_key(key):
        flags |= _ID | _ITEM_ID
        if is_media_key(key):
            flags |= _MEDIA
        if is_media_key(key.removesuffix("s")):
            flags |= _ITEM_MEDIA
    if key in _DROPPED:
        flags |= _DROP
    if len(_KEY_FLAGS) < _KIND_CACHE_LIMIT:
        _KEY_FLAGS[key] = flags
    return flags


class Ref(NamedTuple):
    """One reference found in a source document."""

    loc: tuple                # where the id sits: keys and list indexes from the document root
    id: str                   # the id it names
    collection: str | None    # known collection, or None when it must be resolved by lookup
    explicit: bool            # declared (relatedDocuments, reference fields, media keys): dangling is reported
    media: bool = False       # named like a media reference
    label: str | None = None  # the reported path when it is not ``loc`` dotted

    @property
    def path(self) -> str:
        """Dotted path for reports, e.g. ``content.rivalId`` or ``relatedDocuments.0``."""
        return self.label if self.label is not None else ".".join(map(str, self.loc))


class _ScanRules(NamedTuple):
    """Per-collection reference rules, resolved once per plan."""

    declared: tuple[tuple[tuple[str, ...], str, str | None], ...]  # (parts, dotted, collection)
    declared_locs: frozenset                                         # parts of declared paths
    drops: tuple[tuple[str, ...], ...]                               # hook drop paths, split


class ReferenceFinder:
    """The references of source documents, by their content type's rules (reads nothing)."""

    def __init__(self, ext):
        self.ext = ext
        self._rules: dict[str, _ScanRules] = {}
        # (collection, loc) of the ALWAYS_DROPPED keys met inside content, per document
        self.content_drops: dict[tuple[str, str], list[tuple]] = {}
        self._inbound: dict[str, list[tuple[str, str]]] | None = None
        #: What the clone's answer says about plugins whose reference hook failed.
        self.warnings: list[str] = []

    # --- per-type configuration, asked once per type --------------------------------------

    def reference_paths(self, collection: str) -> list[tuple[str, str | None]]:
        return [(dotted, coll) for _, dotted, coll in self.rules_for(collection).declared]

    def drop_paths(self, collection: str) -> list[str]:
        return [".".join(parts) for parts in self.rules_for(collection).drops]

    def rules_for(self, collection: str) -> _ScanRules:
        rules = self._rules.get(collection)
        if rules is None:
            ctype = self.ext.content_types[collection]
            # A belongs_to field names its owner: rewritten to the owner's copy like any reference.
            declared_items = [*ctype.reference_fields, *ctype.belongs_to]
            for _, extra in self._ask("aladdin_clone_references", ctype):
                declared_items.extend(extra or ())
            declared = {}  # a path declared twice (a reference and belongs_to) is one reference
            for item in declared_items:
                path, coll = (item, None) if isinstance(item, str) else (item[0], item[1])
                declared.setdefault((path, coll), (tuple(path.split(".")), path, coll))
            declared = list(declared.values())
            drops: list[tuple[str, ...]] = []
            for _, extra in self._ask("aladdin_clone_drop_fields", ctype):
                drops.extend(tuple(p.split(".")) for p in (extra or ()))
            rules = self._rules[collection] = _ScanRules(
                tuple(declared), frozenset(parts for parts, _, _ in declared), tuple(drops))
        return rules

    def _ask(self, hook: str, ctype) -> list[tuple[str, Any]]:
        """Every plugin's answer to ``hook`` for ``ctype``, one plugin at a time (see the module's
        docstring for what a raising one costs)."""
        failed: list[str] = []

        def contained(plugin: str, exc: BaseException) -> None:
            log.error("plugin %r failed in %s for %s", plugin, hook, ctype.name, exc_info=exc)
            failed.append(plugin)

        answers = call_each(self.ext.pm, hook, self.ext.plugin_failures, on_error=contained, content_type=ctype)
        if failed and hook == "aladdin_clone_drop_fields":
            raise AladdinError(f"plugin {failed[0]!r} failed in {hook} for {ctype.name}, so the fields it leaves "
                               f"out of copies are unknown; nothing was cloned (the log has its error)", status=500)
        self.warnings += [f"plugin {plugin!r} failed in {hook} for {ctype.name} (the log has its error): the "
                          f"reference fields it declares were not followed" for plugin in failed]
        return answers

    def inbound(self) -> dict[str, list[tuple[str, str]]]:
        """Owner collection -> ``(member collection, field)`` of every ``belongs_to`` declaration:
        deep clones bring a copied owner's members (a scene's shots)."""
        if self._inbound is None:
            self._inbound = {}
            for ctype in self.ext.content_types.values():
                for field, owner in ctype.belongs_to:
                    self._inbound.setdefault(owner, []).append((ctype.name, field))
        return self._inbound

    # --- reference discovery ----------------------------------------------------------------

    def references(self, collection: str, doc: dict) -> list[Ref]:
        """Every reference ``doc`` holds, in the four ways the issue names, in one pass."""
        refs: list[Ref] = []
        related = doc.get(RELATED)
        if related:
            for i, item in enumerate(related):
                if isinstance(item, dict):
                    ident = id_str(item.get("documentId"))
                    if ident:
                        refs.append(Ref((RELATED, i, "documentId"), ident, item.get("collection"), True,
                                        False, f"{RELATED}.{i}"))
        rules = self.rules_for(collection)
        for parts, dotted, coll in rules.declared:
            value = get_path(doc, dotted)
            media = coll == MEDIA_COLLECTION
            if isinstance(value, list):
                for i, item in enumerate(value):
                    ident = id_str(item)
                    if ident:
                        refs.append(Ref((*parts, i), ident, coll, True, media, dotted))
            else:
                ident = id_str(value)
                if ident:
                    refs.append(Ref(parts, ident, coll, True, media, dotted))
        content = doc.get("content")
        if isinstance(content, (dict, list)):
            drops: list[tuple] = []
            _scan(content, ["content"], None, refs, rules.declared_locs or None, drops)
            if drops:
                self.content_drops[(collection, str(doc["_id"]))] = drops
        return refs


# --- reference scanning inside content ---------------------------------------------------------


def _scan(node: Any, stack: list, key: str | None, refs: list[Ref], declared: frozenset | None,
          drops: list[tuple]) -> None:
    """Collect ``...Id(s)``-named references inside content (nested objects and lists included),
    and where always-dropped keys sit.

    ``stack`` is the location of ``node`` (keys and list indexes); locations are only built as
    tuples where something is found, so plain text and numbers cost a type check and a lookup."""
    if isinstance(node, dict):
        for k, v in node.items():
            flags = _KEY_FLAGS.get(k)
            if flags is None:
                flags = _key_flags(k)
            if isinstance(v, (dict, list)):
                stack.append(k)
                _scan(v, stack, k, refs, declared, drops)
                stack.pop()
            elif flags & _ID and v is not None:
                ident = id_str(v)
                if ident:
                    loc = (*stack, k)
                    if declared is None or loc not in declared:
                        media = bool(flags & _MEDIA)
                        refs.append(Ref(loc, ident, MEDIA_COLLECTION if media else None, media, media))
            if flags & _DROP:
                drops.append((*stack, k))
    elif isinstance(node, list):
        flags = 0
        if key is not None:
            flags = _KEY_FLAGS.get(key)
            if flags is None:
                flags = _key_flags(key)
            if flags & _ITEM_ID and declared is not None and tuple(stack) in declared:
                flags = 0  # a declared reference field: already collected with its declared collection
        if flags & _ITEM_ID:
            media = bool(flags & _ITEM_MEDIA)
            coll = MEDIA_COLLECTION if media else None
            for i, v in enumerate(node):
                if isinstance(v, (dict, list)):
                    stack.append(i)
                    _scan(v, stack, key, refs, declared, drops)
                    stack.pop()
                else:
                    ident = id_str(v)
                    if ident:
                        refs.append(Ref((*stack, i), ident, coll, media, media))
        else:
            for i, v in enumerate(node):
                if isinstance(v, (dict, list)):
                    stack.append(i)
                    _scan(v, stack, key, refs, declared, drops)
                    stack.pop()
