"""A prompt, clean stop of ``worker`` and ``serve`` on embedded defaults, timed.

An idle worker or serve stops within seconds of SIGTERM or Ctrl-C and leaves nothing running; a
busy worker hands its job back to the front of its queue without spending an attempt, and the next
worker runs it; a SIGKILLed worker's scheduler stops by itself and frees the scheduler lock.
Limits are generous (the goals are 5 s idle and 10 s busy) so that a slow machine passes and a hang
fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import suppress
from pathlib import Path

import psutil
import pytest
import redis
from rq import Worker
from rq.exceptions import SchedulerNotFound
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.scheduler import RQScheduler

from core.embedded_redis import socket_path
from core.jobs import DEFAULT_QUEUE, Jobs
from core.settings import Settings
from tests.integration.test_operator import family, redis_servers, wait_until
from tests.integration.test_processes import ROOT, Server, _alive, _embedded_env, _redis_pid

IDLE_STOP_LIMIT = 15  # seconds; the goal is 5
BUSY_STOP_LIMIT = 25  # seconds; the goal is 10
SCHEDULER_LOCK = RQScheduler.get_locking_key(DEFAULT_QUEUE)


class WorkerProcess:
    """``cli.py worker`` in its own session, with its output in a log file."""

    def __init__(self, data_dir: Path, log: Path):
        self.data_dir, self.log = data_dir, log
        self.proc = subprocess.Popen([sys.executable, "cli.py", "worker"], cwd=ROOT,
                                     env={**_embedded_env(data_dir), "PYTHONUNBUFFERED": "1"},
                                     stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid
        self.seen: list[psutil.Process] = []  # its children, remembered: a killed worker's are orphans

    def wait_ready(self) -> psutil.Process:
        """Until it heartbeats and its scheduler holds the queue's scheduler lock; its scheduler process."""
        return wait_until(lambda: self._scheduler() if self._registered() else None,
                          f"worker {self.pid} to start with its scheduler", log=self.log)

    def _registered(self) -> bool:
        assert self.proc.poll() is None, f"worker exited early:\n{self.log.read_text()}"
        conn = connect(self.data_dir)
        try:
            return any(w.pid == self.pid for w in Worker.all(connection=conn))
        except redis.ConnectionError:
            return False
        finally:
            conn.close()

    def _scheduler(self) -> psutil.Process | None:
        tree = with_scheduler(self.proc, self.data_dir)
        self.seen += tree or []
        return next(p for p in tree if p.pid == scheduler_lock_holder(self.data_dir)) if tree else None

    def stop_within(self, sig: int, limit: float, group: bool = False) -> None:
        """Send ``sig`` (to its process group when ``group``, as a terminal's Ctrl-C does); fails
        unless it exits cleanly within ``limit`` seconds."""
        os.killpg(self.pid, sig) if group else self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker did not stop within {limit} s of {signal.Signals(sig).name}:\n{self.log.read_text()}")
        assert code == 0, self.log.read_text()
        assert "Traceback" not in self.log.read_text(), self.log.read_text()

    def kill(self) -> None:
        """Teardown: it and whatever it started, each by pid."""
        tree = family(self.proc) + self.seen
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for child in tree:
            with suppress(psutil.NoSuchProcess):
                child.kill()  # psutil checks it is still the same process, not a reused pid


def connect(data_dir: Path) -> redis.Redis:
    return redis.Redis(unix_socket_path=str(socket_path(data_dir)))


def scheduler_lock_holder(data_dir: Path) -> int | None:
    """The pid of the scheduler holding the queue's scheduler lock (the lock names the scheduler)."""
    conn = connect(data_dir)
    try:
        name = conn.get(SCHEDULER_LOCK)
        return RQScheduler.fetch(name.decode(), conn).pid if name else None
    except (redis.ConnectionError, SchedulerNotFound):  # Redis starting, or the lock taken, not yet registered
        return None
    finally:
        conn.close()


def with_scheduler(proc: subprocess.Popen, data_dir: Path) -> list[psutil.Process] | None:
    """``proc``'s process tree, once one of them is the scheduler holding the queue's lock."""
    tree = family(proc)
    return tree if scheduler_lock_holder(data_dir) in [p.pid for p in tree] else None


@pytest.fixture
def installation(tmp_path):
    """A data dir, and ``start()`` for workers in it; every process is stopped by pid afterwards."""
    data = tmp_path / "data"
    workers: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        worker = WorkerProcess(data, tmp_path / f"worker-{len(workers)}.log")
        workers.append(worker)
        return worker

    start.data_dir = data
    yield start
    for worker in workers:
        worker.kill()
    for server in redis_servers(data):
        server.kill()


