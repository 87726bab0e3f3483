"""RQ workers: the ``worker`` command and the one function every job runs (``execute``).

This module sits above the app factory: a work-horse builds its app here, so ``core.jobs``
(which the app uses) never needs to import the app."""

from __future__ import annotations

import importlib
import os
from typing import Any

from .jobs import DEFAULT_QUEUE, JOB_MONITORING_INTERVAL, MAINTENANCE_INTERVAL, SERVE_PID_VARIABLE, WORKER_TTL
from .worker_shutdown import PromptWorker

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
    """Run ``func`` ("package.module:function") as ``function(app, *args)`` in this process's app."""
    module_name, _, attr = func.partition(":")
    target = getattr(importlib.import_module(module_name), attr)
    app = process_app()
    with app.app_context():
        return target(app, *args, **kwargs)


def run_worker(app, queues: list[str] | None = None, burst: bool = False, with_scheduler: bool = True) -> None:
    """Run an RQ worker for ``app`` (forks per job; jobs reconnect to MongoDB after the fork).

    SIGTERM or Ctrl-C stops it promptly, handing a running job back (``core.worker_shutdown``)."""
    set_process_app(app)
    ext = app.extensions["aladdin"]
    if os.environ.get(SERVE_PID_VARIABLE, "").isdigit():
        _stop_when_orphaned(int(os.environ[SERVE_PID_VARIABLE]))
    worker = PromptWorker(queues or [DEFAULT_QUEUE], connection=ext.jobs.redis, worker_ttl=WORKER_TTL,
                          job_monitoring_interval=JOB_MONITORING_INTERVAL, maintenance_interval=MAINTENANCE_INTERVAL)
    try:
        worker.work(burst=burst, with_scheduler=with_scheduler)
    finally:
        app.extensions["aladdin"].close()


def _stop_when_orphaned(parent_pid: int) -> None:
    """serve's worker lives in its own process group (so serve can stop what it leaves behind);
    should serve die without stopping it (SIGKILL), the worker stops here as on SIGTERM."""
    import signal
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="aladdin-orphan-watch", daemon=True).start()
