"""Yjs editing against a stock Hocuspocus: keystroke to peer, connect to synced, server CPU per edit.

``python -m bench.yjs [--edits N] [--connects N] [--rounds N]``. One run starts both servers on
this machine: a stock ``@hocuspocus/server`` (default configuration: documents in memory, no
extensions) and ``aladdin serve`` on a temporary data dir with its embedded stores, as an
operator's first install runs it. The JavaScript side is pinned in ``bench/js`` (package.json
and package-lock.json) and installed with ``npm ci`` there on first use.

Each round, each server gets two Node clients with stock ``yjs`` on a fresh document of its own,
typing into the Y.Text ``content.title`` (where an Aladdin editor's typing goes): Hocuspocus
through the stock ``@hocuspocus/provider``; Aladdin through the stock y-websocket
``WebsocketProvider`` on its plain WebSocket (``/collab/yjs/...``, the headline), and again
through the stock ``socket.io-client`` + ``y-protocols`` on ``/collab``, as
``tests/js/yjs_peer.mjs`` does. Measured:

* connect to synced: a fresh client (Y.Doc + connection) created until its first sync is done,
  the client's previous connection closed first, as a page reload does; ``--connects`` of them,
  the two clients in turn while the other stays on the document, after ``--connect-warmup``
  unmeasured ones (on ``/collab`` also split: the namespace connect, then from it to the ``join``
  ack and to synced, the join and the sync step 1 being sent together as ``@aladdin/provider``
  sends them);
* keystroke to peer: one character typed (``Y.Text.insert``) until the other client's Y.Doc has
  it, clocked on CLOCK_MONOTONIC in both Node processes; one edit in flight at a time,
  alternating directions, ``--edits`` each way;
* server CPU per edit: user+system time from ``/proc/<pid>/stat`` of the server process over
  the edit phase, divided by the edits (and per connect, over the connects: each one closes
  the client's previous connection first). Aladdin's embedded stores (the document server and
  Redis) are separate processes: printed beside it, not in the ratio.

Connects are measured side by side: each round, every server's two clients take turns in blocks
of ``--block`` connects, the order reversed every block (see :func:`measure_round`); edits one
server after the other.

A third server runs beside them, the transport floor (:mod:`.floor`, this module run with
``--floor PORT``): both of Aladdin's transports on the same server stack, relaying frames with
none of Aladdin's work (no authorization, storage, bus or presence), driven by the same clients.
Its ratios to Hocuspocus show how much of Aladdin's time is the transport's own.

The headline (last line) is the median round's ratio of p50 keystroke-to-peer latencies, plain
WebSocket against Hocuspocus; the connect-to-synced ratio and CPU ratio are the plain WebSocket's too.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "bench" / "js"
SERVING = re.compile(r"serving (http://127\.0\.0\.1:\d+) ")
LABELS = {"hocuspocus": "hocuspocus", "aladdin": "aladdin, plain WebSocket", "socketio": "aladdin, /collab (Socket.IO)",
          "plain floor": "transport floor, plain WebSocket", "Socket.IO floor": "transport floor, Socket.IO"}
HANG = 60.0  # seconds: a deadline that catches a hang, never a measure of speed
TICK = os.sysconf("SC_CLK_TCK")


# --- processes -----------------------------------------------------------------------------

def stop(proc: subprocess.Popen) -> None:
    """Stop one process the bench started, by its pid: SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def started(stack: ExitStack, args: list[str], **kwargs) -> subprocess.Popen:
    """A subprocess that ``stack`` stops on every way out of the run."""
    proc = subprocess.Popen(args, **kwargs)
    stack.callback(stop, proc)
    return proc


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime: fields 14 and 15 of stat


