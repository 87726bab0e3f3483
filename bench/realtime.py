"""Cursor fan-out latency: 50 clients in one room on one Aladdin server vs a bare python-socketio relay.

``python -m bench.realtime [--rounds N] [--clients N] [--repeat N]``; each round measures both
servers back to back; prints every round, then the median round's p99 ratio as the headline."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import socketio

ROOT = Path(__file__).resolve().parents[1]
NS = "/collab"


def run_relay(port: int) -> None:
    """The baseline: a plain ``socketio.Server`` relaying cursors, on werkzeug's threaded server."""
    from werkzeug.serving import run_simple

    sio = socketio.Server(async_mode="threading")

    @sio.on("join", namespace=NS)
    def join(sid, data):
        sio.enter_room(sid, "room", namespace=NS)
        return {"ok": True}

    @sio.on("cursor_move", namespace=NS)
    def cursor_move(sid, data):
        payload = {**data, "userId": sid, "timestamp": int(time.time() * 1000)}
        sio.emit("cursor_move", payload, to="room", skip_sid=sid, namespace=NS)
        return {"ok": True}

    run_simple("127.0.0.1", port, socketio.WSGIApp(sio), threaded=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    import urllib.error
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # answering at all is enough
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


class Room:
    """N connected clients; measures how long each cursor event takes to reach the others."""

    def __init__(self, url: str, tokens: list[str | None], project_id: str, document_id: str):
        self.project_id, self.document_id = project_id, document_id
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self.pending: dict[int, int] = {}
        self.done: dict[int, threading.Event] = {}
        self.clients = []
        for token in tokens:
            client = socketio.Client(reconnection=False)
            client.on("cursor_move", self._receive, namespace=NS)
            client.connect(url, namespaces=[NS], auth={"token": token} if token else None,
                           transports=["websocket"], wait_timeout=10)
            ack = client.call("join", {"projectId": project_id}, namespace=NS, timeout=10)
            assert ack.get("ok"), ack
            self.clients.append(client)

    def _receive(self, data):
        now = time.perf_counter()
        position = data["position"]
        with self.lock:
            seq = position["seq"]
            if position["measure"]:
                self.latencies.append(now - position["t"])
            self.pending[seq] -= 1
            if self.pending[seq] == 0:
                self.done[seq].set()

    def run(self, rounds: int, warmup: int) -> None:
        n = len(self.clients)
        for seq in range(warmup + rounds):
            sender = self.clients[seq % n]
            with self.lock:
                self.pending[seq] = n - 1
                self.done[seq] = threading.Event()
            sender.emit("cursor_move", {"projectId": self.project_id, "documentId": self.document_id,
                                        "position": {"seq": seq, "t": time.perf_counter(),
                                                     "measure": seq >= warmup}}, namespace=NS)
            if not self.done[seq].wait(10):
                raise RuntimeError(f"cursor {seq} reached only {n - 1 - self.pending[seq]} of {n - 1} clients")

    def close(self) -> None:
        threads = [threading.Thread(target=c.disconnect) for c in self.clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of both servers; the median is the result")
    parser.add_argument("--relay", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.relay:
        run_relay(args.relay)
        return

    tmp = Path(tempfile.mkdtemp(prefix="aladdin-bench-realtime-"))
    env = {"ALADDIN_DATA_DIR": str(tmp / "data"), "ALADDIN_SECRET_KEY": "bench-realtime",
           "ALADDIN_PLATFORM_DB": "bench_realtime"}
    sys.path.insert(0, str(ROOT))
    from core.app import create_app
    from core.models import ApiToken, User
    from core.projects import add_member, create_project
    from core.settings import Settings

    app = create_app(Settings.from_env(env), load_entry_points=False)  # starts the embedded Redis
    with app.app_context():
        users = [User(email=f"user{i}@bench.example", name=f"User {i}").save() for i in range(args.clients)]
        tokens = [ApiToken.issue(u) for u in users]
        project = create_project(app, users[0], "Bench Film", "bench-film")
        for user in users[1:]:
            add_member(app, project, user, "editor", users[0])
        doc = app.extensions["aladdin"].content.create(project, "scenes", {"content": {"title": "x"}}, users[0])
    project_id, document_id = str(project.id), str(doc["_id"])

    base_env = {k: v for k, v in os.environ.items() if not k.startswith("ALADDIN_")}
    aladdin_port, relay_port = free_port(), free_port()
    aladdin = subprocess.Popen([sys.executable, "cli.py", "serve", "--no-worker", "--port", str(aladdin_port)],
                               cwd=ROOT, env={**base_env, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    relay = subprocess.Popen([sys.executable, "-m", "bench.realtime", "--relay", str(relay_port)], cwd=ROOT,
                             env=base_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ratios = []  # per round: (p50 ratio, p99 ratio), the two servers measured back to back
    try:
        wait_http(f"http://127.0.0.1:{aladdin_port}/healthz", aladdin)
        wait_http(f"http://127.0.0.1:{relay_port}/socket.io/?EIO=4&transport=polling", relay)
        for round_no in range(1, args.repeat + 1):
            results = {}
            for name, url, room_tokens in (("bare python-socketio relay", f"http://127.0.0.1:{relay_port}", [None] * args.clients),
                                           ("aladdin realtime", f"http://127.0.0.1:{aladdin_port}", tokens)):
                room = Room(url, room_tokens, project_id, document_id)
                try:
                    room.run(args.rounds, args.warmup)
                finally:
                    room.close()
                lat = [x * 1000 for x in room.latencies]
                results[name] = (percentile(lat, 50), percentile(lat, 99))
                print(f"round {round_no} {name}: {args.clients} clients, {args.rounds} cursor events, {len(lat)} "
                      f"deliveries; p50 {results[name][0]:.2f} ms, p99 {results[name][1]:.2f} ms, "
                      f"mean {statistics.mean(lat):.2f} ms, max {max(lat):.2f} ms")
            ours, bare = results["aladdin realtime"], results["bare python-socketio relay"]
            ratios.append((ours[0] / bare[0], ours[1] / bare[1]))
    finally:
        for proc in (aladdin, relay):
            proc.terminate()
            proc.wait(10)
        app.extensions["aladdin"].jobs.redis.shutdown() if app.extensions["aladdin"].jobs._embedded else None
    # The median round: one noisy neighbour on a shared machine moves one round, not the result.
    print("p99 ratio per round: " + ", ".join(f"{r[1]:.2f}" for r in ratios))
    print(f"p50 ratio {statistics.median(r[0] for r in ratios):.2f}")
    print(f"realtime ratio {statistics.median(r[1] for r in ratios):.2f} (goal 1.3)")


if __name__ == "__main__":
    main()
