"""``python -m bench.list``: a page of 50 scenes through the served REST API, against the same
query through raw pymongo on the same document server (the floor), at 10,000 and 100,000 documents.

Runs a real installation on embedded defaults in a temporary data dir: ``aladdin serve`` in its
own process (HTTP, authentication, the read policy, serialization) and the embedded document
server it shares with this process. Three pages: the default order (``createdAt``, ties by
``_id``), filtered by a top-level field (``createdBy``, half the documents), and at offset 5,000.
The floor asks the server for what the API needs for one page: the page itself and its exact
total (``$count``, exact on a field that only holds strings; with no filter, the collection's size).

The API keeps each total it counted until the collection is written (``core.totals``); the
"after a write" line shows a page whose total had to be counted again.

Headline: ``list ratio`` = API time / floor time at 100,000 (goal 1.5); also the page time at
100,000 / at 10,000 (goal 1.5: flat with indexes) and the bulk-load rate."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from bson import ObjectId

ROOT = Path(__file__).resolve().parent.parent
SIZES = (10_000, 100_000)
PAGE = 50


def start_server(env: dict) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "serve", "--port", "0", "--no-worker"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        match = re.search(r"serving (http://\S+)", line)
        if match:
            return proc, match.group(1).rstrip("/")
    proc.kill()
    raise SystemExit("aladdin serve did not start")


def bulk_load(coll, start: int, count: int, creators: list[str]) -> float:
    """Insert product-shaped scenes; returns documents per second."""
    base = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    began = time.perf_counter()
    for first in range(start, start + count, 5000):
        batch = []
        for i in range(first, min(first + 5000, start + count)):
            at = base + dt.timedelta(seconds=i // 3)  # equal timestamps in threes: ties are real
            batch.append({"_id": ObjectId(), "content": {"title": f"Scene {i}", "summary": "A harbour at dawn. " * 3},
                          "relatedDocuments": [], "createdBy": creators[i % 2], "updatedBy": creators[i % 2],
                          "createdAt": at, "updatedAt": at, "version": 1})
        coll.insert_many(batch, ordered=False)
    return count / (time.perf_counter() - began)


def timed(fns: tuple, rounds: int) -> list[float]:
    """Median milliseconds of each of ``fns`` over ``rounds`` calls after two warm-ups. The calls
    alternate (a, b, a, b, ...), so a shared machine's load drifts onto both sides of a ratio
    alike instead of onto whichever ran second."""
    for _ in range(2):
        for fn in fns:
            fn()
    samples = [[] for _ in fns]
    for _ in range(rounds):
        for fn, out in zip(fns, samples):
            began = time.perf_counter()
            fn()
            out.append((time.perf_counter() - began) * 1000)
    return [statistics.median(out) for out in samples]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.list", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="aladdin-bench-list-") as tmp:
        env = {**os.environ, "ALADDIN_DATA_DIR": str(Path(tmp) / "data")}
        for key in ("ALADDIN_MONGODB_URI", "ALADDIN_REDIS_URL"):
            env.pop(key, None)
        os.environ.update({"ALADDIN_DATA_DIR": env["ALADDIN_DATA_DIR"]})
        from core.app import create_app
        from core.models import ApiToken, User
        from core.projects import create_project

        app = create_app(load_entry_points=False)
        ext = app.extensions["aladdin"]
        with app.app_context():
            owner = User(email="bench@example.com", name="Bench").save()
            other = User(email="other@example.com", name="Other").save()
            token = ApiToken.issue(owner)
            project = create_project(app, owner, "Bench list", "bench-list")
        coll = ext.db.project(project.slug)["scenes"]
        creators = [str(owner.id), str(other.id)]
        server, base = start_server(env)
        try:
            http = requests.Session()
            http.headers["Authorization"] = f"Bearer {token}"
            url = f"{base}/api/v1/projects/{project.slug}/content/scenes"
            queries = {
                "default order": ({"limit": PAGE}, {}, 0),
                "filtered": ({"limit": PAGE, "createdBy": creators[0]}, {"createdBy": creators[0]}, 0),
                "offset 5,000": ({"limit": PAGE, "offset": 5000}, {}, 5000),
            }
            sort = [("createdAt", 1), ("_id", 1)]

            def api(params):
                def call():
                    response = http.get(url, params=params)
                    assert response.status_code == 200 and len(response.json()["items"]) == PAGE, response.text
                return call

            def floor(query, skip):
                # The page, and its total the fastest exact way raw pymongo has here: ``$count``
                # (createdBy only ever holds a string, where the server's $count is exact), or the
                # collection's size with no filter.
                def call():
                    page = list(coll.find(query).sort(sort).skip(skip).limit(PAGE))
                    total = list(coll.aggregate([{"$match": query}, {"$count": "n"}]))[0]["n"] if query else \
                        coll.estimated_document_count()
                    assert len(page) == PAGE and total
                return call

            def after_write(rounds):
                # The cached total's other side: a write before every page, so each list
                # recounts (only the GET is timed; the insert is the bench's own, raw pymongo).
                samples = []
                for _ in range(rounds):
                    coll.insert_one({"_id": ObjectId(), "content": {"title": "extra"}, "createdBy": creators[1],
                                     "createdAt": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc), "version": 1})
                    began = time.perf_counter()
                    api({"limit": PAGE})()
                    samples.append((time.perf_counter() - began) * 1000)
                return statistics.median(samples)

            loaded, results = 0, {}
            for size in SIZES:
                rate = bulk_load(coll, loaded, size - loaded, creators)
                loaded = size
                print(f"loaded {size:,} scenes ({rate:,.0f} documents/s bulk load)")
                for name, (params, query, skip) in queries.items():
                    a, f = timed((api(params), floor(query, skip)), args.rounds)
                    results[(size, name)] = (a, f)
                    print(f"  {size:>7,} {name:<14} API {a:7.2f} ms   raw pymongo {f:7.2f} ms   ratio {a / f:5.2f}")
                print(f"  {size:>7,} after a write  API {after_write(args.rounds):7.2f} ms   (the total recounted)")
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
            ext.close()
    big, small = SIZES[-1], SIZES[0]
    api_big = sum(results[(big, n)][0] for n in queries)
    floor_big = sum(results[(big, n)][1] for n in queries)
    api_small = sum(results[(small, n)][0] for n in queries)
    for name in queries:
        print(f"  {name:<14} page time at {big:,} / at {small:,}: {results[(big, name)][0] / results[(small, name)][0]:.2f}")
    print(f"page time at {big:,} / at {small:,}: {api_big / api_small:.2f} (goal 1.5)")
    print(f"bulk load: {rate:,.0f} documents/s")
    print(f"list ratio {api_big / floor_big:.2f} (goal 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
