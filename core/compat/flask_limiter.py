"""Flask-Limiter's request hooks and limit lists, to run its hooks behind a gate (Flask-Limiter 4.1.1).

Why no public API serves: ``init_app`` always registers three request hooks (the middleware
limit check, header injection, context release) and offers no switch to skip them on requests
no limit concerns, nor public methods to call them; ``request_filter`` would exempt a route's
own decorated limits too. ``core.ratelimit`` registers the hooks itself, through these."""

from __future__ import annotations

from flask import Flask, Response
from flask_limiter import Limiter

try:
    from flask_limiter._compat import request_context
except ImportError:  # pragma: no cover - a Flask-Limiter without it: missing() says so
    request_context = None

# (owner, name) of every internal used below; missing() lists the ones that are gone.
INTERNALS = ((Limiter, "_Limiter__inject_headers"), (Limiter, "_Limiter__release_context"),
             (Limiter, "_check_request_limit"))


def missing() -> list[str]:
    """The internals this Flask-Limiter lacks (then use its own hooks: ``limiter.init_app``)."""
    gone = [f"{owner.__name__}.{name}" for owner, name in INTERNALS if not hasattr(owner, name)]
    return gone + ([] if request_context else ["flask_limiter._compat.request_context"])


def init_app_without_hooks(app: Flask, limiter: Limiter) -> None:
    """``limiter.init_app(app)`` minus its request hooks: it registers them only for a limiter
    not yet listed in ``app.extensions["limiter"]``, so it is listed first."""
    app.extensions.setdefault("limiter", set()).add(limiter)
    limiter.init_app(app)


def check_request(limiter: Limiter) -> None:
    """The middleware check (default, application, blueprint and meta limits); raises on a breach."""
    limiter._check_request_limit()


def inject_headers(limiter: Limiter, response: Response) -> Response:
    """Conditional deductions and the ``X-RateLimit-*`` headers of the limits the request met."""
    return Limiter._Limiter__inject_headers(limiter, response)


def release_context(limiter: Limiter, exc: BaseException | None = None) -> None:
    Limiter._Limiter__release_context(limiter, exc)


def touched() -> bool:
    """Has any limiter kept state on this request (checked a limit on it)?"""
    return hasattr(request_context(), "_limiter_request_context")


def has_middleware_limits(limiter: Limiter) -> bool:
    """Could the middleware check find anything to do? True when unsure (an attribute is gone)."""
    manager = getattr(limiter, "limit_manager", None)
    if manager is None:
        return True
    return bool(getattr(manager, "_default_limits", True) or getattr(manager, "_application_limits", True)
                or getattr(manager, "_blueprint_limits", True) or getattr(limiter, "_meta_limits", True)
                or getattr(limiter, "_in_memory_fallback_enabled", True))
