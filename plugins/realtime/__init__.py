"""Built-in plugin: realtime collaboration over Socket.IO (presence, cursors, versioned edits, Yjs)."""

from __future__ import annotations

import logging

from core.hookspecs import hookimpl

log = logging.getLogger("aladdin.realtime")


@hookimpl
def aladdin_socketio(socketio, app):
    from .rooms.handlers import register
    from .service import Realtime

    # Each socket's events run in order on its own connection thread: a cursor flood cannot be
    # reordered, Yjs frames apply in the order sent, and no thread is spawned per event.
    socketio.server.async_handlers = False
    rt = Realtime(app, socketio)
    app.extensions["realtime"] = rt
    register(socketio, app, rt)
    from .ywebsocket.ahead import PlainWebSocketAhead

    app.wsgi_app = PlainWebSocketAhead(app, app.wsgi_app)  # a plain-WebSocket handshake skips Flask's request


@hookimpl
def aladdin_blueprints(app):
    """Yjs over a plain WebSocket for stock y-websocket clients (``ywebsocket``)."""
    from .ywebsocket.endpoint import blueprint

    return [blueprint()]


@hookimpl
def aladdin_shutdown(app):
    """Unsaved typing is saved before the process lets go of the database."""
    rt = app.extensions.get("realtime")
    if rt is not None:
        rt.shutdown()


@hookimpl
def aladdin_after_content_write(app, project, collection, action, document, previous, user):
    from .announce import on_content_write

    try:
        on_content_write(app, project, collection, action, document, previous, user)
    except Exception:  # an unreachable room must never fail the write that already happened
        log.exception("realtime could not announce a %s of %s", action, collection)


@hookimpl(trylast=True)
def aladdin_event(app, event):
    """Last among the event sinks: a role cache's own sink (the team plugin's) has dropped the
    old answers before this tells every process to re-decide who may view what."""
    from .announce import on_event

    try:
        on_event(app, event)
    except Exception:  # realtime fan-out must never fail the write that caused the event
        log.exception("realtime could not relay %s", event.name)
