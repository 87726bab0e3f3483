"""RQ workers: the ``worker`` command, and the one ``serve`` starts beside itself in embedded mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rq import Worker

from .jobs import DEFAULT_QUEUE, set_process_app


def run_worker(app, queues: list[str] | None = None, burst: bool = False, with_scheduler: bool = True) -> None:
    """Run an RQ worker for ``app`` (forks per job; jobs reconnect to MongoDB after the fork)."""
    set_process_app(app)
    ext = app.extensions["aladdin"]
    worker = Worker(queues or [DEFAULT_QUEUE], connection=ext.jobs.redis)
    worker.work(burst=burst, with_scheduler=with_scheduler)


def spawn_worker() -> subprocess.Popen:
    """Start ``cli.py worker`` as a child process with this process's environment."""
    cli = Path(__file__).resolve().parent.parent / "cli.py"
    return subprocess.Popen([sys.executable, str(cli), "worker"], env=dict(os.environ))
