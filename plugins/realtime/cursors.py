"""The cursor throttle: at most one ``cursor_move`` per socket and document per interval, the
latest position always sent."""

from __future__ import annotations

import threading
import time
from typing import Callable


class CursorCoalescer:
    """At most one cursor event per socket and document every ``interval`` seconds; the
    latest position always goes out, so a flood costs the room little and loses nothing."""

    def __init__(self, interval: float, spawn: Callable):
        self.interval = interval
        self.spawn = spawn
        self._lock = threading.Lock()
        self._last: dict[tuple, float] = {}
        self._pending: dict[tuple, Callable[[], None]] = {}

    def submit(self, key: tuple, send: Callable[[], None]) -> bool:
        """Send now or schedule; returns False when the event was coalesced."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key, 0.0)
            if key in self._pending or now - last < self.interval:
                schedule = key not in self._pending
                self._pending[key] = send
                if schedule:
                    self.spawn(self._flush_later, key, last + self.interval - now)
                return False
            self._last[key] = now
        send()
        return True

    def _flush_later(self, key: tuple, delay: float) -> None:
        time.sleep(max(delay, 0.0))
        with self._lock:
            send = self._pending.pop(key, None)
            if send is not None:
                self._last[key] = time.monotonic()
        if send is not None:
            send()

    def forget(self, sid: str) -> None:
        with self._lock:
            for key in [k for k in self._last if k[0] == sid]:
                self._last.pop(key, None)
            for key in [k for k in self._pending if k[0] == sid]:
                self._pending.pop(key, None)
