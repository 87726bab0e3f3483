"""Built-in plugin: bearer API tokens (``Authorization: Bearer ald_...``), checked last.

A token's owner is read from the platform database once per process and then served from the
near cache (:mod:`core.nearcache`). Every MongoEngine save or delete of a token or user -- a
revocation through :meth:`~core.models.ApiToken.revoke` or ``cli.py users revoke-tokens``, a
deleted user -- drops that user's cached tokens in every process of the installation, so it
holds on the very next request. It then emits the event ``user.credentials_changed``
(``resource_id``: the user's id; ``reason``: ``token_revoked``, ``token_changed``,
``user_deleted`` or ``user_changed``) so that long-lived connections authenticated earlier (the
realtime plugin's sockets) re-check their token at once instead of at their next request."""

from __future__ import annotations

from flask import current_app, has_app_context
from mongoengine import signals

from .compat.mongoengine import from_son
from .errors import AuthenticationFailed
from .events import emit
from .hookspecs import hookimpl
from .models import ApiToken, User, hash_token, hot_collection, utcnow
from .nearcache import MISS


def _scope(user_id) -> str:
    return f"auth:user:{user_id}"


def user_for_token(token: str):
    """The user owning ``token``, or None; Socket.IO connections reuse this."""
    if not token:
        return None
    token_hash = hash_token(token)
    near = current_app.extensions["aladdin"].near_cache
    key = ("auth", token_hash)
    entry = near.get(key)
    if entry is MISS or (entry[1] is not None and entry[1] <= utcnow()):
        epoch = near.epoch()
        found = _read_owner(token_hash)
        if found is None:
            return None  # unknown tokens are not cached: a token issued a moment later works at once
        son, expires = found
        if expires is not None and expires <= utcnow():
            return None  # a sign-in access token past its time (core/sessions.py): refresh it
        entry = (from_son(User, son), expires)
        ttl = None if expires is None else max((expires - utcnow()).total_seconds(), 0)
        near.put(key, entry, scope=_scope(entry[0].id), epoch=epoch, ttl=ttl)
    user = entry[0]
    # The same User object serves every request with this token in this process: ``g.user``
    # is a read-only snapshot of the caller (to change a user, load it with ``User.objects``;
    # its save then drops this snapshot everywhere).
    return user


def _read_owner(token_hash: str) -> tuple[dict, object] | None:
    """The owner's stored user and the token's ``expiresAt`` (None: an API token, no end)."""
    # Two indexed lookups straight through pymongo, not a MongoEngine queryset plus a lazy
    # dereference. No projection on the token: the embedded store copies a projected
    # document field by field, which costs more than returning the small record.
    record = hot_collection(ApiToken).find_one({"tokenHash": token_hash, "revoked": False})
    if record is None:
        return None
    son = hot_collection(User).find_one({"_id": record["user"]})
    return None if son is None else (son, record.get("expiresAt"))


def _forget_owner(sender, document, signal_name: str = "post_save", **kwargs) -> None:
    """A token or user changed (revoked, deleted, edited): drop the owner's cached tokens everywhere,
    then announce it, so that what re-checks the user's token reads it afresh in every process."""
    if kwargs.get("created") or not has_app_context():
        return  # a new token or user replaces nothing cached (unknown tokens are never cached)
    ext = current_app.extensions.get("aladdin")
    if ext is None:
        return
    user = document if isinstance(document, User) else document.user  # a User, or a DBRef once deleted
    user_id = getattr(user, "id", user)
    if ext.near_cache is not None:
        ext.near_cache.invalidate(_scope(user_id))
    if isinstance(document, User):
        reason = "user_deleted" if signal_name == "post_delete" else "user_changed"
    else:
        reason = "token_revoked" if document.revoked or signal_name == "post_delete" else "token_changed"
    emit(current_app._get_current_object(), "user.credentials_changed", resource_type="user",
         resource_id=str(user_id), reason=reason)


def _forget_on_save(sender, document, **kwargs) -> None:
    _forget_owner(sender, document, "post_save", **kwargs)


def _forget_on_delete(sender, document, **kwargs) -> None:
    _forget_owner(sender, document, "post_delete", **kwargs)


for _signal, _handler in ((signals.post_save, _forget_on_save), (signals.post_delete, _forget_on_delete)):
    for _model in (ApiToken, User):
        _signal.connect(_handler, sender=_model, weak=False)


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
