"""Rate limits on the app's Redis through Flask-Limiter, declared by any plugin on its routes."""

from __future__ import annotations

import functools
import math
import time
from typing import Callable

from flask import current_app, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse

from .errors import AladdinError


def create_limiter(app, storage_uri: str) -> Limiter:
    limiter = Limiter(key_func=get_remote_address, storage_uri=storage_uri, default_limits=[],
                      strategy="moving-window", headers_enabled=True)
    limiter.init_app(app)
    return limiter


class RateLimited(AladdinError):
    status = 429


def rate_limit(limit: str | Callable[[], str], scope: str, key: Callable[[], str] | None = None):
    """Limit a view to ``limit`` (e.g. ``"20/hour"``, or a callable reading settings) per ``key()``.

    Over the limit: 429 with ``Retry-After``. Counters live in the limiter's storage (the
    app's Redis), so every web process shares them."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            limiter: Limiter = current_app.extensions["aladdin"].limiter
            item = parse(limit() if callable(limit) else limit)
            ident = key() if key else (str(g.user.id) if getattr(g, "user", None) else get_remote_address())
            if not limiter.limiter.hit(item, scope, ident):
                reset, _remaining = limiter.limiter.get_window_stats(item, scope, ident)
                retry_after = max(1, math.ceil(reset - time.time()))
                raise RateLimited(f"rate limit exceeded: {item}; retry in {retry_after} s",
                                  retry_after=retry_after)
            return view(*args, **kwargs)

        return wrapper

    return decorator