@pytest.fixture
def jobs(installation):
    """This test process as one more process of the installation (``core.jobs.Jobs``, the way the
    app enqueues): the embedded Redis outlives a stopped worker, so its queue can be inspected."""
    joined = []

    def join() -> Jobs:
        joined.append(Jobs(Settings.from_env({"ALADDIN_DATA_DIR": str(installation.data_dir)})))
        return joined[-1]

    yield join
    for each in joined:
        each.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "ctrl-c"])
def test_an_idle_worker_stops_promptly_and_leaves_nothing_running(installation, sig):
    worker = installation()
    scheduler = worker.wait_ready()
    redis_pid = _redis_pid(installation.data_dir)
    assert _alive(redis_pid)
    worker.stop_within(sig, IDLE_STOP_LIMIT, group=sig == signal.SIGINT)
    assert not _alive(scheduler.pid), "the scheduler outlived its worker"
    assert not _alive(redis_pid) and redis_servers(installation.data_dir) == [], "Redis outlived its last process"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "ctrl-c"])
def test_an_idle_serve_stops_promptly_with_its_worker_and_redis(tmp_path, sig):
    data = tmp_path / "data"
    server = Server(data, True)
    try:
        server.wait_ready(worker=True)
        tree = wait_until(lambda: with_scheduler(server.proc, data), "serve's worker and its scheduler", log=server.log)
        redis_pid = _redis_pid(data)
        assert _alive(redis_pid)
        server.proc.send_signal(sig)
        try:
            code = server.proc.wait(timeout=IDLE_STOP_LIMIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not stop within {IDLE_STOP_LIMIT} s:\n{server.log.read_text()}")
        log = server.log.read_text()
        assert code in (0, 130), log
        assert [p.pid for p in tree if _alive(p.pid)] == [], "a worker or scheduler outlived serve"
        assert not _alive(redis_pid) and redis_servers(data) == [], log
        assert "Traceback" not in log, log
    finally:
        server.stop()
        for leftover in redis_servers(data):
            leftover.kill()


def test_a_busy_worker_hands_its_job_back_and_the_next_worker_runs_it(installation, jobs, tmp_path):
    first = installation()
    first.wait_ready()
    app_jobs = jobs()
    started, release, done = (tmp_path / name for name in ("started.txt", "release", "done.txt"))
    job = app_jobs.enqueue("tests.jobs_helpers:hold", str(started), str(release), str(done), attempts=3)
    wait_until(lambda: started.exists() and job.get_status(refresh=True) == "started", "the job to start",
               log=first.log)
    horse = int(started.read_text().split()[0])
    behind = app_jobs.enqueue("tests.jobs_helpers:touch", str(tmp_path / "behind.txt"))

    first.stop_within(signal.SIGTERM, BUSY_STOP_LIMIT)
    assert not _alive(horse), "the work-horse outlived its worker"
    job.refresh()
    queue = app_jobs.queue()
    assert job.get_status() == "queued" and job.retries_left == 2, (job.get_status(), job.retries_left)
    assert queue.job_ids == [job.id, behind.id], "handed back to the front of its queue"
    assert job.id not in StartedJobRegistry(queue=queue).get_job_ids()
    assert job.id not in FailedJobRegistry(queue=queue).get_job_ids()
    assert "handed back" in first.log.read_text()

    release.touch()
    second = installation()
    wait_until(lambda: job.get_status(refresh=True) == "finished", "the next worker to run the job", log=second.log)
    job.refresh()
    assert job.retries_left == 2, "the handed-back run spent no attempt"
    runs = started.read_text().split()
    assert len(runs) == 2 and int(done.read_text()) == int(runs[1]) != horse
    second.stop_within(signal.SIGTERM, IDLE_STOP_LIMIT)


def test_a_killed_workers_scheduler_stops_and_frees_the_lock_for_the_next_worker(installation, jobs):
    held = jobs().redis  # keeps the embedded Redis up: a SIGKILLed worker stops nothing
    first = installation()
    scheduler = first.wait_ready()
    first.proc.kill()
    first.proc.wait(timeout=30)
    wait_until(lambda: not _alive(scheduler.pid), "the orphaned scheduler to stop", timeout=30, log=first.log)
    # Released, not merely expired: the lock's TTL (61 s) is longer than this wait.
    wait_until(lambda: not held.exists(SCHEDULER_LOCK), "the scheduler lock to be released", timeout=30, log=first.log)
    second = installation()
    assert second.wait_ready().pid != scheduler.pid
    second.stop_within(signal.SIGTERM, IDLE_STOP_LIMIT)
