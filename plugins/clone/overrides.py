"""Applying a clone request's dotted-path overrides to the new root document, then validating it."""

from __future__ import annotations

import copy

from core.content import PATCH_KEY_RE
from core.dotted import apply_dotted
from core.errors import AladdinError


def apply_overrides(ctype, doc: dict, overrides: dict) -> None:
    writable = ("content", "relatedDocuments", *[f for f in ctype.fields if f not in ctype.readonly_fields])
    for key, value in overrides.items():
        if not isinstance(key, str) or not PATCH_KEY_RE.match(key) or key.split(".")[0] not in writable:
            raise AladdinError(f"override {key!r} names a field that cannot be set", status=422)
        apply_dotted(doc, key, copy.deepcopy(value))  # list items by index; 422 naming a bad path
    body = {k: doc[k] for k in ("content", "relatedDocuments", *ctype.fields) if doc.get(k) is not None}
    errors = ctype.schema(partial=True).validate(body)
    if errors:
        raise AladdinError("the overrides make an invalid document", status=422, errors=errors)
