"""Signed download URLs: the expiring tokens behind local downloads, what they grant, their
error, and the ``Content-Disposition`` value both backends give a download name."""

from __future__ import annotations

import mimetypes
import time
from dataclasses import dataclass
from urllib.parse import quote

from itsdangerous import BadData, URLSafeTimedSerializer

from .base import StorageError

SIGNED_URL_SALT = "aladdin-media"
SIGNED_URL_PATH = "/api/v1/files/"


class SignedUrlError(StorageError):
    """A local signed-URL token was tampered with (``expired=False``) or is past its expiry."""

    def __init__(self, message: str, *, expired: bool) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class SignedToken:
    """What a verified local token grants: one key, an optional download name, an expiry."""

    key: str
    filename: str | None
    expires_at: int
    content_type: str | None = None


def content_disposition(filename: str) -> str:
    """An ``attachment`` header value that survives quotes and non-ASCII names (RFC 6266)."""
    fallback = filename.encode("ascii", "replace").decode("ascii").replace("?", "_")
    fallback = fallback.replace("\\", "_").replace('"', "_").replace("\r", "").replace("\n", "")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


NEUTRAL_TYPE = "application/octet-stream"
# Types a browser may render as a document or run: served as neutral bytes, never as themselves.
_ACTIVE_MARKERS = ("html", "xml", "svg", "javascript", "ecmascript", "json", "x-shockwave-flash", "pdf")


def served_type(content_type: str | None, filename: str | None = None) -> str:
    """The ``Content-Type`` a download is served with: the stored (sniffed) type, else a guess
    from the name, and :data:`NEUTRAL_TYPE` for anything a browser could treat as active content
    (HTML, SVG, XML, JS, any ``text/*``) or that is not a plain ``type/subtype``."""
    value = (content_type or "").split(";")[0].strip().lower()
    if not value and filename:
        value = (mimetypes.guess_type(filename)[0] or "").lower()
    major, _, minor = value.partition("/")
    if not major or not minor or not all(c.isalnum() or c in "+-." for c in major + minor):
        return NEUTRAL_TYPE
    if major == "text" or any(marker in value for marker in _ACTIVE_MARKERS):
        return NEUTRAL_TYPE
    return value


class UrlSigner:
    """Mints and verifies local download tokens with the app's secret key."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=SIGNED_URL_SALT)

    def url(self, key: str, expires_in: int, filename: str | None, base_url: str,
            content_type: str | None = None) -> str:
        """The download URL granting ``key`` (and ``filename``) for ``expires_in`` seconds."""
        payload = {"k": key, "f": filename, "e": int(time.time()) + int(expires_in)}
        if content_type:
            payload["t"] = content_type
        token = self._serializer.dumps(payload)
        return f"{base_url.rstrip('/')}{SIGNED_URL_PATH}{token}"

    def read(self, token: str) -> SignedToken:
        """Verify ``token`` and return what it grants; ``SignedUrlError`` otherwise."""
        try:
            data = self._serializer.loads(token)
        except BadData as exc:
            raise SignedUrlError("invalid download token", expired=False) from exc
        if not isinstance(data, dict) or not isinstance(data.get("k"), str):
            raise SignedUrlError("invalid download token", expired=False)
        try:
            expires_at = int(data["e"])
        except (KeyError, TypeError, ValueError):
            raise SignedUrlError("invalid download token", expired=False) from None
        # Checked against our own embedded expiry rather than itsdangerous' max_age, so
        # each URL keeps the lifetime it was issued with.
        if time.time() >= expires_at:
            raise SignedUrlError("download link has expired", expired=True)
        filename, content_type = data.get("f"), data.get("t")
        return SignedToken(
            key=data["k"], filename=filename if isinstance(filename, str) else None, expires_at=expires_at,
            content_type=content_type if isinstance(content_type, str) else None,
        )
