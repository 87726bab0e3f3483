"""The role cache: Redis-backed answers to ``aladdin_resolve_role``, shared by every app instance.

Keys carry a per-project generation number that every membership change increments, so an
invalidation also defeats a reader that looked up the old role just before the change and
stores it just after (plain delete-on-change would let that stale answer live for the TTL)."""

from __future__ import annotations

import contextvars
import dataclasses
import logging

from redis.exceptions import RedisError

log = logging.getLogger("aladdin.team")

DEFAULT_TTL = 300
NO_ROLE = "-"  # cached "no role": outsiders are looked up as often as members
INVALIDATING_EVENTS = frozenset({"member.added", "member.role_changed", "member.removed",
                                 "project.ownership_transferred", "project.deleted"})


@dataclasses.dataclass(frozen=True)
class Lookup:
    generation: str
    found: bool
    role: str | None = None


class CachedNoRole(Exception):
    """Raised by the cache's answering impl to stop the hook chain with "no role" (pluggy's
    firstresult only stops on a non-None answer, and None is the answer here)."""


# The lookup the wrapper made for the call in progress, read by the answering impl.
pending: contextvars.ContextVar[Lookup | None] = contextvars.ContextVar("aladdin_team_role_lookup", default=None)


class RoleCache:
    def __init__(self, redis, namespace: str, ttl: int = DEFAULT_TTL):
        self.redis = redis
        self.prefix = f"aladdin:{namespace}:team:roles"
        self.ttl = max(1, int(ttl))

    @classmethod
    def for_app(cls, app) -> "RoleCache":
        state = app.extensions.setdefault("aladdin.team", {})
        cache = state.get("role_cache")
        if cache is None:
            ext = app.extensions["aladdin"]
            cache = cls(ext.jobs.redis, ext.settings.platform_db,
                        ext.settings.get("ROLE_CACHE_TTL", DEFAULT_TTL))
            state["role_cache"] = cache
        return cache

    def _gen_key(self, project_id: str) -> str:
        return f"{self.prefix}:gen:{project_id}"

    def _role_key(self, generation: str, project_id: str, user_id: str) -> str:
        return f"{self.prefix}:{project_id}:{generation}:{user_id}"

    def lookup(self, user_id: str, project_id: str) -> Lookup | None:
        """The cached answer (``found``), or a miss carrying the generation to store under;
        None when Redis is unreachable (callers then just ask the database)."""
        try:
            raw_gen = self.redis.get(self._gen_key(project_id))
            generation = raw_gen.decode() if raw_gen else "0"
            raw = self.redis.get(self._role_key(generation, project_id, user_id))
        except RedisError as exc:
            log.warning("role cache unavailable, reading memberships directly: %s", exc)
            return None
        if raw is None:
            return Lookup(generation, False)
        value = raw.decode()
        return Lookup(generation, True, None if value == NO_ROLE else value)

    def store(self, generation: str, user_id: str, project_id: str, role: str | None) -> None:
        try:
            self.redis.set(self._role_key(generation, project_id, user_id), role or NO_ROLE, ex=self.ttl)
        except RedisError as exc:
            log.warning("role cache unavailable, not caching: %s", exc)

    def invalidate(self, project_id: str) -> None:
        """Forget every cached role in ``project_id`` (all app instances see it at once)."""
        try:
            self.redis.incr(self._gen_key(project_id))
        except RedisError:
            # Stale roles could outlive a change: make that loud rather than silent.
            log.exception("could not invalidate cached roles of project %s", project_id)
