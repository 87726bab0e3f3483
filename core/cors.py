"""Which other origins may use the API and open sockets: one setting, ``ALADDIN_CORS_ORIGINS``.

Why one policy for both: a browser page on another origin needs the REST API (fetch, with its
preflight) and Socket.IO alike; two lists would drift apart, and Socket.IO used to accept every
origin while REST accepted none. The default allows no other origin (same-origin pages and
non-browser clients, which send no ``Origin``, are unaffected). ``serve --demo`` allows the
loopback origins so a page served by a local dev server works at once.

The header mechanics are Flask-CORS's (REST) and python-engineio's (sockets); this module only
decides which origins. Tokens travel in ``Authorization`` headers, never cookies, so no
credentials mode is enabled."""

from __future__ import annotations

import re

ANY, LOOPBACK = "*", "loopback"
LOOPBACK_RE = re.compile(r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?\Z")
_ORIGIN_RE = re.compile(r"https?://[a-z0-9.\-]+(:\d{1,5})?\Z|https?://\[[0-9a-f:]+\](:\d{1,5})?\Z")
# What a page's script may send and read beyond the CORS-safelisted headers.
ALLOW_HEADERS = ["Authorization", "Content-Type", "If-Match", "Idempotency-Key"]
EXPOSE_HEADERS = ["ETag", "Location", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining",
                  "X-RateLimit-Reset"]
PREFLIGHT_MAX_AGE = 600  # seconds a browser may reuse a preflight answer


def parse_origins(raw: str | None) -> tuple[str, ...]:
    """``ALADDIN_CORS_ORIGINS``: comma-separated origins (``https://studio.example:8443``),
    ``loopback`` or ``*``. An origin has a scheme and host and no path: a clear error otherwise
    (a trailing slash or path never matches what browsers send, so it would fail silently)."""
    origins = []
    for part in (raw or "").split(","):
        origin = part.strip().lower()
        if not origin:
            continue
        if origin not in (ANY, LOOPBACK) and not _ORIGIN_RE.match(origin):
            raise ValueError(f"ALADDIN_CORS_ORIGINS: {part.strip()!r} is not an origin: write "
                             f"scheme://host[:port] with no path (https://studio.example), "
                             f"'loopback' or '*'")
        origins.append(origin)
    return tuple(dict.fromkeys(origins))


class CorsPolicy:
    """The decision, from the parsed setting."""

    def __init__(self, origins: tuple[str, ...]):
        self.origins = origins
        self.any = ANY in origins
        self.loopback = LOOPBACK in origins
        self.exact = frozenset(o for o in origins if o not in (ANY, LOOPBACK))

    def allows(self, origin: str | None) -> bool:
        """May a page on ``origin`` call the API and open sockets?"""
        if not origin:
            return False
        origin = origin.lower()
        return self.any or origin in self.exact or bool(self.loopback and LOOPBACK_RE.match(origin))

    def flask_cors_origins(self) -> list:
        """The same decision as Flask-CORS patterns (literal origins and compiled regexes)."""
        if self.any:
            return ["*"]
        return sorted(self.exact) + ([LOOPBACK_RE] if self.loopback else [])

    def socket_allows(self, origin: str | None, environ: dict) -> bool:
        """python-engineio's ``cors_allowed_origins`` callable: no ``Origin`` (not a browser), the
        page's own origin (what engineio allows by default), or an allowed one."""
        if not origin:
            return True
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}".lower()
        return origin.lower() == own or self.allows(origin)
