"""Embedded graph store benchmark: one bulk add of 10,000 relationships among 5,000 nodes on
the embedded document server, timed against the floor of a raw ``insert_many`` of 10,000 small documents.

Run ``python -m bench.graph``; the last line is ``graph ratio X (goal 1.5)``."""

from __future__ import annotations

import argparse
import random
import tempfile
import time

COLLECTIONS = ("scenes", "characters", "locations", "episodes", "media")
TYPES = ("APPEARS_IN", "LOCATED_AT", "PART_OF", "RIVAL_OF", "ALLY_OF", "KNOWS", "RELATED_TO", "FEATURES")


def make_relationships(nodes: int, relationships: int, seed: int = 7) -> list:
    """Distinct random relationships among `nodes` nodes spread over the content collections."""
    from bson import ObjectId

    from core.graph import NodeRef, Relationship

    rnd = random.Random(seed)
    every = [NodeRef(COLLECTIONS[n % len(COLLECTIONS)], str(ObjectId())) for n in range(nodes)]
    rels: set = set()
    while len(rels) < relationships:
        a, b = rnd.sample(every, 2)
        rels.add(Relationship(a, b, rnd.choice(TYPES)))
    return sorted(rels)


def floor(db, count: int) -> float:
    """A raw insert_many of `count` documents about the size of one relationship."""
    docs = [{"from": {"collection": "scenes", "id": f"{n:024x}"},
             "to": {"collection": "characters", "id": f"{n + 1:024x}"}, "type": "APPEARS_IN"}
            for n in range(count)]
    start = time.perf_counter()
    db["floor"].insert_many(docs)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--relationships", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="best of N for both graph and floor")
    args = parser.parse_args(argv)

    import pymongo

    from core.embedded_mongo import EmbeddedMongo
    from core.graph import EmbeddedGraphStore

    rels = make_relationships(args.nodes, args.relationships)
    with tempfile.TemporaryDirectory(prefix="aladdin-bench-graph-") as tmp:
        server = EmbeddedMongo(tmp)
        client = pymongo.MongoClient(server.join())
        store = EmbeddedGraphStore(lambda project: client[f"open_{project}"])
        graph_times, floor_times = [], []
        for n in range(args.rounds):
            floor_times.append(floor(client[f"floor_{n}"], args.relationships))
            project = f"bench-{n}"
            start = time.perf_counter()
            added = store.add_relationships(project, rels)
            graph_times.append(time.perf_counter() - start)
            assert added == len(rels), added
            start = time.perf_counter()
            again = store.add_relationships(project, rels)
            repeat = time.perf_counter() - start
            assert again == 0, again
            start = time.perf_counter()
            nodes, listed = store.list_all(project)
            listed_in = time.perf_counter() - start
            assert len(listed) == len(rels)
            start = time.perf_counter()
            for rel in rels[:100]:
                store.add_relationships(project, [rel.__class__(rel.target, rel.source, rel.type)])
            singles = time.perf_counter() - start
            start = time.perf_counter()
            hood = store.neighbourhood(project, rels[0].source, depth=2)
            hood_in = time.perf_counter() - start
            print(f"round {n + 1}: add {len(rels)} relationships {graph_times[-1]:.3f}s "
                  f"(repeat {repeat:.3f}s, list_all {listed_in:.3f}s of {len(nodes)} nodes, "
                  f"100 single adds {singles:.3f}s, depth-2 neighbourhood "
                  f"{len(hood['relationships'])} edges {hood_in:.3f}s); "
                  f"floor {floor_times[-1]:.3f}s")
        client.close()
        server.leave()
    best_graph, best_floor = min(graph_times), min(floor_times)
    print(f"best add {best_graph:.3f}s, best floor {best_floor:.3f}s "
          f"(floor: raw insert_many of {args.relationships} small documents)")
    print(f"graph ratio {best_graph / best_floor:.2f} (goal 1.5)")


if __name__ == "__main__":
    main()
