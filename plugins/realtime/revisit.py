"""After the bus was away: what its lost messages would have done, done now.

redis-py re-subscribes by itself after a lost connection, and a longer outage lands in the
listener's reconnect loop; either way the messages published meanwhile never arrive. Relayed
edits are caught up from storage (the stored updates are the truth). Access changes are
re-decided from the database for every socket of this process: a member removed while the bus
was away (``Kick``), a revoked token (``CredentialsChanged``) or a changed role
(``RolesChanged``) takes effect when the bus returns, instead of never."""

from __future__ import annotations

import logging

from .credentials import recheck_user

log = logging.getLogger("aladdin.realtime")


def after_bus_gap(rt) -> None:
    rt.listeners.heard()  # others may have come meanwhile
    with rt.app.app_context():
        for state in [s for s in list(rt.hub.docs.values()) if not s.closed]:
            state.peers_known = False  # states other processes sent meanwhile were lost
            _guarded("catch up a document", rt.hub.catch_up, state)
        rt.forget_answers()
        for user_id in {s.user_id for s in list(rt.sessions.values())}:
            _guarded("re-check credentials", recheck_user, rt, user_id)
        projects = set()
        for session in list(rt.sessions.values()):
            for project_id in list(session.projects):
                projects.add(project_id)
                try:
                    role = rt.ext.role_of(session.user_id, project_id)
                except Exception:  # the store is away too: the next access check decides
                    log.exception("realtime could not re-check a membership after the bus returned")
                    continue
                if role is None:
                    rt.kick(project_id, session.user_id)  # removed while the bus was away
        for project_id in projects:
            _guarded("re-check roles", rt.roles_changed, project_id)


def _guarded(what: str, fn, *args):
    try:
        return fn(*args)
    except Exception:
        log.exception("realtime could not %s after the bus returned", what)
        return None
