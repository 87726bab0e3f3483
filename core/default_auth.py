"""Built-in plugin: bearer API tokens (``Authorization: Bearer ald_...``), checked last."""

from __future__ import annotations

from .errors import AuthenticationFailed
from .hookspecs import hookimpl
from .models import ApiToken, User, hash_token, hot_collection


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
