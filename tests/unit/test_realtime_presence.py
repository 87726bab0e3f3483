"""Presence departures (``plugins/realtime/presence.py``): a user whose last socket closed stays
listed for the grace, and is gone after it unless a socket came back."""

from __future__ import annotations

import time
import uuid

import redis

from plugins.realtime.presence import PresenceStore


def store(redis_server, grace: float) -> PresenceStore:
    return PresenceStore(redis.Redis.from_url(redis_server), "test-presence-" + uuid.uuid4().hex[:8], grace=grace)


def listed(presence: PresenceStore) -> list[str]:
    return [u["userId"] for u in presence.list("p1")]


def until_due(presence: PresenceStore) -> list:
    """The sweep once the grace is over (slept past it: a slow machine only sleeps longer)."""
    time.sleep(presence.grace + 0.05)
    return presence.sweep()


def test_a_closed_last_socket_leaves_after_the_grace(redis_server):
    presence = store(redis_server, grace=0.2)
    assert presence.join("p1", "u1", "Ann", "s1")[1] is True
    assert presence.leave("p1", "u1", "s1", at_once=False) is None   # nothing to announce now
    assert listed(presence) == ["u1"]
    changes = until_due(presence)
    assert [(pid, kind, record["userId"]) for pid, kind, record in changes] == [("p1", "left", "u1")]
    assert listed(presence) == [] and presence.sweep() == []      # announced once


def test_a_socket_back_within_the_grace_means_the_user_never_left(redis_server):
    presence = store(redis_server, grace=0.2)
    presence.join("p1", "u1", "Ann", "s1")
    presence.touch("p1", "u1", status="away", cursor={"documentId": "d1", "position": 3})
    presence.leave("p1", "u1", "s1", at_once=False)
    record, new, users = presence.join("p1", "u1", "Ann", "s2")
    assert new is False                                            # not new: no user_joined
    assert record["status"] == "active" and record["cursor"] == {"documentId": "d1", "position": 3}
    assert [(u["userId"], u["status"]) for u in users] == [("u1", "active")]
    assert until_due(presence) == [] and listed(presence) == ["u1"]


def test_leaving_at_once_and_other_sockets(redis_server):
    presence = store(redis_server, grace=30)
    presence.join("p1", "u1", "Ann", "s1")
    presence.join("p1", "u1", "Ann", "s2")
    assert presence.leave("p1", "u1", "s1", at_once=True) is None   # another tab remains
    record = presence.leave("p1", "u1", "s2", at_once=True)
    assert record["userId"] == "u1" and listed(presence) == []
