"""Deep-clone benchmark: 5,000 documents, 1,000 media objects, 10,000 relationships on the embedded
defaults, timed against the floor of reading, bulk-inserting and copying the same data raw.

Run ``python -m bench.clone``; the last line is ``clone ratio X (goal 1.3)``."""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bson import ObjectId

COLLECTIONS = ("scenes", "characters", "locations", "episodes", "media")
TYPES = ("APPEARS_IN", "LOCATED_AT", "PART_OF", "RIVAL_OF", "ALLY_OF", "KNOWS", "RELATED_TO", "FEATURES")


def build_source(app, slug: str, per_collection: int, relationships: int, seed: int = 7) -> tuple[str, str]:
    """Write the source project straight through pymongo, storage and the graph store (fast)."""
    from core.graph import NodeRef, Relationship
    from core.models import utcnow

    rnd = random.Random(seed)
    ext = app.extensions["aladdin"]
    db = ext.db.project(slug)
    now = utcnow()
    ids = {c: [ObjectId() for _ in range(per_collection)] for c in COLLECTIONS}
    plain = [(c, i) for c in COLLECTIONS if c != "media" for i in ids[c]]
    rnd.shuffle(plain)
    # plain[0] is the root; plain[k]'s tree children are plain[3k+1..3k+3], so all are reachable.
    docs = {c: [] for c in COLLECTIONS}
    base = {"projectId": slug, "createdBy": "bench", "createdAt": now, "updatedAt": now, "version": 1,
            "clonedFrom": None, "isClone": False, "cloneDepth": 0, "originalCreator": "bench"}
    for k, (collection, oid) in enumerate(plain):
        children = [plain[j] for j in range(3 * k + 1, min(3 * k + 4, len(plain)))]
        extra = [plain[rnd.randrange(len(plain))] for _ in range(2 if rnd.random() < 0.75 else 1)]
        docs[collection].append({
            "_id": oid, **base,
            "content": {"name": f"{collection[:-1]} {k}", "text": "lorem ipsum " * 15,
                        "imageId": str(ids["media"][k % per_collection]),
                        "linkIds": [str(i) for _, i in extra],
                        "meta": {"tags": ["a", "b"], "rating": k % 5}},
            "relatedDocuments": [{"collection": c, "documentId": str(i)} for c, i in children],
        })
    storage = ext.storage
    payload = os.urandom(2048)
    for n, oid in enumerate(ids["media"]):
        key = f"projects/{slug}/media/{oid}/still-{n}.png"
        storage.put(key, payload[n % 97:] + n.to_bytes(4, "big"))
        docs["media"].append({"_id": oid, **base, "filename": f"still-{n}.png", "contentType": "image/png",
                              "size": len(payload) - n % 97 + 4, "storageKey": key,
                              "content": {"title": f"still {n}", "kind": "image"}, "relatedDocuments": []})
    for collection, items in docs.items():
        db[collection].insert_many(items)
    every = [NodeRef(c, str(i)) for c in COLLECTIONS for i in ids[c]]
    rels: set = set()
    while len(rels) < relationships:
        a, b = rnd.sample(every, 2)
        rels.add(Relationship(a, b, rnd.choice(TYPES)))
    ext.graph.add_relationships(slug, sorted(rels))
    root_collection, root_id = plain[0]
    return root_collection, str(root_id)


def floor(app, source_slug: str, scratch_slug: str, scratch_dir: Path) -> float:
    """Read every document, bulk-insert copies with new ids, copy every media file: the least any clone does."""
    ext = app.extensions["aladdin"]
    src, dst = ext.db.project(source_slug), ext.db.project(scratch_slug)
    root = ext.storage.root
    start = time.perf_counter()
    for collection in COLLECTIONS:
        docs = list(src[collection].find({}))
        for doc in docs:
            doc["_id"] = ObjectId()
        dst[collection].insert_many(docs)
        if collection == "media":
            for doc in docs:
                out = scratch_dir / str(doc["_id"])
                out.mkdir(parents=True)
                shutil.copyfile(root / doc["storageKey"], out / doc["filename"])
    return time.perf_counter() - start


