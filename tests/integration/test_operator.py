"""An operator's view of ``serve``, ``worker`` and one-off commands on embedded defaults: the
installation's one Redis server (counted by command line, socket path and environment before
and after each command), a clean shutdown, a supervised worker and ``/healthz`` liveness, the
offline docs pages, migrations at start, the start-up banner and a taken port."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import psutil
import pytest

from core.embedded_redis import socket_path
from tests.integration.test_processes import ROOT, STARTUP_DEADLINE, Server, _alive, _embedded_env
from tests.waiting import wait_for


def redis_servers(data_dir: Path) -> list[psutil.Process]:
    """redis-server processes of this installation: listening under its data dir (the command
    line Redis shows names the socket), or started by one of its processes (their environment
    carries its ALADDIN_DATA_DIR, which is how a stray temp-dir server would still be caught)."""
    found = []
    sock = str(socket_path(data_dir))
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if not (proc.info["name"] or "").startswith("redis-server"):
                continue
            cmdline = " ".join(proc.info["cmdline"] or ())
            if sock in cmdline or str(data_dir) in cmdline or proc.environ().get("ALADDIN_DATA_DIR") == str(data_dir):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def cli(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", *args], cwd=ROOT, env={**_embedded_env(data_dir), **env},
                          capture_output=True, text=True, timeout=STARTUP_DEADLINE)


def worker_children(proc) -> list[psutil.Process]:
    """``serve``'s living worker children (a dead one is a zombie until serve reaps it)."""
    found = []
    for child in family(proc):
        try:
            if child.ppid() == proc.pid and "worker" in child.cmdline():
                found.append(child)
        except psutil.Error:
            continue
    return found


def family(proc) -> list[psutil.Process]:
    try:
        return psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def wait_until(predicate, what: str, timeout: float = STARTUP_DEADLINE, log: Path | None = None):
    """:func:`~tests.waiting.wait_for` with serve's start-up deadline, and its log on failure."""
    return wait_for(predicate, timeout, lambda: what + (f"\n{log.read_text()}" if log else ""), interval=0.2)


@pytest.fixture
def servers():
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def start(servers, data_dir: Path, worker: bool, *args: str, **env: str) -> Server:
    server = Server(data_dir, worker, *args, **env)
    servers.append(server)
    server.wait_ready(worker)
    return server


def test_one_redis_per_installation_and_none_left_after_serve_worker_and_cli(tmp_path, servers):
    import socketio

    data = tmp_path / "data"
    assert redis_servers(data) == []
    created = cli(data, "users", "create", "op@example.com")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert redis_servers(data) == [], "a one-off command left its Redis running"

    server = start(servers, data, True)
    assert len(redis_servers(data)) == 1
    listed = cli(data, "users", "list")
    assert listed.returncode == 0 and "op@example.com" in listed.stdout, listed.stderr
    second = subprocess.Popen([sys.executable, "cli.py", "worker"], cwd=ROOT, env=server.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: len([w for w in _workers(server)]) >= 2, "the second worker to heartbeat")
        assert len(redis_servers(data)) == 1  # the worker and its scheduler joined the same server
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    finally:
        if second.poll() is None:
            second.kill()
    assert len(redis_servers(data)) == 1  # the server still uses it

    # A realtime client, so the bus listener is running when Redis goes away at shutdown.
    client = socketio.Client(reconnection=False)
    client.connect(server.url, namespaces=["/collab"], auth={"token": token}, transports=["websocket"],
                   wait_timeout=60)
    client.disconnect()
    tree = family(server.proc)
    assert tree, "serve runs its worker as a child"
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=90) == 0, server.log.read_text()
    log = server.log.read_text()
    assert redis_servers(data) == [], log
    assert [p.pid for p in tree if _alive(p.pid)] == [], "a worker or scheduler outlived serve"
    assert "Traceback" not in log and "bus listener failed" not in log, log
    # One banner, printed once, and neither of the stock warnings.
    banners = [line for line in log.splitlines() if line.startswith("Aladdin ")]
    assert len(banners) == 1 and f"serving {server.url}" in banners[0], log
    assert "development server" not in log and "production deployment" not in log


def _workers(server: Server) -> list[str]:
    import redis
    from rq import Worker

    conn = redis.Redis(unix_socket_path=str(socket_path(server.data_dir)))
    try:
        return [w.name for w in Worker.all(connection=conn)]
    finally:
        conn.close()


