"""A plain-WebSocket handshake goes to its endpoint ahead of Flask's request context.

Why: for every request Flask builds a request context -- the URL matched, a session opened, the
before-request hooks run (authentication of ``/api/``, body checks, rate limits) -- and none of
it applies to a handshake to ``/collab/yjs/...``, which authenticates its own token. It was about
a tenth of connect to synced (``bench.yjs``), all of it before the client could be synced. So
such a handshake is taken from the WSGI environ straight to :func:`.endpoint.open_and_serve`, in
an app context (behind the same ProxyFix as every request, when proxies are trusted).

Whatever the endpoint refuses before the upgrade goes on to Flask unchanged, whose route runs
the same checks again and answers the refusal as every request is answered (the same error body
and headers): refusals are rare, and one way of answering them is kept."""

from __future__ import annotations

from werkzeug.middleware.proxy_fix import ProxyFix

from core.errors import AladdinError

from .endpoint import open_and_serve

PREFIX = "/collab/yjs/"


class PlainWebSocketAhead:
    """WSGI middleware around ``app.wsgi_app`` (outermost)."""

    def __init__(self, app, wsgi_app):
        self.app, self.wsgi_app = app, wsgi_app
        n = app.extensions["aladdin"].settings.trusted_proxies
        self.fix = ProxyFix(lambda environ, _start: environ, x_for=n, x_proto=n, x_host=n, x_port=n) if n else None

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        parts = path[len(PREFIX):].split("/") if path.startswith(PREFIX) else []
        if len(parts) != 3 or not all(parts) or environ.get("HTTP_UPGRADE", "").lower() != "websocket":
            return self.wsgi_app(environ, start_response)
        ours = self.fix(dict(environ), None) if self.fix else environ
        try:
            with self.app.app_context():
                finished = open_and_serve(self.app, ours, *parts)
        except AladdinError:  # refused before the upgrade: Flask answers it
            return self.wsgi_app(environ, start_response)
        return finished(environ, start_response)
