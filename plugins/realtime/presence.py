"""Who is in a project room, kept in Redis so every server process of an installation shares it.

One record per user and project (several tabs share it); a set of socket ids per user decides
when the user really left. Status is what the client set, downgraded by inactivity."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

# Write only if the record still exists, so a late activity bump cannot resurrect a user who left.
_TOUCH = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


# Add socket ARGV[1] of the user ARGV[2] (KEYS as for _LEAVE; KEYS[4] the projects with presence,
# ARGV[3] the project): a new record ARGV[4], or the existing one active as of ARGV[5]; a departure
# pending for the user is called off. Returns {1 when the record is new, the project's records}.
_JOIN = """
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[3] .. '|' .. ARGV[2])
local created = redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[4])
if created == 0 then
  local record = cjson.decode(redis.call('HGET', KEYS[2], ARGV[2]))
  record['ts'] = tonumber(ARGV[5])
  record['status'] = 'active'
  record['announced'] = 'active'
  redis.call('HSET', KEYS[2], ARGV[2], cjson.encode(record))
end
return {created, redis.call('HGETALL', KEYS[2])}
"""

# Drop socket ARGV[1] of the user ARGV[2] (KEYS[1] its sockets, KEYS[2] the project's records, KEYS[3]
# the pending departures). Its last socket: at once (ARGV[3] "0") the record is removed and returned,
# otherwise the departure is due at ARGV[3] (false: other sockets remain, "" : departure pending).
_LEAVE = """
redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) > 0 then return false end
if ARGV[3] ~= '0' then
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
  return ''
