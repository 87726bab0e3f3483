"""A server shared by every process of one installation (the embedded Redis and document
server): the first process to join starts it, the last to leave stops it.

The processes hold a shared ``flock`` on ``users.lock`` while they use the server; the kernel
drops a dead process's lock, so a process that can upgrade to an exclusive lock on leaving knows
it is the last one. ``start.lock`` serialises starting, joining and stopping."""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import time
from pathlib import Path

import psutil


class SharedServer:
    """Join and leave; a subclass sets ``dir`` and ``pidfile`` and says how to start, stop,
    recognise and address its server."""

    dir: Path
    pidfile: Path

    def __init__(self) -> None:
        self._users_fd: int | None = None
        self._joined_pid: int | None = None
        self._server_pid: int | None = None

    def join(self) -> str:
        """Use the server from now until :meth:`leave` (or this process's exit); its address."""
        self._prepare()
        with flock(self.dir / "start.lock"):
            fd = os.open(self.dir / "users.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_SH)
            self._users_fd, self._joined_pid = fd, os.getpid()
            if self.pid() is None:
                try:
                    self._start()
                except BaseException:
                    self._users_fd = None
                    os.close(fd)
                    raise
            self._server_pid = self.pid()
            address = self._address()
        atexit.register(self.leave)
        return address

    def leave(self) -> bool:
        """Stop using the server; stops it when no other process uses it. True if it stopped it."""
        if self._users_fd is None or self._joined_pid != os.getpid():
            return False  # never joined, left already, or a forked child of the process that joined
        fd, self._users_fd = self._users_fd, None
        with flock(self.dir / "start.lock"):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            try:
                self._stop()
            finally:
                os.close(fd)
        return True

    def pid(self) -> int | None:
        """The running server's pid, or None (a stale pidfile from a killed server is ignored).

        When the data dir was removed under a running installation (a test or bench deleting
        its temporary dir), the pid this process saw when it joined still identifies it."""
        try:
            try:
                pid = int(self.pidfile.read_text().strip())
            except FileNotFoundError:
                pid = self._server_pid
                if pid is None:
                    return None
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE or not self._owns(process.cmdline()):
                return None
            return pid
        except (OSError, ValueError, psutil.Error):
            return None

    # -- what a subclass says ---------------------------------------------------------------

    def _prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    def _owns(self, cmdline: list[str]) -> bool:
        """Whether a process with ``cmdline`` is this installation's server."""
        raise NotImplementedError

    def _address(self) -> str:
        raise NotImplementedError

    def _start(self) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError


@contextlib.contextmanager
def flock(path: Path):
    """An exclusive lock on ``path``; none when the data dir is gone (no process can start a
    server there any more)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def wait_gone(pid: int, timeout: float) -> bool:
    """Whether ``pid`` exited within ``timeout``. A zombie counts as gone: a daemonized server's
    parent is init, which may take a second or more to reap it (``psutil.Process.wait`` waits for that)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