def npm_ci() -> None:
    """Install the pinned JavaScript side once (``npm ci`` in bench/js)."""
    if (JS / "node_modules" / "@hocuspocus" / "server").is_dir():
        return
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not on PATH: bench.yjs needs Node.js 18+ and npm")
    print("installing the pinned JavaScript clients and Hocuspocus (npm ci in bench/js) ...", flush=True)
    result = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS, capture_output=True, text=True,
                            timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"npm ci failed in bench/js:\n{result.stderr[-2000:]}")


def wait_line(proc: subprocess.Popen, log: Path, pattern: re.Pattern, what: str) -> re.Match:
    """The first match of ``pattern`` in what ``proc`` wrote to ``log``."""
    deadline = time.monotonic() + HANG * 1.5
    while time.monotonic() < deadline:
        found = pattern.search(log.read_text())
        if found:
            return found
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start:\n{log.read_text()[-3000:]}")


class Peer:
    """One ``bench/js/peer.mjs`` client: commands in, answers out; remote changes go to ``seen``."""

    def __init__(self, stack: ExitStack, name: str, args: list[str]):
        self.name = name
        self.proc = started(stack, ["node", str(JS / "peer.mjs"), *args], cwd=JS, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.replies: queue.Queue = queue.Queue()
        self.seen: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            message = json.loads(line)
            (self.seen if "seen" in message else self.replies).put(message)
        self.replies.put(None)  # the process ended

    def ask(self, **command) -> dict:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self.reply(command["op"])

    def reply(self, what: str) -> dict:
        try:
            message = self.replies.get(timeout=HANG)
        except queue.Empty:
            message = None
        if message is None:
            self.proc.kill()
            raise SystemExit(f"{self.name}: no answer to {what!r}: {self.proc.stderr.read()[-2000:]}")
        return message

    def seen_length(self, length: int) -> int:
        """When (ns) this client's copy of the text reached ``length``."""
        deadline = time.monotonic() + HANG
        while True:
            try:
                message = self.seen.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                self.proc.kill()
                raise SystemExit(f"{self.name}: the text never reached {length} characters: "
                                 f"{self.proc.stderr.read()[-2000:]}")
            if message["length"] >= length:
                return int(message["seen"])

    def close(self) -> None:
        try:
            self.proc.stdin.write('{"op":"close"}\n')
            self.proc.stdin.flush()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        stop(self.proc)


# --- one measurement -----------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Pair:
    """Two clients of one server on one fresh document, and what was measured of them."""

    def __init__(self, stack: ExitStack, name: str, peer_args: tuple[list[str], list[str]], server_pid: int,
                 store_pids: list[int]):
        self.name, self.server_pid, self.store_pids = name, server_pid, store_pids
        self.peers = tuple(Peer(stack, f"{name} {n}", argv) for n, argv in zip("ab", peer_args))
        self.answers: list[dict] = []
        self.latencies: list[float] = []
        self.connects = self.edits = 0      # done so far, measured or not
        self.length = 0                     # of the text both clients have
        self.connect_cpu = self.cpu = self.stores = 0.0  # seconds, over the measured ones

    def connect(self, count: int, measured: bool = True) -> None:
        """``count`` reconnects, the two clients in turn (each closes its previous connection)."""
        cpu = cpu_seconds(self.server_pid)
        for _ in range(count):
            answer = self.peers[self.connects % 2].ask(op="connect")
            self.connects += 1
            if measured:
                self.answers.append(answer)
        if measured:
            self.connect_cpu += cpu_seconds(self.server_pid) - cpu

    def start_typing(self) -> None:
        a, b = self.peers
        self.length = a.ask(op="init", text="x")["length"]
        b.ask(op="wait", length=self.length)

    def type(self, count: int, gap: float, measured: bool = True) -> None:
        """``count`` single-character edits, one in flight at a time, alternating directions."""
        cpu, stores = cpu_seconds(self.server_pid), sum(cpu_seconds(p) for p in self.store_pids)
        for _ in range(count):
            sender, receiver = self.peers if self.edits % 2 == 0 else self.peers[::-1]
            t = int(sender.ask(op="type", char=chr(ord("a") + self.edits % 26))["t"])
            self.edits += 1
            self.length += 1
            seen = receiver.seen_length(self.length)
            if measured:
                self.latencies.append((seen - t) / 1e6)
            time.sleep(gap / 1000)  # typing pace: one keystroke after the other arrived
        if measured:
            self.cpu += cpu_seconds(self.server_pid) - cpu
            self.stores += sum(cpu_seconds(p) for p in self.store_pids) - stores

    def connect_result(self) -> dict:
        phases = {name: [answer["phases"][name] for answer in self.answers]
                  for name in (self.answers[0].get("phases", {}) if self.answers else {})}
        return {"synced": [answer["synced"] for answer in self.answers], "phases": phases,
                "connect_cpu_ms": self.connect_cpu / max(len(self.answers), 1) * 1000}

    def typing_result(self) -> dict:
        """Both copies agree at the end (nothing was lost on the way); the measures."""
        a, b = self.peers
        if a.ask(op="wait", length=self.length)["length"] != b.ask(op="wait", length=self.length)["length"]:
            raise SystemExit(f"{self.name}: the two clients' texts differ")
        edits = max(len(self.latencies), 1)
        return {"latencies": self.latencies, "cpu_ms": self.cpu / edits * 1000, "stores_ms": self.stores / edits * 1000}

    def close(self) -> None:
        for peer in self.peers:
            peer.close()


def in_turns(pairs: list[Pair], total: int, block: int):
    """``(pair, count)`` blocks: every pair ``total`` in all, in blocks of ``block``, the pairs
    taking turns and the order reversed every block."""
    done = 0
    while done < total:
        count = min(block, total - done)
        for pair in (pairs if (done // block) % 2 == 0 else pairs[::-1]):
            yield pair, count
        done += count


def measure_round(stack: ExitStack, clients: dict[str, tuple], args) -> dict[str, dict]:
    """``clients``: server name -> ``(peer_args, server_pid, store_pids)`` of :class:`Pair`.

    Connects are measured side by side: every server's pair in turns (:func:`in_turns`), so a
    moment of load on the shared machine falls on every server alike, not on whichever one was
    being measured then (measured one server after the other, the same code's connect ratio
    ranged 1.1 to 2.2 from run to run). Edits are measured one server after the other, each on
    a fresh pair: typing in turns would measure bursts and pauses, each pause an autosave, not
    typing; and clients idle through the other servers' typing (a minute) would meet their own
    30 s silence timeouts."""
    pairs = {name: Pair(stack, name, *spec) for name, spec in clients.items()}
    try:
        for pair in pairs.values():  # both clients on the document, then unmeasured reconnects
            pair.connect(2 + args.connect_warmup, measured=False)
        for pair, count in in_turns(list(pairs.values()), args.connects, args.block):
            pair.connect(count)
    finally:
        for pair in pairs.values():
            pair.close()
    results = {}
    for name, spec in clients.items():
        typing = Pair(stack, name, *spec)
        try:
            typing.connect(2, measured=False)
            typing.start_typing()
            typing.type(args.warmup, args.gap, measured=False)
            typing.type(2 * args.edits, args.gap)
            results[name] = {**pairs[name].connect_result(), **typing.typing_result()}
        finally:
            typing.close()
    return results


def describe(name: str, r: dict) -> str:
    lat, syn = r["latencies"], r["synced"]
    extra = f" (+ embedded stores {r['stores_ms']:.2f} ms)" if r.get("stores") else ""
    phases = ", ".join(f"{phase} {percentile(values, 50):.1f}" for phase, values in r["phases"].items())
    return (f"{name}: keystroke to peer p50 {percentile(lat, 50):.2f} ms, p90 {percentile(lat, 90):.2f}, "
            f"p99 {percentile(lat, 99):.2f}, mean {statistics.mean(lat):.2f} ({len(lat)} edits); "
            f"connect to synced p50 {percentile(syn, 50):.1f} ms{f' ({phases})' if phases else ''} "
            f"({len(syn)} connects, server CPU {r['connect_cpu_ms']:.2f} ms each with the close before it); "
            f"server CPU per edit {r['cpu_ms']:.2f} ms{extra}")


# --- the installation ----------------------------------------------------------------------

def seed(env: dict, rounds: int):
    """Two editors of one project and one scene per round, written through the core (the
    bench process joins the installation's embedded stores, as a CLI command would)."""
    sys.path.insert(0, str(ROOT))
    from core.app import create_app
    from core.models import ApiToken, User
    from core.projects import add_member, create_project
    from core.settings import Settings

    app = create_app(Settings.from_env(env), load_entry_points=False)
    with app.app_context():
        owner = User(email="a@bench.example", name="Editor A").save()
        other = User(email="b@bench.example", name="Editor B").save()
        project = create_project(app, owner, "Bench Film", "bench-film")
        add_member(app, project, other, "editor", owner)
        content = app.extensions["aladdin"].content
        scenes = [tuple(str(content.create(project, "scenes", {"content": {"title": "x"}}, owner)["_id"])
                        for _client in ("ywebsocket", "socketio")) for _ in range(rounds)]
        tokens = (ApiToken.issue(owner), ApiToken.issue(other))
    return app, str(project.id), scenes, tokens


def store_pids(app) -> list[int]:
    ext = app.extensions["aladdin"]
    servers = [getattr(ext.db, "_embedded", None), getattr(ext.jobs, "_embedded", None)]
    return [pid for pid in (s.pid() if s is not None else None for s in servers) if pid]


def stop_stores(pids: list[int]) -> None:
    """The embedded stores this run started, if leaving the installation left them running."""
    import psutil

    for pid in pids:
        try:
            process = psutil.Process(pid)
            process.terminate()
            process.wait(15)
        except psutil.TimeoutExpired:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.yjs", description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=200, help="single-character edits each way, per round")
    parser.add_argument("--connects", type=int, default=60, help="extra connect-to-synced samples per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both servers; the median is the result")
    parser.add_argument("--warmup", type=int, default=20, help="edits before measuring")
    parser.add_argument("--connect-warmup", type=int, default=10, help="reconnects before measuring")
    parser.add_argument("--block", type=int, default=10, help="connects a server gets before the next one's turn")
    parser.add_argument("--gap", type=float, default=30, help="ms between one edit's arrival and the next keystroke")
    parser.add_argument("--floor", type=int, help=argparse.SUPPRESS)  # serve the transport floor on this port
    args = parser.parse_args(argv)
    if args.floor is not None:
        from .floor import serve_floor

        return serve_floor(args.floor)
    npm_ci()
    # A process manager's SIGTERM leaves through the `finally`s too: every process gets stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))

    tmp = Path(tempfile.mkdtemp(prefix="aladdin-bench-yjs-"))
    env = {"ALADDIN_DATA_DIR": str(tmp / "data"), "ALADDIN_SECRET_KEY": "bench-yjs",
           "ALADDIN_PLATFORM_DB": "bench_yjs"}
    app = None
    results: list[dict] = []
    try:
        with ExitStack() as stack:
            app, project_id, scenes, tokens = seed(env, args.rounds)
            pids = store_pids(app)
            stack.callback(stop_stores, pids)  # runs last: anything the leaving below did not stop
            stack.callback(app.extensions["aladdin"].close)  # the last to leave stops the embedded stores
            base_env = {k: v for k, v in os.environ.items() if not k.startswith("ALADDIN_")}
            aladdin_log, hocus_log = tmp / "aladdin.log", tmp / "hocuspocus.log"
            aladdin = started(stack, [sys.executable, "cli.py", "serve", "--no-worker", "--port", "0"], cwd=ROOT,
                              env={**base_env, **env, "PYTHONUNBUFFERED": "1"}, stdout=aladdin_log.open("w"),
                              stderr=subprocess.STDOUT)
            hocus = started(stack, ["node", str(JS / "hocuspocus_server.mjs")], cwd=JS,
                            stdout=hocus_log.open("w"), stderr=subprocess.STDOUT)
            floor_log = tmp / "floor.log"
            floor = started(stack, [sys.executable, "-m", "bench.yjs", "--floor", "0"], cwd=ROOT,
                            env={**base_env, "PYTHONUNBUFFERED": "1"}, stdout=floor_log.open("w"),
                            stderr=subprocess.STDOUT)
            url = wait_line(aladdin, aladdin_log, SERVING, "aladdin serve").group(1)
            port = json.loads(wait_line(hocus, hocus_log, re.compile(r"\{.*\}"), "hocuspocus").group(0))["port"]
            floor_url = wait_line(floor, floor_log, SERVING, "the transport floor").group(1)
            print(f"aladdin serve {url} (pid {aladdin.pid}, embedded stores pids {pids}); "
                  f"hocuspocus ws://127.0.0.1:{port} (pid {hocus.pid}); transport floor {floor_url} "
                  f"(pid {floor.pid})", flush=True)
            for n in range(args.rounds):
                hp = (["hocuspocus", f"ws://127.0.0.1:{port}", f"bench-{n}"],) * 2
                plain, sio = (tuple([kind, url, token, project_id, "scenes", scene] for token in tokens)
                              for kind, scene in zip(("ywebsocket", "aladdin"), scenes[n]))
                plain_floor, sio_floor = (([kind, floor_url, "-", "floor", "scenes", f"{kind}-{n}"],) * 2
                                          for kind in ("ywebsocket", "aladdin"))
                results.append(measure_round(stack, {
                    "hocuspocus": (hp, hocus.pid, []), "aladdin": (plain, aladdin.pid, pids),
                    "socketio": (sio, aladdin.pid, pids), "plain floor": (plain_floor, floor.pid, []),
                    "Socket.IO floor": (sio_floor, floor.pid, [])}, args))
                results[-1]["aladdin"]["stores"] = results[-1]["socketio"]["stores"] = True
                for name, result in results[-1].items():
                    print(f"round {n + 1} {describe(LABELS[name], result)}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = [percentile(r["aladdin"]["latencies"], 50) / percentile(r["hocuspocus"]["latencies"], 50)
             for r in results]
    synced = [percentile(r["aladdin"]["synced"], 50) / percentile(r["hocuspocus"]["synced"], 50) for r in results]
    cpu = [r["aladdin"]["cpu_ms"] / r["hocuspocus"]["cpu_ms"] for r in results if r["hocuspocus"]["cpu_ms"]]
    stores = statistics.median(r["aladdin"]["stores_ms"] for r in results)
    print("plain WebSocket keystroke-to-peer p50 ratio per round: " + ", ".join(f"{x:.2f}" for x in ratio))
    print(f"server CPU per edit: aladdin {statistics.median(r['aladdin']['cpu_ms'] for r in results):.2f} ms "
          f"(+ embedded stores {stores:.2f} ms), hocuspocus "
          f"{statistics.median(r['hocuspocus']['cpu_ms'] for r in results):.2f} ms; "
          f"ratio {statistics.median(cpu) if cpu else float('inf'):.2f}")
    for name in ("socketio", "plain floor", "Socket.IO floor"):
        keys = [percentile(r[name]["latencies"], 50) / percentile(r["hocuspocus"]["latencies"], 50) for r in results]
        connects = [percentile(r[name]["synced"], 50) / percentile(r["hocuspocus"]["synced"], 50) for r in results]
        print(f"{LABELS[name]} to hocuspocus: keystroke-to-peer ratio {statistics.median(keys):.2f}, "
              f"connect-to-synced ratio {statistics.median(connects):.2f}")
    print(f"connect-to-synced ratio {statistics.median(synced):.2f} (goal 1.5)")
    print(f"yjs ratio {statistics.median(ratio):.2f} (goal 1.2)")
    return 0