end
local record = redis.call('HGET', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[4])
return record or '{}'
"""

# A departure (ARGV[2], the user ARGV[1]) that fell due: the record removed and returned, unless
# a socket came back meanwhile or another process finished it.
_GONE = """
if redis.call('ZREM', KEYS[3], ARGV[2]) == 0 or redis.call('SCARD', KEYS[1]) > 0 then return false end
local record = redis.call('HGET', KEYS[2], ARGV[1])
if record then redis.call('HDEL', KEYS[2], ARGV[1]) end
return record
"""


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class PresenceStore:
    """Presence records (``userId, userName, status, cursor, lastActivity``) per project."""

    def __init__(self, redis, prefix: str, *, idle_after: float = 60, away_after: float = 180,
                 expire_after: float = 300, grace: float = 3.0):
        self.redis = redis
        self.prefix = prefix
        self.idle_after = idle_after
        self.away_after = away_after
        self.expire_after = expire_after
        self.grace = grace
        self._touch = redis.register_script(_TOUCH)
        self._join = redis.register_script(_JOIN)
        self._leave = redis.register_script(_LEAVE)
        self._gone = redis.register_script(_GONE)

    def _records_key(self, project_id: str) -> str:
        return f"{self.prefix}:presence:{project_id}"

    def _sockets_key(self, project_id: str, user_id: str) -> str:
        return f"{self.prefix}:sockets:{project_id}:{user_id}"

    @property
    def _projects_key(self) -> str:
        return f"{self.prefix}:presence-projects"

    @property
    def _leaving_key(self) -> str:
        return f"{self.prefix}:presence-leaving"

    def derived_status(self, record: dict, now: float | None = None) -> str:
        """The client's status, downgraded after inactivity (an explicit ``away`` stays away)."""
        idle_for = (now or time.time()) - record["ts"]
        status = record.get("status", "active")
        if idle_for >= self.away_after:
            return "away"
        if idle_for >= self.idle_after and status == "active":
            return "idle"
        return status

    def public(self, record: dict, now: float | None = None) -> dict:
        return {"userId": record["userId"], "userName": record.get("userName"),
                "status": self.derived_status(record, now), "cursor": record.get("cursor"),
                "lastActivity": _iso(record["ts"])}

    def join(self, project_id: str, user_id: str, user_name: str, sid: str) -> tuple[dict, bool, list[dict]]:
        """Add ``sid`` for the user; returns the public record, whether the user is new here, and
        the project's presence list. One round trip: a join's ack carries the list, and a user
        back within the grace (a reload) is made active again in it."""
        now = time.time()
        record = {"userId": user_id, "userName": user_name, "status": "active", "cursor": None,
                  "ts": now, "announced": "active"}
        created, flat = self._join(keys=[self._sockets_key(project_id, user_id), self._records_key(project_id),
                                         self._leaving_key, self._projects_key],
                                   args=[sid, user_id, project_id, json.dumps(record), repr(now)])
        records = {r["userId"]: r for r in (json.loads(v) for v in flat[1::2])}
        record = records.setdefault(user_id, record)
        return self.public(record, now), bool(created), self._listing(records.values(), now)

    def leave(self, project_id: str, user_id: str, sid: str, *, at_once: bool = True) -> dict | None:
        """Drop ``sid``. When it was the user's last socket, the user is gone: at once, the record
        it had is returned (its last activity goes out with ``user_left``); otherwise the user
        stays listed for ``grace`` seconds and leaves then (:meth:`sweep`) unless a socket comes
        back -- a page reloading is not a user leaving and coming back. None when nothing left
        now. One round trip to Redis."""
        due = "0" if at_once or self.grace <= 0 else repr(time.time() + self.grace)
        raw = self._leave(keys=[self._sockets_key(project_id, user_id), self._records_key(project_id),
                                self._leaving_key], args=[sid, user_id, due, f"{project_id}|{user_id}"])
        return json.loads(raw) if raw else None

    def get(self, project_id: str, user_id: str) -> dict | None:
        raw = self.redis.hget(self._records_key(project_id), user_id)
        return json.loads(raw) if raw else None

    def touch(self, project_id: str, user_id: str, *, status: str | None = None,
              cursor: Any = ..., ) -> dict | None:
        """Record activity (and a new status or cursor); None when the user has no presence."""
        record = self.get(project_id, user_id)
        if record is None:
            return None
        record["ts"] = time.time()
        if status is not None:
            record["status"] = status
            record["announced"] = status
        elif record.get("status") != "away":
            record["status"] = "active"
        if cursor is not ...:
            record["cursor"] = cursor
        if not self._touch(keys=[self._records_key(project_id)], args=[user_id, json.dumps(record)]):
            return None
        return record

    def list(self, project_id: str) -> list[dict]:
        records = [json.loads(v) for v in self.redis.hgetall(self._records_key(project_id)).values()]
        return self._listing(records, time.time())

    def _listing(self, records, now: float) -> list[dict]:
        return sorted((self.public(r, now) for r in records if now - r["ts"] < self.expire_after),
                      key=lambda r: r["userId"])

    def sweep(self) -> list[tuple[str, str, dict]]:
        """Finish departures that fell due, expire silent users and announce derived status
        changes: ``(projectId, kind, record)`` with kind ``left`` or ``status``. Several processes
        may sweep; ZREM and HDEL pick one announcer."""
        now = time.time()
        changes = []
        for member in self.redis.zrangebyscore(self._leaving_key, "-inf", now):
            member = member.decode() if isinstance(member, bytes) else member
            project_id, user_id = member.split("|", 1)
            raw = self._gone(keys=[self._sockets_key(project_id, user_id), self._records_key(project_id),
                                   self._leaving_key], args=[user_id, member])
            if raw:
                changes.append((project_id, "left", self.public(json.loads(raw), now)))
        for raw_pid in self.redis.smembers(self._projects_key):
            project_id = raw_pid.decode() if isinstance(raw_pid, bytes) else raw_pid
            key = self._records_key(project_id)
            records = self.redis.hgetall(key)
            if not records:
                self.redis.srem(self._projects_key, project_id)
                continue
            for raw_uid, raw in records.items():
                user_id = raw_uid.decode() if isinstance(raw_uid, bytes) else raw_uid
                record = json.loads(raw)
                if now - record["ts"] >= self.expire_after:
                    if self.redis.hdel(key, user_id):
                        self.redis.delete(self._sockets_key(project_id, user_id))
                        changes.append((project_id, "left", self.public(record, now)))
                    continue
                derived = self.derived_status(record, now)
                if derived != record.get("announced"):
                    record["announced"] = derived
                    if self._touch(keys=[key], args=[user_id, json.dumps(record)]):
                        changes.append((project_id, "status", self.public(record, now)))
        return changes
