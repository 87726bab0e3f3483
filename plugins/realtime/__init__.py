"""Built-in plugin: realtime collaboration over Socket.IO (presence, cursors, versioned edits, Yjs)."""

from __future__ import annotations

from core.hookspecs import hookimpl


@hookimpl
def aladdin_socketio(socketio, app):
    from .rooms.handlers import register
    from .service import Realtime

    rt = Realtime(app, socketio)
    app.extensions["realtime"] = rt
    register(socketio, app, rt)


@hookimpl
def aladdin_event(app, event):
    from .service import on_event

    try:
        on_event(app, event)
    except Exception:  # realtime fan-out must never fail the write that caused the event
        import logging

        logging.getLogger("aladdin.realtime").exception("realtime could not relay %s", event.name)
