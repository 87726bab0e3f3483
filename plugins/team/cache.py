"""The role cache: Redis-backed answers to ``aladdin_resolve_role``, shared by every app instance.

Each cached role carries the per-project generation it was computed under, and every membership
change increments that generation; a hit counts only while the generations match. One MGET of
the generation and the role answers a lookup in a single round trip, and an invalidation also
defeats a reader that looked up the old role just before a change and stores it just after
(plain delete-on-change would let that stale answer live for the TTL).

In front of Redis sits the core's near cache (``app.extensions["aladdin"].near_cache``): a
role answered once is kept in the process's memory, and :meth:`RoleCache.invalidate` drops the
project's roles there and, through the near cache's pub/sub channel, in every other process.
A repeated request thus costs no round trip at all, and the Redis tier still answers a
process's first request and shares each answer between app instances.

An invalidation Redis refuses (it is down) is owed, not dropped: the membership change is
stored and acknowledged, and a Redis that comes back with its data would otherwise hand every
process the old role for the TTL. The project is written to a ledger in the platform database
and a thread of the process retries until Redis answers, then drops the project's roles
everywhere (a process that dies first leaves the ledger to the next one that starts)."""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import threading
import time

from redis.exceptions import RedisError

from core.nearcache import MISS

log = logging.getLogger("aladdin.team")

DEFAULT_TTL = 300
RETRY_SECONDS = 0.25  # how often an owed invalidation is retried while Redis is away
LEDGER = "team_role_invalidations_owed"  # platform collection: projects whose roles must be dropped
MODES = ("auto", "on", "off")  # ALADDIN_ROLE_CACHE
NO_ROLE = "-"  # cached "no role": outsiders are looked up as often as members
INVALIDATING_EVENTS = frozenset({"member.added", "member.role_changed", "member.removed",
                                 "project.ownership_transferred", "project.deleted"})


@dataclasses.dataclass(frozen=True)
class Lookup:
    generation: str
    found: bool
    role: str | None = None
    epoch: int | None = None  # the near cache's epoch before the lookup (None: do not keep it there)
    near: bool = False  # answered from the process's memory (nothing to copy there)


class CachedNoRole(Exception):
    """Raised by the cache's answering impl to stop the hook chain with "no role" (pluggy's
    firstresult only stops on a non-None answer, and None is the answer here)."""


# The lookup the wrapper made for the call in progress, read by the answering impl.
pending: contextvars.ContextVar[Lookup | None] = contextvars.ContextVar("aladdin_team_role_lookup", default=None)


def encode(generation: str, role: str | None) -> str:
    """A cached value: ``<generation>:<role>``; generations are integers, so the first colon splits."""
    return f"{generation}:{role or NO_ROLE}"


def decode(raw: bytes | str) -> tuple[str, str | None]:
    value = raw.decode() if isinstance(raw, bytes) else raw
    generation, _, role = value.partition(":")
    return generation, (None if role == NO_ROLE else role)


