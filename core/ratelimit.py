"""Rate limits on the app's Redis through Flask-Limiter, declared by any plugin on its routes."""

from __future__ import annotations

import functools
import math
import time
from typing import Callable

from flask import current_app, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse
from werkzeug.exceptions import HTTPException

from .compat import flask_limiter as limiter_internals
from .errors import AladdinError


def create_limiter(app, storage_uri: str) -> Limiter:
    limiter = Limiter(key_func=get_remote_address, storage_uri=storage_uri, default_limits=[],
                      strategy="moving-window", headers_enabled=True)
    if limiter_internals.missing():  # a Flask-Limiter without the internals we gate: its own hooks
        limiter.init_app(app)
        return limiter
    limiter_internals.init_app_without_hooks(app, limiter)
    before, after, teardown = _gated_hooks(limiter)
    app.before_request(before)
    app.after_request(after)
    app.teardown_request(teardown)
    return limiter


def _gated_hooks(limiter: Limiter) -> tuple[Callable, Callable, Callable]:
    """Flask-Limiter's request hooks, run only when they have something to do.

    Its before_request hook walks every limit source on every request (~80 us) although the
    app declares no default or application limits; routes limit themselves (``rate_limit``
    below, or Flask-Limiter's own decorators, which check inline). The middleware check is
    needed only once someone adds default, application, blueprint or meta limits (checked on
    each request, so limits added after start-up still apply), and the after/teardown hooks
    only on a request the limiter actually looked at (it keeps per-request state on the
    request context)."""

    def before_request():
        if limiter_internals.has_middleware_limits(limiter):
            limiter_internals.check_request(limiter)

    def after_request(response):
        if limiter_internals.touched():
            return limiter_internals.inject_headers(limiter, response)
        return response

    def teardown_request(exc=None):
        if limiter_internals.touched():
            limiter_internals.release_context(limiter, exc)

    return before_request, after_request, teardown_request


class RateLimited(AladdinError):
    status = 429


def rate_limit(limit: str | Callable[[], str], scope: str, key: Callable[[], str] | None = None, *,
               count_refused: bool = False):
    """Limit a view to ``limit`` (e.g. ``"20/hour"``, or a callable reading settings) per ``key()``.

    Over the limit: 429 with ``Retry-After``. Counters live in the limiter's storage (the
    app's Redis), so every web process shares them. A request the view refuses with a client
    error (400, 404, 409, 422 ...) is not counted: only requests that did something use the
    quota -- unless ``count_refused``, for views where the refusals are what is limited (a
    wrong password is a 401 and is exactly what a guesser sends). (The check comes before the
    view and the count after it, so concurrent requests can pass the limit by as many as are in
    flight at that moment.)"""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            limiter: Limiter = current_app.extensions["aladdin"].limiter
            item = parse(limit() if callable(limit) else limit)
            ident = key() if key else (str(g.user.id) if getattr(g, "user", None) else get_remote_address())
            if not limiter.limiter.test(item, scope, ident):
                reset, _remaining = limiter.limiter.get_window_stats(item, scope, ident)
                retry_after = max(1, math.ceil(reset - time.time()))
                raise RateLimited(f"rate limit exceeded: {item}; retry in {retry_after} s",
                                  retry_after=retry_after)
            try:
                result = view(*args, **kwargs)
            except (AladdinError, HTTPException) as exc:
                status = getattr(exc, "status", None) or getattr(exc, "code", None) or 500
                if count_refused or not 400 <= int(status) < 500:
                    limiter.limiter.hit(item, scope, ident)
                raise
            except Exception:
                limiter.limiter.hit(item, scope, ident)  # it may have done part of its work
                raise
            limiter.limiter.hit(item, scope, ident)
            return result

        return wrapper

    return decorator
