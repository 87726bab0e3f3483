"""Media uploads: declared-type checks against the file's own signature, storage keys, download URLs."""

from __future__ import annotations

import mimetypes
import re

from bson import ObjectId

from .errors import AladdinError

# Declared type -> the signatures a real file of that type starts with.
ALLOWED_TYPES = {
    "image/png": "image", "image/jpeg": "image", "image/gif": "image", "image/webp": "image",
    "video/mp4": "video", "video/webm": "video", "video/quicktime": "video", "video/x-matroska": "video",
    "audio/mpeg": "audio", "audio/wav": "audio", "audio/x-wav": "audio", "audio/ogg": "audio",
    "audio/mp4": "audio", "audio/webm": "audio", "audio/aac": "audio",
}


def sniff(head: bytes) -> set[str]:
    """The MIME types ``head`` (the first bytes of a file) is consistent with."""
    found: set[str] = set()
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        found.add("image/png")
    if head.startswith(b"\xff\xd8\xff"):
        found.add("image/jpeg")
    if head.startswith((b"GIF87a", b"GIF89a")):
        found.add("image/gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        found.add("image/webp")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        found.update({"audio/wav", "audio/x-wav"})
    if head[4:8] == b"ftyp":
        found.update({"video/mp4", "video/quicktime", "audio/mp4"})
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        found.update({"video/webm", "audio/webm", "video/x-matroska"})
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        found.add("audio/mpeg")
    if head[:2] in (b"\xff\xf1", b"\xff\xf9"):
        found.add("audio/aac")
    if head.startswith(b"OggS"):
        found.add("audio/ogg")
    return found


# When a signature fits several types and nothing else decides, the first listed is stored.
_PREFERRED = ("video/mp4", "video/webm", "audio/wav")


def check_type(declared: str | None, filename: str, head: bytes) -> str:
    """The type an upload is stored (and later served) as: always one its bytes were sniffed
    as, never merely what the name suggests. A declared type must agree with the bytes (415
    otherwise); with none (or ``application/octet-stream``) the name's type is taken if the
    bytes agree, else the sniffed type. Types outside ``ALLOWED_TYPES`` are 415."""
    sniffed = sniff(head)
    declared = (declared or "").split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        if declared not in ALLOWED_TYPES:
            raise AladdinError(f"unsupported media type {declared!r}; allowed: {', '.join(sorted(ALLOWED_TYPES))}",
                               status=415)
        if declared not in sniffed:
            raise AladdinError(f"the file's content does not match its declared type {declared!r}", status=415)
        return declared
    guessed = (mimetypes.guess_type(filename)[0] or "").lower()
    if guessed in sniffed:
        return guessed
    if not sniffed:
        raise AladdinError(
            f"unsupported media type {guessed or 'unknown'!r}; allowed: {', '.join(sorted(ALLOWED_TYPES))}",
            status=415)
    for preferred in _PREFERRED:
        if preferred in sniffed:
            return preferred
    return sorted(sniffed)[0]


def safe_filename(name: str) -> str:
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "file"
    return name[:120]


def media_key(project_slug: str, media_id: ObjectId | str, filename: str) -> str:
    return f"projects/{project_slug}/media/{media_id}/{safe_filename(filename)}"


def download_url(app, key: str, filename: str | None = None, content_type: str | None = None) -> str:
    """A signed download URL of ``key`` on the public base (``core.urls``), never the request's
    Host; ``content_type`` (the stored, sniffed type) travels with it to the download."""
    from .urls import public_base

    ext = app.extensions["aladdin"]
    return ext.storage.signed_url(key, expires_in=ext.settings.signed_url_ttl, filename=filename,
                                  base_url=public_base(app), content_type=content_type)
