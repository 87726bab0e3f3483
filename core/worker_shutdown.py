"""A prompt, loss-free stop for RQ workers: an idle worker exits at once, a busy one hands its job
back to the queue without spending an attempt, and its scheduler process never outlives it.

RQ's warm shutdown waits for the running job (an export may take minutes, longer than a process
manager waits); its cold shutdown fails the job or spends one of its retries. Here the work-horse
is killed and the job goes back to the front of its queue exactly as it was (status queued,
``retries_left`` unchanged, out of the StartedJobRegistry), so another worker, or this one's next
start, runs it again. Jobs are therefore written to be re-runnable from the start.

RQ internals used (everything else is RQ's public API), all in this module:

* ``Worker._start_scheduler`` is overridden because RQ builds its ``RQScheduler`` there and offers
  no setting for the class; the override mirrors RQ 2.x's body with :class:`PromptScheduler`.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import redis
from rq import Queue, Worker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.scheduler import RQScheduler

#: How often the scheduler process looks for a stop request or a dead worker between its rounds.
SCHEDULER_POLL_SECONDS = 0.1


class PromptScheduler(RQScheduler):
    """RQ's scheduler loop (same rounds, same locks), run so that it stops within
    ``SCHEDULER_POLL_SECONDS`` of a request instead of after its one-second sleep, and stops
    (releasing its locks) as soon as its worker is gone. RQ's own loop would run on forever
    under init after a SIGKILLed worker, refreshing the queue's scheduler lock so that no other
    worker could schedule."""

    stopping = False

    def request_stop(self, signum=None, frame=None) -> None:
        super().request_stop(signum, frame)
        self.stopping = True

    def work(self) -> None:
        """The scheduler process's loop (RQ forks it from the worker and calls this)."""
        # Recorded by multiprocessing in the worker before the fork, so a worker that died
        # before this line is still noticed. Not the parent's sentinel pipe: a work-horse
        # forked later inherits its write end and would keep it open after the worker died.
        parent = multiprocessing.parent_process()
        worker_pid = parent.pid if parent is not None else None
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        self.register_birth()
        while not self.stopping and not self._orphaned(worker_pid):
            if self.should_reacquire_locks:
                self.acquire_locks()
            self.heartbeat()
            self.enqueue_scheduled_jobs()
            self._pause(worker_pid)
        if self._orphaned(worker_pid):
            self.log.warning("Scheduler: its worker (pid %s) is gone; stopping", worker_pid)
        try:
            self.stop()
        except redis.RedisError as exc:  # Redis went first: the locks expire on their own
            self.log.warning("Scheduler: could not release its locks (%s); they expire in %s s",
                             exc, self.interval + 60)

    def _pause(self, worker_pid: int | None) -> None:
        deadline = time.monotonic() + self.interval
        while not self.stopping and not self._orphaned(worker_pid) and time.monotonic() < deadline:
            time.sleep(SCHEDULER_POLL_SECONDS)

    @staticmethod
    def _orphaned(worker_pid: int | None) -> bool:
        return worker_pid is not None and os.getppid() != worker_pid


class PromptWorker(Worker):
    """RQ's forking worker with a prompt stop (module docstring) and :class:`PromptScheduler`."""

    handing_back = False

    def request_stop(self, signum, frame) -> None:
        """SIGTERM/SIGINT: RQ's warm shutdown (an idle worker stops at once, the scheduler stops),
        then a running job is handed back instead of waited for."""
        super().request_stop(signum, frame)  # raises StopRequested when idle
        self.handing_back = True
        self.log.info("Worker %s: stopping; the running job goes back to its queue", self.name)
        self._kill_horse_if_any()

    def monitor_work_horse(self, job: Job, queue: Queue) -> None:
        if self.handing_back:  # the signal came between taking the job and forking its horse
            self._kill_horse_if_any()
        super().monitor_work_horse(job, queue)

    def handle_job_failure(self, job: Job, queue: Queue, started_job_registry=None, exc_string: str = "") -> None:
        """RQ calls this for the horse we killed: hand the job back rather than fail or retry it."""
        if self.handing_back and not self.is_horse:
            self.hand_back(job, queue)
            return
        super().handle_job_failure(job, queue, started_job_registry=started_job_registry, exc_string=exc_string)

    def hand_back(self, job: Job, queue: Queue) -> None:
        """Put ``job`` back at the front of ``queue`` as it was before this run, in one transaction
        with removing this run from the StartedJobRegistry (either alone would lose or double it)."""
        try:
            job.refresh()  # what the horse saved (meta) is kept, not overwritten by our copy
            exists = True
        except NoSuchJobError:  # deleted meanwhile: nothing to run again
            exists = False
        with self.connection.pipeline() as pipeline:
            if exists:
                queue.enqueue_job(job, pipeline=pipeline, at_front=True)
            self.cleanup_execution(job, pipeline=pipeline)
            pipeline.execute()
        if exists:
            self.log.warning("Worker %s: job %s handed back to queue %s (no attempt spent)",
                             self.name, job.id, queue.name)

    def _kill_horse_if_any(self) -> None:
        if self.horse_pid:
            self.kill_horse(signal.SIGKILL)

    def unsubscribe(self) -> None:
        """RQ unsubscribes first and then stops its pubsub thread: when the reply wakes the thread
        before the stop, it waits out its 60 s read and RQ's join its 1 s. Stopped first, the
        reply ends the thread at once."""
        if self.pubsub_thread:
            self.pubsub_thread.stop()
            self.pubsub.unsubscribe()
            self.pubsub_thread.join(timeout=1)
            self.pubsub.close()

    # RQ internal (module docstring): the one place RQ creates its scheduler.
    def _start_scheduler(self, burst: bool = False, logging_level: str | None = "INFO",
                         date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
                         log_format: str = DEFAULT_LOGGING_FORMAT) -> None:
        self.scheduler = PromptScheduler(
            self.queues, connection=self.connection, serializer=self.serializer,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format, log_format=log_format)
        self.scheduler.acquire_locks()
        if not self.scheduler.acquired_locks:
            return
        if not burst:
            self.scheduler.start()
            return
        try:  # a burst worker schedules once, in its own process
            self.scheduler.register_birth()
            self.scheduler.enqueue_scheduled_jobs()
        finally:
            self.scheduler.release_locks()
            self.scheduler.register_death()

