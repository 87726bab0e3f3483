"""One actor per request or socket event, so a user's role is looked up once however many checks ask.

``Authorizer.actor()`` hands out the actor kept here while a scope is open: Flask requests open
one in ``before_request`` and close it at teardown, realtime handlers open one per event. A
role change made by another request is seen by the next one (the scope never outlives its
request or event); outside any scope (CLI, workers) every call builds a fresh actor."""

from __future__ import annotations

import contextlib
from typing import Iterator

from flask import g, has_app_context

KEY = "aladdin_actors"


def actors() -> dict | None:
    """The open scope's actors by user id, or None when no scope is open."""
    return g.get(KEY) if has_app_context() else None


def open_scope() -> None:
    """Start a fresh scope (a request's ``before_request``). The app context, hence ``g``, can be
    shared by several requests (tests push one around them all), so this never reuses one."""
    setattr(g, KEY, {})


def close_scope(_exc: BaseException | None = None) -> None:
    if has_app_context():
        g.pop(KEY, None)


@contextlib.contextmanager
def actor_scope(*, join: bool = False) -> Iterator[None]:
    """A scope for one unit of work outside a Flask request (a socket event, a job step). With
    ``join``, a scope already open goes on: the work is part of a larger unit (a realtime
    handshake, whose connect, join and document opening are one page load)."""
    previous = actors()
    if join and previous is not None:
        yield
        return
    open_scope()
    try:
        yield
    finally:
        if previous is None:
            close_scope()
        else:
            setattr(g, KEY, previous)
