"""Pausing the cyclic garbage collector while a clone plans and writes (process-wide, counted)."""

from __future__ import annotations

import contextlib
import gc
import threading
from typing import Iterator

_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a clone plans and writes.

    A large clone keeps every source document, copy and reference alive until it is written; each
    full collection would traverse all of them and the rest of the heap, for nothing (they are
    acyclic and freed by reference counting). That was about a third of a 5,000-document clone.
    Process-wide, so nested and concurrent clones count holders; the last one out restores it."""
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()
