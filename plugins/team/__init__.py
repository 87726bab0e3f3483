"""Built-in plugin: team — invitations, members, ownership transfer, role cache, activity and audit logs."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import current_app, has_app_context

from core.hookspecs import hookimpl

from . import cache

log = logging.getLogger("aladdin.team")


@hookimpl
def aladdin_blueprints(app):
    from .routes import create_blueprints

    return create_blueprints()


@hookimpl
def aladdin_policy_files():
    return [Path(__file__).parent / "policies" / "team.polar"]


@hookimpl
def aladdin_cli_commands():
    from .cli import build

    return [build()]


@hookimpl
def aladdin_startup(app):
    # A mistyped ALADDIN_ROLE_CACHE fails at start-up, not on the first authorized request; and
    # invalidations a process died owing (the ledger) are paid by this one.
    cache.RoleCache.for_app(app).owe_recorded()


@hookimpl(wrapper=True)
def aladdin_resolve_role(app, user_id, project_id):
    """Answer from Redis when cached; otherwise let the resolvers run and cache their answer."""
    role_cache = cache.RoleCache.for_app(app)
    if not role_cache.enabled:
        return (yield)
    lookup = role_cache.lookup(user_id, project_id)
    token = cache.pending.set(lookup)
    try:
        role = yield
    except cache.CachedNoRole:
        role = None
    finally:
        cache.pending.reset(token)
    if lookup is not None:
        role_cache.keep(lookup, user_id, project_id, role)
    return role


@hookimpl(tryfirst=True, specname="aladdin_resolve_role")
def answer_cached_role(app, user_id, project_id):
    """Runs ahead of the membership lookup and ends the chain on a cache hit."""
    lookup = cache.pending.get()
    if lookup is None or not lookup.found:
        return None
    if lookup.role is None:
        raise cache.CachedNoRole()
    return lookup.role


@hookimpl
def aladdin_event(app, event):
    # The cache first: a stale role is a security problem, a missing log line is not.
    if event.name in cache.INVALIDATING_EVENTS and event.project_id:
        cache.RoleCache.for_app(app).invalidate(event.project_id)
    if has_app_context() and current_app._get_current_object() is app:
        _record(event)
    else:
        with app.app_context():
            _record(event)


def _record(event) -> None:
    from . import activity, audit

    for sink in (activity.record, audit.record, activity.touch_member):
        try:
            sink(event)
        except Exception:  # one failing sink must not undo the change that already happened
            log.exception("team plugin could not record %s for project %s", event.name, event.project_id)


@hookimpl(trylast=True)
def aladdin_send_invitation(app, invitation, accept_url):
    from .mail import deliver

    return deliver(app, invitation, accept_url)


@hookimpl(trylast=True)
def aladdin_send_mail(app, to, subject, body, kind):
    from .mail import send

    return send(app, to=to, subject=subject, body=body, kind=kind)
