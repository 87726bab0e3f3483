"""Harness for the realtime end-to-end tests: real server processes, real Socket.IO clients."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import socketio
from pycrdt import Doc, Encoder, Text, create_sync_message, create_update_message, handle_sync_message

from core.app import create_app
from core.compat.socketio import in_arrival_order
from core.content import SYSTEM
from core.settings import Settings
from tests.installing import npm_ci
from tests.waiting import TIMEOUT, served_url, wait_for

ROOT = Path(__file__).resolve().parents[2]
JS_DIR = ROOT / "tests" / "js"
NS = "/collab"


# The admin read rules of issue 11's examples, for installations whose reads are governed.
READ_RULES = """\
# viewers never see scenes
denied(actor: User, "content:view", doc: Content) if doc.collection = "scenes" and actor.role_in(doc.project) = "viewer";
# nobody but the owner sees documents marked secret
denied(actor: User, "content:view", doc: Content) if doc.content.secret = true and actor.role_in(doc.project) != "owner";
"""


def write_read_rules(directory: Path, rules: str = READ_RULES) -> Path:
    """An admin policy directory holding ``reads.polar``; pass it as ``ALADDIN_POLICY_DIR``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "reads.polar").write_text(rules)
    return directory


def awareness_update(client_id: int, state: dict | None, clock: int = 1) -> bytes:
    """A y-protocols awareness update announcing one client's state."""
    import json

    encoder = Encoder()
    encoder.write_var_uint(1)
    encoder.write_var_uint(client_id)
    encoder.write_var_uint(clock)
    encoder.write_var_string(json.dumps(state))
    return encoder.to_bytes()


def installation_env(tmp: Path, redis_url: str, **extra: str) -> dict:
    """The ALADDIN_* variables one installation's processes (servers and this test) share."""
    env = {"ALADDIN_REDIS_URL": redis_url,  # the document store: the embedded server under the data dir
           "ALADDIN_DATA_DIR": str(tmp / "data"),
           "ALADDIN_SECRET_KEY": "rt-secret-" + uuid.uuid4().hex,
           "ALADDIN_PLATFORM_DB": "rt_" + uuid.uuid4().hex[:8],
           "ALADDIN_REALTIME_SWEEP_SECONDS": "0.5",
           # A closed socket's user leaves presence at once: each test sees its own arrivals and
           # departures, not a previous test's user still within its grace (tested on its own).
           "ALADDIN_REALTIME_PRESENCE_GRACE_SECONDS": "0"}
    env.update(extra)
    return env


class Server:
    """``cli.py serve --no-worker --port 0`` as a subprocess: it binds a port the kernel picks
    and prints its URL (``url`` and ``port`` are known once :meth:`start` returns)."""

    def __init__(self, env: dict, log_dir: Path):
        self.env = env
        self.port = self.url = None
        self.log_path = log_dir / f"server-{uuid.uuid4().hex[:8]}.log"
        self.proc = None

    def start(self) -> "Server":
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("ALADDIN_")}
        full_env.update(self.env)
        full_env["PYTHONUNBUFFERED"] = "1"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "cli.py", "serve", "--no-worker", "--port", "0"],
                                     cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self.url = served_url(self.proc, self.log_path)
            self.port = int(self.url.rsplit(":", 1)[1])
            wait_for(self._healthy, 60, lambda: f"the server to answer /healthz: {self.log()}", interval=0.2,
                     ignoring=(OSError,))
        except BaseException:
            self.stop()  # never leave a server that did not come up running
            raise
        return self

    def _healthy(self) -> bool:
        assert self.alive(), f"server exited: {self.log()}"
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as resp:
                return resp.status == 200
        except urllib.error.HTTPError as exc:
            return exc.code == 503  # up, without a worker (serve --no-worker): degraded, not down

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()


class Collab:
    """A python-socketio ``Client`` on ``/collab`` that records every event it receives."""

    def __init__(self, url: str, token: str | None, connect: bool = True):
        self.client = socketio.Client(reconnection=False)
        in_arrival_order(self.client)  # a Yjs frame's attachment is never read before its header
        self.events: "queue.Queue[tuple[str, object]]" = queue.Queue()
        self.seen: list[tuple[str, object]] = []
        self._lock = threading.Lock()
        self.client.on("*", self._record, namespace=NS)
        if connect:
            self.client.connect(url, namespaces=[NS], auth={"token": token}, transports=["websocket"],
                                wait_timeout=60)

    def _record(self, event, data=None):
        with self._lock:
            self.seen.append((event, data))
        self.events.put((event, data))

    def call(self, event: str, data=None, timeout: float = TIMEOUT):
        return self.client.call(event, data, namespace=NS, timeout=timeout)

    def emit(self, event: str, data=None) -> None:
        self.client.emit(event, data, namespace=NS)

    def wait_for(self, event: str, predicate=lambda data: True, timeout: float = TIMEOUT):
        """The first recorded (or later) ``event`` matching ``predicate``: one that arrived
        before the call counts too, so no event is missed for want of a listener."""
        deadline = time.monotonic() + timeout
        with self._lock:
            for name, data in self.seen:
                if name == event and predicate(data):
                    return data
        while time.monotonic() < deadline:
            try:
                name, data = self.events.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if name == event and predicate(data):
                return data
        raise AssertionError(f"no {event!r} event matched; got {[n for n, _ in self.seen]}")

    def received(self, event: str) -> list:
        with self._lock:
            return [d for n, d in self.seen if n == event]

    def close(self) -> None:
        try:
            self.client.disconnect()
        except Exception:
            pass


