"""Built-in plugin: bearer API tokens (``Authorization: Bearer ald_...``), checked last."""

from __future__ import annotations

from .errors import AuthenticationFailed
from .hookspecs import hookimpl
from .models import ApiToken, hash_token


def user_for_token(token: str):
    """The user owning ``token``, or None; Socket.IO connections reuse this."""
    if not token:
        return None
    record = ApiToken.objects(tokenHash=hash_token(token), revoked=False).first()
    if record is None:
        return None
    return record.user


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
