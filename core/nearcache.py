"""A per-process cache in front of shared state, kept coherent across processes by Redis pub/sub.

Why it exists: every authorized request needs the caller's token, user and role. Reading them
from the database (or the Redis role cache) costs a round trip each, more than the content read
the request is for (``python -m bench.api``). Answers change rarely -- a token is revoked, a
member's role changes -- so each process keeps them in memory and drops them when told.

How it stays correct:

* **Invalidation is pushed.** :meth:`NearCache.invalidate` drops a *scope* (say, every role
  cached for one project) locally and publishes the scope on the installation's channel; every
  other process subscribed to it drops the same scope.
* **Reads drain first.** Before trusting an entry, :meth:`get` reads whatever invalidations are
  already waiting on the subscription socket (a non-blocking poll, a few microseconds). Redis
  queues a published message for every subscriber while it executes PUBLISH and sends it in
  that event-loop turn; :meth:`invalidate` returns only after a later round trip, so once a
  change is acknowledged every process's next read sees it. This is the guarantee Redis gives its own server-assisted client-side caching
  (which redis-py supports from Redis 7.4; the embedded server is 6.2).
* **Fills cannot resurrect old answers.** A reader takes an :meth:`epoch` before reading the
  source and :meth:`put` stores only if no invalidation arrived meanwhile, so an answer read
  just before a change and stored just after is never kept.
* **Fail safe.** Until the subscription is confirmed, after a lost connection and in a forked
  child (the parent's socket is not ours), :meth:`get` misses and :meth:`put` stores nothing;
  everything local is dropped when listening resumes. A TTL bounds what out-of-band changes
  (an operator editing the database by hand) can leave behind.

Plugins use it through ``app.extensions["aladdin"].near_cache``: key entries by a tuple
starting with the plugin's name, and give each entry the scope its invalidations will name.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from typing import Any, Hashable

from redis.exceptions import RedisError

from .compat.redis import subscription_socket

log = logging.getLogger("aladdin.nearcache")

MISS = object()  # what get() answers when nothing is cached (None is a valid cached answer)
ALL = "*"  # the scope that drops everything
DEFAULT_TTL = 60.0
MAX_ENTRIES = 100_000  # per process; cleared wholesale when full
RETRY_SECONDS = 5.0  # after Redis refused a subscription, work uncached this long before retrying


class NearCache:
    """One per app and process: entries keyed by hashable tuples, each tagged with the scope
    an invalidation names; see the module docstring for why it stays coherent."""

    def __init__(self, redis, channel: str, ttl: float = DEFAULT_TTL):
        self.redis = redis
        self.channel = channel
        self.ttl = float(ttl)
        self.enabled = self.ttl > 0
        self._lock = threading.RLock()
        self._entries: dict[Hashable, tuple[float, Any, str]] = {}
        self._scopes: dict[str, set] = {}
        self._epoch = 0
        self._pubsub = None
        self._poller = None
        self._sock = None
        self._pid = os.getpid()
        self._retry_at = 0.0

    # -- reading ---------------------------------------------------------------------------

    def get(self, key: Hashable) -> Any:
        """The cached value of ``key``, or :data:`MISS`."""
        if not self.enabled:
            return MISS
        with self._lock:
            if not self._listening():
                return MISS
            entry = self._entries.get(key)
            if entry is None:
                return MISS
            if entry[0] < time.monotonic():
                self._forget(key)
                return MISS
            return entry[1]

    def epoch(self) -> int | None:
        """Take before reading the source; hand to :meth:`put`. None: do not cache now."""
        if not self.enabled:
            return None
        with self._lock:
            return self._epoch if self._listening() else None

    def put(self, key: Hashable, value: Any, *, scope: str, epoch: int | None, ttl: float | None = None) -> None:
        """Cache ``value`` under ``key`` unless ``scope`` (or anything) was invalidated since ``epoch``."""
        if epoch is None:
            return
        with self._lock:
            # Drain first: an invalidation that arrived while the caller read the source moves
            # the epoch on, and the possibly stale answer is not stored.
            if not self._listening() or epoch != self._epoch:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
                self._scopes.clear()
            self._forget(key)
            expires = time.monotonic() + (self.ttl if ttl is None else min(self.ttl, ttl))
            self._entries[key] = (expires, value, scope)
            self._scopes.setdefault(scope, set()).add(key)

    # -- invalidating ----------------------------------------------------------------------

    def invalidate(self, scope: str) -> None:
        """Drop ``scope`` here and in every process of this installation. Call after the change is stored."""
        with self._lock:
            self._drop(scope)
        try:
            self.redis.publish(self.channel, scope)
            # A second round trip: Redis answers it in a later event-loop turn, after the turn
            # that ran PUBLISH has sent the message to every subscriber. So when this returns,
            # the invalidation sits in every process's socket, even if Redis was preempted
            # between sending the publisher's reply and the subscribers' copies.
            self.redis.ping()
        except RedisError:
            # Other processes keep their entries until the TTL: make that loud, not silent.
            log.exception("could not publish near-cache invalidation of %r; other processes may "
                          "serve it for up to %.0f s", scope, self.ttl)

    def close(self) -> None:
        with self._lock:
            pubsub, self._pubsub, self._poller, self._sock = self._pubsub, None, None, None
            self._clear()
        if pubsub is not None and self._pid == os.getpid():
            try:
                pubsub.close()
            except (RedisError, OSError):
                pass

    # -- internals (call with the lock held) -------------------------------------------------

    def _listening(self) -> bool:
        """Subscribed and drained: True when local entries may be trusted."""
        if self._pid != os.getpid():
            # A forked child: the subscription socket belongs to the parent. Abandon it
            # (redis-py never shuts down a socket another process opened) and start afresh.
            self._pubsub, self._poller, self._sock = None, None, None
            self._pid, self._retry_at = os.getpid(), 0.0
            self._clear()
        if self._pubsub is None:
            return self._subscribe()
        if self._poller is not None and not self._poller.poll(0):
            # Nothing waiting on the socket, and the last drain emptied redis-py's read buffer:
            # one poll(2) answers the common case, without entering redis-py's parser.
            return True
        try:
            self._drain()
        except (RedisError, OSError, ValueError) as exc:
            log.warning("near cache lost its invalidation channel, working uncached until it is back: %s", exc)
            self._abandon()
            return False
        if subscription_socket(self._pubsub) is not self._sock:
            # redis-py reconnected and re-subscribed inside the read: whatever was published
            # while it was away is lost, so nothing cached before can be trusted.
            self._clear()
            self._sock, self._poller = subscription_socket(self._pubsub), _poller_for(self._pubsub)
        return True

    def _drain(self) -> None:
        """Apply every invalidation already received; returns with redis-py's buffer empty."""
        while True:
            message = self._pubsub.get_message(timeout=0)
            if message is None:
                return
            if message.get("type") == "message":
                data = message["data"]
                self._drop(data.decode() if isinstance(data, bytes) else str(data))

    def _subscribe(self) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        pubsub = None
        try:
            pubsub = self.redis.pubsub()
            pubsub.subscribe(self.channel)
            confirmation = pubsub.get_message(timeout=2.0)
            if not confirmation or confirmation.get("type") != "subscribe":
                raise RedisError(f"no confirmation of SUBSCRIBE {self.channel}")
        except (RedisError, OSError) as exc:
            log.warning("near cache cannot subscribe to %s, working uncached: %s", self.channel, exc)
            self._retry_at = time.monotonic() + RETRY_SECONDS
            if pubsub is not None:
                try:
                    pubsub.close()
                except (RedisError, OSError):
                    pass
            return False
        self._pubsub = pubsub
        try:
            self._drain()  # the confirmation's read may have buffered more
        except (RedisError, OSError, ValueError):
            self._abandon()
            self._retry_at = time.monotonic() + RETRY_SECONDS
            return False
        self._sock, self._poller = subscription_socket(pubsub), _poller_for(pubsub)
        # Whatever is cached was stored while nobody listened for invalidations.
        self._clear()
        return True

    def _abandon(self) -> None:
        pubsub, self._pubsub, self._poller, self._sock = self._pubsub, None, None, None
        self._clear()
        try:
            pubsub.close()
        except (RedisError, OSError):
            pass

    def _drop(self, scope: str) -> None:
        self._epoch += 1
        if scope == ALL:
            self._entries.clear()
            self._scopes.clear()
            return
        for key in self._scopes.pop(scope, ()):
            self._entries.pop(key, None)

    def _clear(self) -> None:
        self._epoch += 1
        self._entries.clear()
        self._scopes.clear()

    def _forget(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            keys = self._scopes.get(entry[2])
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._scopes[entry[2]]


def _poller_for(pubsub):
    """A poll object on the subscription's socket, or None (then every drain asks redis-py)."""
    sock = subscription_socket(pubsub)
    if sock is None or not hasattr(select, "poll"):
        return None
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    return poller