def _mode(settings) -> str:
    mode = str(settings.get("ROLE_CACHE", "on")).strip().lower()
    if mode not in MODES:
        raise ValueError(f"ALADDIN_ROLE_CACHE must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def enabled_for(settings) -> bool:
    """Whether role lookups go through Redis (``ALADDIN_ROLE_CACHE``: on, auto or off).

    ``on`` (the default) and ``auto`` do: memberships live on a document server (the embedded
    one or MongoDB), where a lookup is a network round trip and the Redis tier pays. Either way
    (``off`` aside) the process's near cache answers repeated lookups."""
    return _mode(settings) in ("on", "auto")


class RoleCache:
    def __init__(self, redis, namespace: str, ttl: int = DEFAULT_TTL, enabled: bool = True, near=None,
                 redis_tier: bool = True, ledger=None, stopping: threading.Event | None = None):
        self.redis = redis
        self.ledger = ledger  # a pymongo collection (see the module docstring), or None
        self.stopping = stopping or threading.Event()
        self._owed: set[str] = set()
        self._owed_lock = threading.Lock()
        self._payer: threading.Thread | None = None
        self.prefix = f"aladdin:{namespace}:team:roles"
        self.ttl = max(1, int(ttl))
        # Off: lookups go straight to the resolvers; invalidate() still runs, so processes
        # configured differently never trust a stale entry.
        self.enabled = enabled
        self.near = near
        # Without the Redis tier a miss in memory reads the database.
        self.redis_tier = redis_tier

    @classmethod
    def for_app(cls, app) -> "RoleCache":
        state = app.extensions.setdefault("aladdin.team", {})
        cache = state.get("role_cache")
        if cache is None:
            ext = app.extensions["aladdin"]
            cache = cls(ext.jobs.redis, ext.settings.platform_db,
                        ext.settings.get("ROLE_CACHE_TTL", DEFAULT_TTL), _mode(ext.settings) != "off",
                        near=ext.near_cache, redis_tier=enabled_for(ext.settings),
                        ledger=ext.db.platform()[LEDGER], stopping=ext.stopping)
            state["role_cache"] = cache
        return cache

    def _gen_key(self, project_id: str) -> str:
        return f"{self.prefix}:gen:{project_id}"

    def _role_key(self, project_id: str, user_id: str) -> str:
        return f"{self.prefix}:{project_id}:role:{user_id}"

    @staticmethod
    def _near_key(user_id: str, project_id: str) -> tuple:
        return ("team:role", project_id, user_id)

    @staticmethod
    def _near_scope(project_id: str) -> str:
        return f"team:roles:{project_id}"

    def lookup(self, user_id: str, project_id: str) -> Lookup | None:
        """The cached answer (``found``), or a miss carrying the generation to store under;
        None when Redis is unreachable (callers then just ask the database).

        The process's near cache answers first. Otherwise one round trip: the generation and
        the role come back from a single MGET, so they are read atomically and a role stored
        under an older generation is simply a miss."""
        epoch = None
        if self.near is not None:
            role = self.near.get(self._near_key(user_id, project_id))
            if role is not MISS:
                return Lookup("", True, role, near=True)
            epoch = self.near.epoch()
        if not self.redis_tier:
            return Lookup("", False, epoch=epoch)
        try:
            raw_gen, raw = self.redis.mget(self._gen_key(project_id), self._role_key(project_id, user_id))
        except RedisError as exc:
            log.warning("role cache unavailable, reading memberships directly: %s", exc)
            return None
        generation = raw_gen.decode() if raw_gen else "0"
        if raw is None:
            return Lookup(generation, False, epoch=epoch)
        stored_generation, role = decode(raw)
        if stored_generation != generation:
            return Lookup(generation, False, epoch=epoch)
        return Lookup(generation, True, role, epoch=epoch)

    def keep(self, lookup: Lookup, user_id: str, project_id: str, role: str | None) -> None:
        """Keep the answer of ``lookup`` in the process (a Redis hit) and in Redis too (a miss)."""
        if lookup.near:
            return
        if not lookup.found and self.redis_tier:
            self.store(lookup.generation, user_id, project_id, role)
        if self.near is not None:
            self.near.put(self._near_key(user_id, project_id), role, scope=self._near_scope(project_id),
                          epoch=lookup.epoch, ttl=self.ttl)

    def store(self, generation: str, user_id: str, project_id: str, role: str | None) -> None:
        """Cache ``role`` as computed under ``generation``.

        No check-and-set is needed: if a membership change bumped the generation since the
        lookup, the value stored here carries the old generation and every later read treats
        it as a miss (and overwrites it with a fresh answer)."""
        try:
            self.redis.set(self._role_key(project_id, user_id), encode(generation, role), ex=self.ttl)
        except RedisError as exc:
            log.warning("role cache unavailable, not caching: %s", exc)

    def invalidate(self, project_id: str) -> None:
        """Forget every cached role in ``project_id`` (all app instances and processes see it at once)."""
        try:
            self.redis.incr(self._gen_key(project_id))
        except RedisError:
            log.exception("could not invalidate cached roles of project %s: owed until Redis answers", project_id)
            self.owe(project_id)
        if self.near is not None:
            self.near.invalidate(self._near_scope(project_id))

    def owe(self, project_id: str) -> None:
        """Remember an invalidation Redis refused (in the ledger too) and retry it until paid."""
        if self.ledger is not None:
            try:
                self.ledger.update_one({"_id": project_id}, {"$set": {"at": time.time()}}, upsert=True)
            except Exception:  # the retry below still runs while this process lives
                log.exception("could not record the owed role invalidation of project %s", project_id)
        self._retry(project_id)

    def _retry(self, project_id: str) -> None:
        with self._owed_lock:
            self._owed.add(project_id)
            if self._payer is None or not self._payer.is_alive():
                self._payer = threading.Thread(target=self._pay_until_settled, daemon=True,
                                               name="aladdin-team-owed-invalidations")
                self._payer.start()

    def owe_recorded(self) -> None:
        """At start: invalidations a process recorded and never paid (it died) are owed here."""
        if self.ledger is None:
            return
        try:
            owed = [doc["_id"] for doc in self.ledger.find({}, {"_id": 1})]
        except Exception:
            log.exception("could not read the owed role invalidations")
            return
        for project_id in owed:
            self._retry(project_id)  # recorded already

    def _pay_until_settled(self) -> None:
        while not self.stopping.wait(RETRY_SECONDS):
            with self._owed_lock:
                owed = sorted(self._owed)
                if not owed:
                    self._payer = None
                    return
            for project_id in owed:
                try:
                    self.redis.incr(self._gen_key(project_id))
                except RedisError:
                    break  # still away: all of them wait for the next round
                if self.near is not None:  # answers other processes took from Redis meanwhile go too
                    self.near.invalidate(self._near_scope(project_id))
                with self._owed_lock:
                    self._owed.discard(project_id)
                if self.ledger is not None:
                    try:
                        self.ledger.delete_one({"_id": project_id})
                    except Exception:  # paid all the same; a later start pays it again, harmlessly
                        log.exception("could not settle the owed role invalidation of project %s", project_id)