def test_taken_port_is_one_error_line_and_a_non_zero_exit(tmp_path):
    data = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(data, "serve", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: address already in use (another server running? choose --port)"]
    assert "Aladdin" not in result.stdout
    assert redis_servers(data) == []


def test_serve_restarts_a_dead_worker_and_healthz_reports_liveness(tmp_path, servers):
    data = tmp_path / "data"
    web_only = start(servers, tmp_path / "data-a", False)
    r = web_only.session.get(web_only.url + "/healthz")
    assert r.status_code == 503 and r.json()["status"] == "degraded"
    assert r.json()["checks"]["worker"].startswith("no worker heartbeat") and "aladdin worker" in r.json()["checks"]["worker"]
    worker = subprocess.Popen([sys.executable, "cli.py", "worker"], cwd=ROOT, env=web_only.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: web_only.session.get(web_only.url + "/healthz").status_code == 200, "a healthy worker")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
        assert web_only.session.get(web_only.url + "/healthz").status_code == 503  # it said goodbye
    finally:
        if worker.poll() is None:
            worker.kill()

    server = start(servers, tmp_path / "data-b", True)
    first = worker_children(server.proc)
    assert len(first) == 1
    group = psutil.Process(first[0].pid)
    doomed = [first[0]] + group.children(recursive=True)  # the worker and its RQ scheduler
    import os

    os.killpg(first[0].pid, signal.SIGKILL)
    replacement = wait_until(
        lambda: [c for c in worker_children(server.proc) if c.pid != first[0].pid], "serve to restart its worker",
        log=server.log)
    assert len(replacement) == 1
    wait_until(lambda: server.session.get(server.url + "/healthz").status_code == 200, "the new worker's heartbeat")
    assert [p.pid for p in doomed if _alive(p.pid)] == []
    assert re.search(r"embedded worker \(pid \d+\) exited with code -9; restarting", server.log.read_text())
    # The new worker runs jobs.
    import redis
    from rq import Queue

    from core.jobs import DEFAULT_QUEUE
    from core.worker import execute

    conn = redis.Redis(unix_socket_path=str(socket_path(server.data_dir)))
    target = tmp_path / "ran.txt"
    Queue(DEFAULT_QUEUE, connection=conn).enqueue(execute, "tests.jobs_helpers:touch", str(target))
    wait_until(target.exists, "the restarted worker to run a job", log=server.log)
    conn.close()
    assert int(target.read_text().split()[0]) != first[0].pid


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])


def test_docs_pages_load_every_asset_from_the_server_itself(tmp_path, servers):
    server = start(servers, tmp_path / "data", False)
    for page, expected in (("/api/v1/docs", "swagger-ui-bundle.js"), ("/api/v1/redoc", "redoc.standalone.js")):
        r = server.session.get(server.url + page)
        assert r.status_code == 200, page
        parser = _Assets()
        parser.feed(r.text)
        assert any(u.endswith(expected) for u in parser.urls), parser.urls
        for ref in parser.urls:
            url = urljoin(server.url + page, ref)
            assert url.startswith(server.url + "/"), f"{page} loads {ref} from elsewhere"
            asset = server.session.get(url)
            assert asset.status_code == 200 and len(asset.content) > 1000, url
        assert "cdn" not in r.text.lower() and "https://" not in r.text
    assert server.session.get(server.url + "/api/v1/docs-assets/swagger-ui/../../../etc/passwd").status_code == 404
    spec = server.session.get(server.url + "/api/v1/openapi.json").json()
    assert not any("docs-assets" in path for path in spec["paths"])


