"""Waiting in tests: poll a condition until a deadline, then fail saying what never happened.

A fixed ``time.sleep`` before an assertion is either too short on a loaded machine (the suite
runs four workers on two cores) or wasted time everywhere else; a deadline here only catches
hangs, so it is generous and never an assertion on speed."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")

TIMEOUT = 60.0  # seconds: long enough for a machine running two suites at once, short enough to report a hang

# The line ``cli.py serve`` prints once its port is bound (see core/cli/serving.py).
SERVING = re.compile(r"serving (http://127\.0\.0\.1:(\d+)) ")


def wait_for(condition: Callable[[], T], timeout: float = TIMEOUT, message: str | Callable[[], str] = "a condition",
             *, interval: float = 0.05, ignoring: tuple[type[BaseException], ...] = ()) -> T:
    """``condition()``'s first truthy value, asked every ``interval`` seconds.

    After ``timeout`` seconds it fails with ``message`` (a callable is asked only then, so it
    may read a server's log). Exceptions of the ``ignoring`` types count as "not yet" (a server
    still refusing connections); any other exception, such as an assertion in ``condition``
    that a process is still alive, fails at once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except ignoring:
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:g} s for {message() if callable(message) else message}")
        time.sleep(interval)  # the poll interval, not a guess at how long something takes


def served_url(proc: subprocess.Popen, log: Path, timeout: float = 90) -> str:
    """The URL a ``cli.py serve --port 0`` process printed to ``log`` once it had bound its port.

    The kernel picks the port as the server binds it: a port chosen in advance by the test is
    free only until the server binds it, and another xdist worker's server or outgoing
    connection may take it in between."""
    def printed() -> str | None:
        assert proc.poll() is None, f"serve exited early:\n{log.read_text()}"
        found = SERVING.search(log.read_text()) if log.exists() else None
        return found.group(1) if found else None

    return wait_for(printed, timeout, lambda: f"serve to print its URL:\n{log.read_text()}", interval=0.1)
