"""Clone at scale: documents/s of a 5,000-document deep clone over that of a 50,000-document one,
the large closure sitting in a 100,000-document project (50,000 unrelated documents beside it).

Each closure is the shape ``bench.clone`` builds (a fifth of it media, two relationships per
document). Run ``python -m bench.clone_scale``; the last line is ``clone_scale ratio X (goal 1.25)``,
X = documents/s at 5k over documents/s at 50k (1.0: perfectly linear), best of ``--rounds``.

``--scale F`` multiplies the large closure and the unrelated documents (``--scale 0.4``: a 20k
closure in a 40k project) for quicker looks; the headline is only meant at scale 1. Each round also
reports process CPU seconds, which a machine shared with other work disturbs far less than wall
time, and the line before the headline gives the same ratio on CPU time."""

from __future__ import annotations

import argparse
import gc
import tempfile
import time

from bench.clone import COLLECTIONS, build_source

GOAL = 1.25


def timed_clone(app, user, source, target, root: tuple[str, str]) -> tuple[float, float, float, float, dict]:
    """(plan seconds, total seconds, plan CPU seconds, total CPU seconds, result) of one
    synchronous deep clone as the API runs it."""
    from plugins.clone.executor import Executor
    from plugins.clone.plan import CloneOptions
    from plugins.clone.planner import Planner

    gc.collect()
    cpu, start = time.process_time(), time.perf_counter()
    plan = Planner(app, source, target, user, CloneOptions(collection=root[0], document_id=root[1])).plan()
    planned_cpu, planned = time.process_time(), time.perf_counter()
    result = Executor(app, plan, user).run()
    end_cpu, end = time.process_time(), time.perf_counter()
    return planned - start, end - start, planned_cpu - cpu, end_cpu - cpu, result


def measure(app, user, source, root, docs: int, rounds: int, label: str) -> tuple[float, float]:
    """(best documents/s, best documents per CPU second) over ``rounds`` clones."""
    from core.projects import create_project

    best = best_cpu = 0.0
    for n in range(rounds):
        target = create_project(app, user, f"{label} target {n}", f"{label}-target-{n}")
        plan_s, total, plan_cpu, total_cpu, result = timed_clone(app, user, source, target, root)
        assert result["clonedCount"] == docs, (result["clonedCount"], docs)
        rate = docs / total
        print(f"{label} round {n + 1}: {docs} documents in {total:.2f}s (plan {plan_s:.2f}s, "
              f"{docs / plan_s:,.0f} docs/s planned), {rate:,.0f} docs/s; CPU {total_cpu:.2f}s "
              f"(plan {plan_cpu:.2f}s, write {total_cpu - plan_cpu:.2f}s), {docs / total_cpu:,.0f} docs/CPU-s")
        best, best_cpu = max(best, rate), max(best_cpu, docs / total_cpu)
        app.extensions["aladdin"].db.drop_project(target.slug)  # keep the disk and the next round small
    return best, best_cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=5_000, help="documents in the small closure")
    parser.add_argument("--large", type=int, default=50_000, help="documents in the large closure")
    parser.add_argument("--unrelated", type=int, default=50_000,
                        help="unrelated documents beside the large closure")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply --large and --unrelated (0.4: a 20k closure in a 40k project)")
    args = parser.parse_args(argv)
    args.large, args.unrelated = round(args.large * args.scale), round(args.unrelated * args.scale)

    from core.app import create_app
    from core.models import User
    from core.projects import create_project
    from core.settings import Settings

    per = len(COLLECTIONS)
    with tempfile.TemporaryDirectory(prefix="aladdin-bench-clone-scale-") as tmp:
        env = {"ALADDIN_DATA_DIR": tmp,  # the embedded document server and Redis under it
               "ALADDIN_SECRET_KEY": "bench-clone-scale", "ALADDIN_CLONE_ASYNC_THRESHOLD": str(10 ** 9)}
        app = create_app(Settings.from_env(env), load_entry_points=False)
        with app.app_context():
            user = User(email="bench@example.com", name="bench").save()
            small = create_project(app, user, "Scale Small", "scale-small")
            large = create_project(app, user, "Scale Large", "scale-large")
            t0 = time.perf_counter()
            small_root = build_source(app, small.slug, args.small // per, 2 * args.small)
            if args.unrelated:
                build_source(app, large.slug, args.unrelated // per, 2 * args.unrelated, seed=11)
            large_root = build_source(app, large.slug, args.large // per, 2 * args.large)
            print(f"built {args.small} + {args.large + args.unrelated} documents in {time.perf_counter() - t0:.1f}s")
            small_docs, large_docs = args.small // per * per, args.large // per * per
            small_rate, small_cpu = measure(app, user, small, small_root, small_docs, args.rounds, "small")
            large_rate, large_cpu = measure(app, user, large, large_root, large_docs, args.rounds, "large")
            app.extensions["aladdin"].db.close()
        print(f"best: {small_docs} documents at {small_rate:,.0f} docs/s, {large_docs} documents "
              f"(in a {large_docs + args.unrelated // per * per}-document project) at {large_rate:,.0f} docs/s")
        print(f"process CPU: {small_cpu:,.0f} docs/CPU-s at {small_docs}, {large_cpu:,.0f} at {large_docs}, "
              f"CPU ratio {small_cpu / large_cpu:.2f}")
        print(f"clone_scale ratio {small_rate / large_rate:.2f} (goal {GOAL})")


if __name__ == "__main__":
    main()
