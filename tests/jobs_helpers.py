"""Tiny job functions the process tests enqueue; importable by a worker started from the repo root."""

from __future__ import annotations

import os
import time
from pathlib import Path


def touch(app, path: str) -> str:
    """Write the worker's pid and platform database name to ``path``: proof the job ran in an app."""
    Path(path).write_text(f"{os.getpid()} {app.extensions['aladdin'].db.platform_db_name}")
    return path


def hold(app, started: str, release: str, done: str, limit: float = 300.0) -> str:
    """A long job the shutdown tests stop midway: append this run's pid to ``started``, wait
    until ``release`` exists (at most ``limit`` seconds), then write the pid to ``done``."""
    with open(started, "a") as runs:
        runs.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + limit
    while not Path(release).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{release} did not appear within {limit} s")
        time.sleep(0.05)
    Path(done).write_text(str(os.getpid()))
    return done