class YClient(Collab):
    """A Python Yjs peer speaking y-protocols sync over the ``yjs`` event (pycrdt)."""

    def __init__(self, url: str, token: str, ref: dict):
        self.doc = Doc()
        self.ref = ref
        self.synced = threading.Event()
        super().__init__(url, token)
        self.client.on("yjs", self._on_yjs, namespace=NS)

    def _on_yjs(self, data):
        message = bytes(data["message"])
        reply = handle_sync_message(message[1:], self.doc)
        if reply is not None:
            self.emit("yjs", {**self.ref, "message": reply})
        # Recorded once applied and answered: a test that saw the frame sees its effect, and a
        # call it makes next is sent after the reply (one socket, one ordered queue).
        self._record("yjs", data)
        if message[1] == 1:
            self.synced.set()

    def sync(self, timeout: float = 15) -> dict:
        ack = self.call("yjs", {**self.ref, "message": create_sync_message(self.doc)})
        assert ack.get("ok") is True and isinstance(ack.get("version"), int), ack
        assert self.synced.wait(timeout), "no sync step 2 from the server"
        return ack

    def edit(self, change) -> dict:
        """Run ``change(doc)`` locally and send the resulting update; returns the server's ack."""
        before = self.doc.get_state()
        change(self.doc)
        update = self.doc.get_update(before)
        return self.call("yjs", {**self.ref, "message": create_update_message(update)})

    def text(self, name: str = "text") -> str:
        return str(self.doc.get(name, type=Text))


ROLES = ("owner", "editor", "collaborator", "viewer")


class Installation:
    """The test process's view of the installation the servers run (same document server, same Redis)."""

    def __init__(self, env: dict):
        self.env = env
        self.app = create_app(Settings.from_env(env), load_entry_points=False)
        self.ctx = self.app.app_context()
        self.ctx.push()
        from core.models import ApiToken, User
        from core.projects import add_member, create_project

        self.users = {}
        for role in (*ROLES, "outsider"):
            user = User(email=f"{role}@example.com", name=role.capitalize()).save()
            user.token = ApiToken.issue(user)
            self.users[role] = user
        self.project = create_project(self.app, self.users["owner"], "Realtime Film", "realtime-film")
        for role in ("editor", "collaborator", "viewer"):
            add_member(self.app, self.project, self.users[role], role, self.users["owner"])
        self.pid = str(self.project.id)

    def token(self, role: str) -> str:
        return self.users[role].token

    def create_doc(self, role: str = "owner", collection: str = "scenes", **content) -> str:
        doc = self.app.extensions["aladdin"].content.create(
            self.project, collection, {"content": content or {"title": "Opening"}}, self.users[role])
        return str(doc["_id"])

    def get_doc(self, doc_id: str, collection: str = "scenes") -> dict:
        return self.app.extensions["aladdin"].content.get(self.project, collection, doc_id, reader=SYSTEM)

    def close(self):
        self.ctx.pop()


NOT_FOUND = {"error": "not_found", "message": "document not found"}


def opened(server, token: str, document: dict, clients) -> YClient:
    """A Yjs peer on ``server`` that joined the project and synced ``document`` (closed with
    ``clients``)."""
    client = YClient(server.url, token, document)
    clients.append(client)
    assert client.call("join", {"projectId": document["projectId"]})["ok"]
    client.sync()
    return client


def until_refused(client, document: dict, timeout: float = TIMEOUT) -> dict:
    """The client's Yjs frames on ``document`` come to be refused exactly as frames on a missing
    document are; returns that refusal. A role or read-rule change reaches the server through
    Redis, so the first frames after it may still be answered: as any sync step 1 is, with
    ``ok`` and the stored ``version``."""
    def refused() -> dict | None:
        ack = client.call("yjs", {**document, "message": create_sync_message(client.doc)})
        if ack.get("ok") is True:
            return None
        assert ack == NOT_FOUND, ack
        return ack

    return wait_for(refused, timeout, message="the document's frames to be refused", interval=0.1)


def start_pair(installation) -> list["Server"]:
    """Two server processes of one installation (A and B), started one after the other (the
    first applies the installation's start-up work, such as migrations, before the second comes)."""
    pair = [Server(installation.env, installation.tmp).start()]
    try:
        pair.append(Server(installation.env, installation.tmp).start())
    except BaseException:
        pair[0].stop()  # a failed start must not leave the first server running
        raise
    return pair


def installed(tmp_path_factory, redis_server, name: str, **env: str):
    """For a module fixture (``yield from``): an installation in a fresh folder, closed after."""
    tmp = tmp_path_factory.mktemp(name)
    inst = Installation(installation_env(tmp, redis_server, **env))
    inst.tmp = tmp
    try:
        yield inst
    finally:
        inst.close()


def serving_pair(installation):
    """For a module fixture (``yield from``): :func:`start_pair`, both stopped after."""
    pair = start_pair(installation)
    try:
        yield pair
    finally:
        for server in pair:
            server.stop()


def close_all(clients) -> None:
    """Close clients in parallel: each websocket close waits for the server's close frame."""
    threads = [threading.Thread(target=c.close) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)


def npm_ready() -> str | None:
    """None when the JS interop client is installed; otherwise why it cannot run."""
    return npm_ci(JS_DIR)