def run_clone(app, user, source, target, root: tuple[str, str]) -> tuple[float, dict]:
    """One synchronous deep clone (planner + executor, as the API runs it), with a phase breakdown."""
    from plugins.clone.executor import Executor
    from plugins.clone.plan import CloneOptions
    from plugins.clone.planner import Planner

    graph = app.extensions["aladdin"].graph
    real_add = graph.add_relationship_rows
    spent = {"graph": 0.0}

    def timed_add(project, rels):
        t = time.perf_counter()
        try:
            return real_add(project, rels)
        finally:
            spent["graph"] += time.perf_counter() - t

    graph.add_relationship_rows = timed_add
    try:
        start = time.perf_counter()
        plan = Planner(app, source, target, user, CloneOptions(collection=root[0], document_id=root[1])).plan()
        planned = time.perf_counter()
        result = Executor(app, plan, user).run()
        end = time.perf_counter()
    finally:
        del graph.add_relationship_rows
    print(f"  plan {planned - start:.3f}s; write {end - planned:.3f}s, of which graph "
          f"add_relationship_rows {spent['graph']:.3f}s")
    return end - start, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-collection", type=int, default=1000)
    parser.add_argument("--relationships", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7,
                        help="rounds; each times one floor and one clone, in alternating order")
    parser.add_argument("--profile", action="store_true", help="cProfile one clone, print the top entries")
    args = parser.parse_args(argv)

    from core.app import create_app
    from core.models import ApiToken, User  # noqa: F401
    from core.projects import create_project
    from core.settings import Settings

    with tempfile.TemporaryDirectory(prefix="aladdin-bench-clone-") as tmp:
        env = {"ALADDIN_DATA_DIR": tmp,  # the embedded document server and Redis under it
               "ALADDIN_SECRET_KEY": "bench-clone", "ALADDIN_CLONE_ASYNC_THRESHOLD": str(10 ** 9)}
        app = create_app(Settings.from_env(env), load_entry_points=False)
        with app.app_context():
            user = User(email="bench@example.com", name="bench").save()
            source = create_project(app, user, "Bench Source", "bench-source")
            t0 = time.perf_counter()
            root = build_source(app, source.slug, args.per_collection, args.relationships)
            docs = args.per_collection * len(COLLECTIONS)
            print(f"built {docs} documents in {len(COLLECTIONS)} collections, {args.per_collection} media "
                  f"objects, {args.relationships} relationships in {time.perf_counter() - t0:.2f}s")
            clone_times, floor_times = [], []
            clone_cpu, floor_cpu = [], []  # process CPU seconds: less sensitive to a busy machine
            for n in range(args.rounds):
                target = create_project(app, user, f"Bench Target {n}", f"bench-target-{n}")

                def time_floor() -> float:
                    gc.collect()  # neither side pays for the garbage the other left behind
                    cpu = time.process_time()
                    try:
                        return floor(app, source.slug, f"bench-floor-{n}", Path(tmp) / f"floor-{n}")
                    finally:
                        floor_cpu.append(time.process_time() - cpu)

                def time_clone() -> tuple[float, dict]:
                    gc.collect()
                    cpu = time.process_time()
                    try:
                        return clone_once()
                    finally:
                        clone_cpu.append(time.process_time() - cpu)

                def clone_once() -> tuple[float, dict]:
                    if args.profile and n == 0:
                        import cProfile
                        import pstats

                        prof = cProfile.Profile()
                        prof.enable()
                        try:
                            return run_clone(app, user, source, target, root)
                        finally:
                            prof.disable()
                            pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
                    return run_clone(app, user, source, target, root)

                # Alternate which side goes first, so warm caches favour neither.
                if n % 2 == 0:
                    f = time_floor()
                    c, result = time_clone()
                else:
                    c, result = time_clone()
                    f = time_floor()
                floor_times.append(f)
                clone_times.append(c)
                assert result["clonedCount"] == docs, result["clonedCount"]
                assert len(result["media"]) == args.per_collection
                assert result["relationships"] == args.relationships, result["relationships"]
                print(f"round {n + 1}: clone {c:.3f}s ({result['clonedCount']} documents, "
                      f"{len(result['media'])} media, {result['relationships']} relationships); floor {f:.3f}s")
            best_clone, best_floor = min(clone_times), min(floor_times)
            med_clone, med_floor = statistics.median(clone_times), statistics.median(floor_times)
            print(f"best clone {best_clone:.3f}s, best floor {best_floor:.3f}s "
                  f"(floor: read + raw insert_many of {docs} documents + copy {args.per_collection} files); "
                  f"median clone {med_clone:.3f}s, median floor {med_floor:.3f}s, "
                  f"median ratio {med_clone / med_floor:.2f}")
            print(f"process CPU: best clone {min(clone_cpu):.3f}s, best floor {min(floor_cpu):.3f}s, "
                  f"CPU ratio {min(clone_cpu) / min(floor_cpu):.2f}")
            app.extensions["aladdin"].db.close()
        print(f"clone ratio {best_clone / best_floor:.2f} (goal 1.3)")


if __name__ == "__main__":
    main()
