"""A Yjs document's lock: a short Redis lease renewed while held, released only by its holder.

Why a lease and not one long timeout: a Redis that restarts with its data (RDB saved at shutdown)
brings every lock key back, and a holder that died meanwhile used to block its document for the
whole 60 s timeout; a 5 s lease bounds that, and a holder that lives on keeps it by renewing.
Release and renewal compare the holder's token inside Redis (redis-py's Lua scripts), so a holder
whose lease lapsed (a restart without data, a stalled process) never frees a lock someone else
has taken since; ``lost`` tells it so before it writes (see ``YStore.locked``)."""

from __future__ import annotations

import logging
import threading
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError, LockNotOwnedError, TimeoutError as RedisTimeoutError

log = logging.getLogger("aladdin.realtime")

DEFAULT_LEASE = 5.0
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class LeaseLost(RuntimeError):
    """The lease lapsed while held: what it guarded may have been done by another holder."""


class Lease:
    """One document lock: ``acquire`` (waiting through a Redis outage up to its timeout), a
    renewer thread extending the lease every third of it while held, ``release`` by token."""

    def __init__(self, redis, name: str, lease: float = DEFAULT_LEASE):
        self.name = name
        self.lease = lease
        # Not thread-local: the renewer thread extends the holder's token.
        self._lock = redis.lock(name, timeout=lease, thread_local=False)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.lost = False

    def acquire(self, blocking: bool = True, blocking_timeout: float | None = 30.0) -> bool:
        """Take the lock; with ``blocking``, wait up to ``blocking_timeout`` seconds for it, also
        while Redis is unreachable (a restart): then raise the connection error."""
        deadline = time.monotonic() + (blocking_timeout or 0.0)
        while True:
            try:
                remaining = max(deadline - time.monotonic(), 0.0)
                got = self._lock.acquire(blocking=blocking, blocking_timeout=remaining if blocking else None)
                break
            except _UNREACHABLE:
                if not blocking or time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)
        if got:
            self.lost = False
            self._stop.clear()
            self._renewer = threading.Thread(target=self._renew, name=f"lease {self.name}", daemon=True)
            self._renewer.start()
        return got

    def _renew(self) -> None:
        while not self._stop.wait(self.lease / 3):
            try:
                if not self._lock.reacquire():
                    raise LockNotOwnedError("lease lapsed")
            except (LockNotOwnedError, LockError):
                self.lost = True
                log.warning("lost the lease on %s while holding it", self.name)
                return
            except _UNREACHABLE:
                continue  # Redis restarting: renew when it is back (the key came back, or it lapsed)

    def check(self) -> None:
        """Raise LeaseLost if the lease lapsed: a holder asks before a write the lock guards."""
        if self.lost:
            raise LeaseLost(f"the lease on {self.name} lapsed while held")

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join()
        self._renewer = None
        try:
            self._lock.release()
        except LockNotOwnedError:
            log.warning("the lease on %s had lapsed: not released (another holder may have it)", self.name)
        except (LockError, *_UNREACHABLE):
            pass  # unreachable or never held: the lease lapses by itself


def lease_factory(redis, prefix: str, lease: float = DEFAULT_LEASE):
    """``name -> Lease`` under the installation's key prefix (what ``YStore`` takes)."""
    return lambda name: Lease(redis, prefix + name, lease)
