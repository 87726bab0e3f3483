"""Built-in plugin: bearer API tokens (``Authorization: Bearer ald_...``), checked last."""

from __future__ import annotations

import threading

from flask import current_app
from mongoengine.connection import get_db

from .errors import AuthenticationFailed
from .hookspecs import hookimpl
from .models import ApiToken, User, hash_token

_handles = threading.local()
_MAX_HANDLES = 32  # per thread: a few platform collections of the few apps of one process


def hot_collection(model):
    """``model._get_collection()`` for per-request lookups, minus rebuilding the handle each time.

    Building a collection handle costs as much as a quarter of an indexed lookup on the embedded
    store. Handles are kept per thread (litemongo's are bound to the thread that opened them) and
    per database alias, and dropped as soon as the alias's database object changes (disconnect,
    reconnect after a fork), so a stale connection is never reused."""
    alias = current_app.extensions["aladdin"].db.platform_alias
    name = model._get_collection_name()
    db = get_db(alias)
    cache = getattr(_handles, "cache", None)
    if cache is None:
        cache = _handles.cache = {}
    hit = cache.get((alias, name))
    if hit is not None and hit[0] is db:
        return hit[1]
    collection = model._get_collection()  # also makes sure the model's indexes exist
    if len(cache) >= _MAX_HANDLES:  # apps come and go (tests): don't keep their databases alive
        cache.clear()
    cache[(alias, name)] = (db, collection)
    return collection


def user_for_token(token: str):
    """The user owning ``token``, or None; Socket.IO connections reuse this."""
    if not token:
        return None
    # Every request runs this: two indexed lookups straight through pymongo, not a MongoEngine
    # queryset plus a lazy dereference. No projection on the token: the embedded store copies a
    # projected document field by field, which costs more than returning the small record.
    record = hot_collection(ApiToken).find_one({"tokenHash": hash_token(token), "revoked": False})
    if record is None:
        return None
    # The user is read on every request too (never cached), so a deleted user's tokens stop working at once.
    doc = hot_collection(User).find_one({"_id": record["user"]})
    return User._from_son(doc) if doc else None


@hookimpl(trylast=True)
def aladdin_authenticate(app, request):
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("Authorization header must be 'Bearer <token>'")
    user = user_for_token(token.strip())
    if user is None:
        raise AuthenticationFailed("invalid or revoked API token")
    return user
