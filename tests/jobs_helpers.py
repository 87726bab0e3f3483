"""Tiny job functions the process tests enqueue; importable by a worker started from the repo root."""

from __future__ import annotations

import os
from pathlib import Path


def touch(app, path: str) -> str:
    """Write the worker's pid and platform database name to ``path``: proof the job ran in an app."""
    Path(path).write_text(f"{os.getpid()} {app.extensions['aladdin'].db.platform_db_name}")
    return path
