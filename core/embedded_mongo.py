"""The installation's one embedded MongoDB wire-protocol server (``nx-27017`` over SQLite) under
the data dir: every process joins it through a plain ``mongodb://`` URI, the last to leave stops it.

Why a server process and not a library inside each process: a document store shared by several
processes through files (the litemongo store this replaces) cannot make compare-and-set, ``$inc``
or unique indexes atomic across them, and it sorted lists in Python. One server owns the SQLite
files; every process of the installation (``serve``, workers, one-off commands) talks to it with
pymongo exactly as to a production MongoDB, so embedded and production run one code path.

Lifecycle, as the embedded Redis (``core.embedded_redis``): processes hold a shared ``flock`` on
``users.lock`` while they use the server; ``start.lock`` serialises starting, joining and stopping.
The server never outlives the installation on any exit path: a watchdog thread inside it stops it
once no process holds ``users.lock`` (the kernel drops a SIGKILLed process's lock), and a process
that can upgrade to an exclusive lock on leaving knows it is last and stops it at once."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .embedded_server import SharedServer, wait_gone

START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0
#: How often the server's watchdog looks for remaining users, and how many idle looks stop it.
WATCH_INTERVAL = 1.0
IDLE_LOOKS = 2
HOST = "127.0.0.1"


class EmbeddedMongo(SharedServer):
    """Join (starting if needed) and leave (stopping if last) the data dir's document server."""

    def __init__(self, data_dir: Path | str):
        super().__init__()
        self.dir = Path(data_dir).absolute() / "docstore"
        self.data = self.dir / "data"
        self.pidfile = self.dir / "server.pid"
        self.portfile = self.dir / "server.port"
        self.logfile = self.dir / "server.log"

    # -- the server process ----------------------------------------------------------------

    def _prepare(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)

    def _owns(self, cmdline: list[str]) -> bool:
        return str(self.dir) in cmdline

    def _address(self) -> str:
        return f"mongodb://{HOST}:{self.port()}/"

    def port(self) -> int:
        return int(self.portfile.read_text().strip())

    def _start(self) -> None:
        """Start the server on a free loopback port; retried when another program takes the port
        between choosing it and binding it."""
        for _attempt in range(3):
            port = _free_port()
            for stale in (self.pidfile, self.portfile):
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()
            self.portfile.write_text(str(port))
            with open(self.logfile, "ab") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "core.embedded_mongo", str(self.dir), str(port)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                    cwd=str(Path(__file__).resolve().parent.parent))
            if _wait_ready(process, port, START_TIMEOUT):
                # nx-27017 writes its pid file itself; wait for it so pid() sees the server.
                deadline = time.monotonic() + START_TIMEOUT
                while self.pid() is None and time.monotonic() < deadline:
                    time.sleep(0.02)
                return
            if process.poll() is None:
                process.kill()
                process.wait()
        raise RuntimeError(f"the embedded document server did not start; see {self.logfile}")

    def _stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not wait_gone(pid, STOP_TIMEOUT):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_gone(pid, 5)
        with contextlib.suppress(FileNotFoundError):
            self.portfile.unlink()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _wait_ready(process: subprocess.Popen, port: int, timeout: float) -> bool:
    """Until the server answers ``ping`` on ``port`` (True) or its process ended (False)."""
    import pymongo

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        client = pymongo.MongoClient(HOST, port, serverSelectionTimeoutMS=200, connectTimeoutMS=200)
        try:
            client.admin.command("ping")
            return process.poll() is None
        except Exception:  # noqa: BLE001 - not listening yet
            time.sleep(0.05)
        finally:
            client.close()
    return False


# -- inside the server process ---------------------------------------------------------------


def _watch_users(directory: Path) -> None:
    """Stop this server once no process of the installation holds ``users.lock``.

    Holding ``start.lock`` while deciding (and until this process is gone) means a process that
    is joining either saw the server before the decision (and holds its shared lock, so the
    server stays) or sees it gone afterwards and starts a new one."""
    import threading

    def stop() -> None:
        with contextlib.suppress(FileNotFoundError):
            (directory / "server.port").unlink()
        os.kill(os.getpid(), signal.SIGTERM)  # nx-27017's own clean exit; start.lock held to the end
        time.sleep(STOP_TIMEOUT)
        os._exit(0)

    def watch() -> None:
        idle = 0
        while True:
            time.sleep(WATCH_INTERVAL)
            try:
                start_fd = os.open(directory / "start.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except FileNotFoundError:
                stop()  # the installation was removed: nobody can join it any more
            try:
                fcntl.flock(start_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(start_fd)  # someone is joining or leaving: look again later
                continue
            try:
                users_fd = os.open(directory / "users.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except FileNotFoundError:
                stop()
            try:
                fcntl.flock(users_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                idle += 1
            except BlockingIOError:
                idle = 0
            os.close(users_fd)
            if idle >= IDLE_LOOKS:
                stop()
            os.close(start_fd)

    threading.Thread(target=watch, name="aladdin-docstore-watch", daemon=True).start()


def _serve(directory: Path, port: int) -> None:
    """Run nx-27017 through its own command line on ``port``, one SQLite file per database."""
    from nx_27017.nx_27017 import main

    from .nx_compat import install

    install()
    _watch_users(directory)
    sys.argv = ["nx-27017", "--data-dir", str(directory / "data"), "--host", HOST, "-p", str(port),
                "--pid-file", str(directory / "server.pid"), "--log-file", str(directory / "server.log")]
    main()


if __name__ == "__main__":
    _serve(Path(sys.argv[1]), int(sys.argv[2]))
