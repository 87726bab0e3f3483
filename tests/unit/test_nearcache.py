"""The near cache: per-process entries that every process drops when any of them invalidates.

Two ``NearCache`` objects on one channel stand for two processes of one installation (each has
its own subscription connection to the real Redis server); a real fork checks the child."""

from __future__ import annotations

import os
import time
import types
import uuid

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from core import nearcache
from core.nearcache import ALL, MISS, NearCache
from tests.waiting import wait_for


@pytest.fixture
def connection(redis_server):
    client = redis.Redis.from_url(redis_server)
    yield client
    client.close()


@pytest.fixture
def pair(connection):
    channel = f"test-near-{uuid.uuid4().hex}"
    caches = [NearCache(connection, channel, ttl=60), NearCache(connection, channel, ttl=60)]
    yield caches
    for cache in caches:
        cache.close()


def _fill(cache, key, value, scope):
    epoch = cache.epoch()
    assert epoch is not None, "the cache should be listening"
    cache.put(key, value, scope=scope, epoch=epoch)


def test_values_are_kept_and_none_is_a_value(pair):
    a, _ = pair
    assert a.get(("k", 1)) is MISS
    _fill(a, ("k", 1), {"role": "editor"}, "s")
    _fill(a, ("k", 2), None, "s")
    assert a.get(("k", 1)) == {"role": "editor"}
    assert a.get(("k", 2)) is None


def test_an_invalidation_drops_the_scope_in_every_process_on_its_next_read(pair):
    a, b = pair
    for cache in (a, b):
        _fill(cache, "x", 1, "project:1")
        _fill(cache, "y", 2, "project:2")
    b.invalidate("project:1")
    # No sleep and no background thread: the read itself drains what Redis already delivered.
    assert a.get("x") is MISS and b.get("x") is MISS
    assert a.get("y") == 2 and b.get("y") == 2
    a.invalidate(ALL)
    assert a.get("y") is MISS and b.get("y") is MISS


def test_an_answer_read_before_an_invalidation_is_not_stored_after_it(pair):
    a, b = pair
    epoch = a.epoch()          # a starts reading the source ...
    b.invalidate("project:1")  # ... another process changes it meanwhile ...
    a.put("x", "stale", scope="project:1", epoch=epoch)  # ... and a's old answer is dropped
    assert a.get("x") is MISS
    # Even an invalidation of another scope makes the fill give up (the epoch is per process).
    epoch = a.epoch()
    b.invalidate("project:2")
    a.put("x", "maybe stale", scope="project:1", epoch=epoch)
    assert a.get("x") is MISS
    _fill(a, "x", "fresh", "project:1")
    assert a.get("x") == "fresh"


def test_entries_expire_after_their_ttl(connection, monkeypatch):
    # The cache's clock, moved by hand: with a real 50 ms TTL a descheduled test thread could
    # see the entry expire before its first read.
    now = [time.monotonic()]
    monkeypatch.setattr(nearcache, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    cache = NearCache(connection, f"test-near-{uuid.uuid4().hex}", ttl=60)
    try:
        epoch = cache.epoch()
        cache.put("short", 1, scope="s", epoch=epoch, ttl=0.05)
        cache.put("long", 2, scope="s", epoch=epoch)
        now[0] += 0.049
        assert cache.get("short") == 1
        now[0] += 0.002
        assert cache.get("short") is MISS and cache.get("long") == 2
    finally:
        cache.close()


def test_ttl_zero_turns_it_off(connection):
    cache = NearCache(connection, "unused", ttl=0)
    assert cache.epoch() is None
    cache.put("x", 1, scope="s", epoch=cache.epoch())
    assert cache.get("x") is MISS


def test_without_redis_it_works_uncached_and_says_so(caplog):
    dead = redis.Redis(unix_socket_path="/nonexistent/redis.sock", socket_connect_timeout=0.2,
                       retry=Retry(NoBackoff(), 0))
    cache = NearCache(dead, "unreachable", ttl=60)
    assert cache.get("x") is MISS
    assert cache.epoch() is None
    cache.put("x", 1, scope="s", epoch=0)
    assert cache.get("x") is MISS
    assert "working uncached" in caplog.text
    cache.invalidate("s")  # logs loudly, raises nothing: the change itself already happened
    assert "could not publish" in caplog.text


@pytest.fixture
def named_pair(redis_server, connection):
    """Like ``pair``, but ``a`` names its connections (``a.name``) so its subscription can be
    told apart in CLIENT LIST: a subscribed connection may not send CLIENT SETNAME itself."""
    channel, name = f"test-near-{uuid.uuid4().hex}", f"near-victim-{uuid.uuid4().hex[:8]}"
    own = redis.Redis.from_url(redis_server, client_name=name)
    a, b = NearCache(own, channel, ttl=60), NearCache(connection, channel, ttl=60)
    a.name = name
    yield a, b
    for cache in (a, b):
        cache.close()
    own.close()


def test_a_lost_subscription_drops_everything_and_recovers(named_pair, connection):
    a, b = named_pair
    _fill(a, "x", 1, "s")
    # Kill a's subscription connection from the server side, as a Redis restart or a network cut would.
    victims = [c for c in connection.client_list() if c.get("name") == a.name and int(c.get("sub", 0))]
    assert len(victims) == 1
    connection.client_kill_filter(_id=victims[0]["id"])
    # Whatever happens on a's next read, the old entry is never served again.
    assert a.get("x") is MISS
    b.invalidate("s")

    def listening_again() -> bool:
        a._retry_at = 0  # retry now, not after the cache's back-off
        return a.epoch() is not None

    wait_for(listening_again, message="the cache to subscribe again")
    _fill(a, "x", 2, "s")
    assert a.get("x") == 2
    b.invalidate("s")
    assert a.get("x") is MISS


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_trust_or_share_the_parents_subscription(pair):
    a, b = pair
    _fill(a, "x", "parent", "s")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: an RQ work horse is forked like this
        try:
            ok = a.get("x") is MISS        # inherited entries are not trusted
            _fill(a, "x", "child", "s")    # a subscription of its own ...
            b_sees = a.get("x") == "child"
            os.write(write, b"ok" if ok and b_sees else b"bad")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 10)
    os.waitpid(pid, 0)
    assert answer == b"ok"
    # The parent's subscription still works after the child is gone.
    assert a.get("x") == "parent"
    b.invalidate("s")
    assert a.get("x") is MISS
