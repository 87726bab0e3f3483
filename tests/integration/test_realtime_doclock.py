"""Yjs document locks are bounded and fenced (issue 21, point 3), against a real Redis that is
restarted: a dead holder's lock comes back with the restart but lapses within its short lease, a
living holder keeps its lock by renewing it, and a holder whose lease lapsed frees nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import pytest
import redis

from plugins.realtime.doclock import Lease, LeaseLost
from tests.restartable_redis import restartable_redis
from tests.waiting import wait_for

LEASE = 1.0


@pytest.fixture
def server():
    yield from restartable_redis()


@pytest.fixture
def conn(server):
    client = redis.Redis.from_url(server.url)
    yield client
    client.close()


def test_a_dead_holders_lock_survives_a_restart_only_for_its_lease(server, conn):
    from plugins.realtime.doclock import DEFAULT_LEASE as lease  # long enough to outlast the restart

    name = f"ydoc:{uuid.uuid4().hex}"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time, redis; from plugins.realtime.doclock import Lease;"
         f"lease = Lease(redis.Redis.from_url({server.url!r}), {name!r}, {lease});"
         "assert lease.acquire(); print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # the holder dies holding the lock
        holder.wait()
    server.restart()
    ttl = conn.pttl(name)
    # The restart brought the dead holder's lock back (as the embedded Redis does, saving at
    # shutdown), but for its short lease only, not for a minute.
    assert ttl != -2, "the lock key did not survive the restart: this test proves nothing"
    assert 0 < ttl <= lease * 1000
    mine = Lease(conn, name, lease)
    assert mine.acquire(blocking_timeout=30)
    mine.release()


def test_a_living_holder_keeps_its_lock_through_a_restart(server, conn):
    name = f"ydoc:{uuid.uuid4().hex}"
    holder = Lease(redis.Redis.from_url(server.url), name, LEASE)
    assert holder.acquire()
    try:
        server.restart()
        first = conn.pttl(name)
        wait_for(lambda: conn.pttl(name) > first, message="the holder to renew its lease after the restart")
        other = Lease(conn, name, LEASE)
        assert not other.acquire(blocking=False)
        assert not holder.lost
    finally:
        holder.release()
    assert conn.get(name) is None
    other = Lease(conn, name, LEASE)
    assert other.acquire(blocking=False)
    other.release()


def test_a_holder_whose_lease_lapsed_frees_nothing(server, conn):
    name = f"ydoc:{uuid.uuid4().hex}"
    first = Lease(redis.Redis.from_url(server.url), name, LEASE)
    assert first.acquire()
    server.restart(server.forget_data)  # a Redis without persistence: every lock is gone
    second = Lease(conn, name, LEASE)
    assert second.acquire(blocking_timeout=30)
    try:
        wait_for(lambda: first.lost, message="the first holder to learn its lease lapsed")
        with pytest.raises(LeaseLost):
            first.check()  # what the lock guards is not written by a holder that lost it
        first.release()
        token = conn.get(name)
        assert token is not None and second.check() is None  # the second holder's lock stands
        assert not Lease(conn, name, LEASE).acquire(blocking=False)
    finally:
        second.release()
    assert conn.get(name) is None