def test_serve_migrates_embedded_stores_and_refuses_a_server_with_pending_migrations(tmp_path, servers):
    """Embedded defaults: ``serve`` applies what is pending and says so. Any other MongoDB URI is
    the operator's database: ``serve`` refuses to start while migrations are pending. The refusal
    is shown on ``mongomock://`` -- to Aladdin just another non-embedded URI, and one that needs
    no MongoDB server; being per-process, it is fresh (everything pending) at every start, which
    is also why this test uses ``serve --migrate`` rather than ``aladdin migrate`` to get past it."""
    data = tmp_path / "data"
    server = start(servers, data, False)
    log = server.log.read_text()
    assert "migrated: applied m0001_platform_indexes to aladdin" in log
    assert log.index("migrated:") < log.index("Aladdin ")
    status = cli(data, "migrate", "--status")
    assert status.stdout.strip().splitlines()[-1] == "all migrations applied", status.stdout

    other = tmp_path / "other"
    refused = cli(other, "serve", "--port", "0", ALADDIN_MONGODB_URI="mongomock://operators-db")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "error: 2 pending migrations (m0001_platform_indexes on aladdin, m0004_token_user_ids on aladdin); "
        "run `aladdin migrate` first (or start with `serve --migrate`)"]
    assert "Aladdin" not in refused.stdout and redis_servers(other) == []
    migrated = start(servers, other, False, "--migrate", ALADDIN_MONGODB_URI="mongomock://operators-db")
    assert "migrated: applied m0001_platform_indexes to aladdin" in migrated.log.read_text()


def test_serve_demo_shows_the_same_tokens_on_every_start(tmp_path, servers):
    data = tmp_path / "data"
    tokens = []
    for _ in range(2):
        server = start(servers, data, False, "--demo")
        out = server.log.read_text()
        tokens.append([line.split("token ")[1].strip() for line in out.splitlines() if " token " in line])
        r = server.session.get(server.url + "/api/v1/projects/demo-film",
                               headers={"Authorization": f"Bearer {tokens[-1][0]}"})
        assert r.status_code == 200 and r.json()["role"] == "owner"
        # A page from a local dev server may call the demo; any other origin may not.
        for origin, allowed in (("http://localhost:5173", True), ("https://elsewhere.example", False)):
            pre = server.session.options(server.url + "/api/v1/projects/demo-film/content/scenes",
                                         headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                                                  "Access-Control-Request-Headers": "authorization"})
            assert pre.status_code == 200
            assert (pre.headers.get("Access-Control-Allow-Origin") == origin) is allowed, pre.headers
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=60) == 0
        assert redis_servers(data) == []
    assert tokens[0] == tokens[1] and len(tokens[0]) == 2


def test_a_killed_serve_leaves_neither_its_worker_nor_redis(tmp_path, servers):
    """SIGKILL gives serve no chance to stop anything: its worker notices it is orphaned and
    shuts down warm, and being the installation's last process it stops the embedded Redis."""
    data = tmp_path / "data"
    server = start(servers, data, True)
    tree = family(server.proc)
    assert worker_children(server.proc) and len(redis_servers(data)) == 1
    server.proc.kill()
    server.proc.wait(timeout=30)
    wait_until(lambda: not [p for p in tree if _alive(p.pid)] and not redis_servers(data),
               "the orphaned worker and Redis to stop", timeout=60, log=server.log)


def test_ctrl_c_on_the_quick_start_leaves_no_process_behind(tmp_path, servers):
    """The README's quick start stopped the way a person stops it: Ctrl-C (SIGINT to serve)."""
    data = tmp_path / "data"
    server = start(servers, data, True)
    tree = family(server.proc)
    assert tree and len(redis_servers(data)) == 1
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(timeout=90) in (0, 130), server.log.read_text()
    log = server.log.read_text()
    assert redis_servers(data) == [], log
    assert [p.pid for p in tree if _alive(p.pid)] == [], "a worker or scheduler outlived serve"
    assert "Traceback" not in log, log


def test_a_process_whose_data_dir_was_removed_still_stops_its_redis(tmp_path):
    """A bench or test that deletes its temporary installation before exiting: the last process
    still stops the Redis it started (by the pid it saw when it joined), and says nothing."""
    data = tmp_path / "gone" / "data"
    script = ("import shutil, sys\n"
              "from core.app import create_app\n"
              "app = create_app(load_entry_points=False)\n"
              "app.extensions['aladdin'].jobs.redis.ping()\n"
              f"shutil.rmtree({str(tmp_path / 'gone')!r})\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=_embedded_env(data),
                          capture_output=True, text=True, timeout=STARTUP_DEADLINE)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert wait_until(lambda: not [p for p in psutil.process_iter(["cmdline"])
                                   if str(data) in " ".join(p.info["cmdline"] or ())],
                      "the removed installation's Redis to stop", timeout=60)
