"""One behaviour suite for every GraphStore: embedded over mongomock always, the Neo4j
adapters when ALADDIN_TEST_NEO4J_URI points at a server; plus Cypher-text safety checks."""
from __future__ import annotations

import os
import uuid
from typing import Any, Mapping, Sequence

import mongomock
import pytest

from core.graph import (BUCKETS_COLLECTION, DEFAULT_RELATIONSHIP_TYPES, EmbeddedGraphStore,
                        GraphError, GraphStore, InvalidNodeRef, InvalidRelationshipType, NodeRef,
                        Relationship, create_graph_store, relationship_row, split_credentials,
                        validate_relationship_type)
from core.graph import cypher
from core.graph.neo4j import CypherGraphStore, Neo4jDriverGraphStore

NEO4J_URI = os.environ.get("ALADDIN_TEST_NEO4J_URI")
NEO4J_USER = os.environ.get("ALADDIN_TEST_NEO4J_USER")
NEO4J_PASSWORD = os.environ.get("ALADDIN_TEST_NEO4J_PASSWORD")
# py2neo cannot talk to Neo4j 5+: ALADDIN_TEST_NEO4J_DRIVERS=neo4j leaves it out.
NEO4J_DRIVERS = os.environ.get("ALADDIN_TEST_NEO4J_DRIVERS", "neo4j,py2neo").split(",")

INJECTIONS = [
    "KNOWS]->() DETACH DELETE n //",
    "KNOWS`]->() MATCH (x) DETACH DELETE x //",
    "KNOWS\n",
    "knows",
    "KNOWS {since: 1}",
    "",
    "X" * 65,
]


def A(i: str) -> NodeRef:
    return NodeRef("characters", i)


def rel(a: NodeRef, b: NodeRef, t: str = "KNOWS") -> Relationship:
    return Relationship(a, b, t)


@pytest.fixture(params=["embedded", "neo4j", "py2neo"])
def store(request):
    if request.param == "embedded":
        client = mongomock.MongoClient()
        graph: GraphStore = EmbeddedGraphStore(lambda p: client["open_" + p])
    else:
        if not NEO4J_URI:
            pytest.skip("ALADDIN_TEST_NEO4J_URI not set: no Neo4j server to test against")
        if request.param not in NEO4J_DRIVERS:
            pytest.skip(f"{request.param} left out by ALADDIN_TEST_NEO4J_DRIVERS")
        graph = create_graph_store(NEO4J_URI, None, driver=request.param,
                                   user=NEO4J_USER, password=NEO4J_PASSWORD)
    yield graph
    graph.close()


@pytest.fixture
def new_project(store):
    """Unique project names, dropped after the test so a shared server stays clean."""
    made: list[str] = []

    def make() -> str:
        made.append(f"test-{uuid.uuid4().hex[:12]}")
        return made[-1]

    yield make
    for project in made:
        store.drop_project(project)


@pytest.fixture
def project(new_project) -> str:
    return new_project()


# -- behaviour, every store ---------------------------------------------------------------

def test_add_nodes_is_idempotent(store, project):
    assert store.add_nodes(project, [A("a"), A("b"), A("a")]) == 2
    assert store.add_nodes(project, [A("a"), A("b")]) == 0
    assert store.add_nodes(project, []) == 0
    assert store.list_all(project) == ([A("a"), A("b")], [])


def test_add_relationships_creates_nodes_and_is_idempotent(store, project):
    scene = NodeRef("scenes", "s1")
    rels = [rel(A("a"), A("b")), rel(A("b"), A("a")), rel(A("a"), A("b"), "RIVAL_OF"),
            rel(A("a"), scene, "APPEARS_IN")]
    assert store.add_relationships(project, rels) == 4
    assert store.add_relationships(project, rels + [rels[0]]) == 0
    nodes, stored = store.list_all(project)
    assert nodes == sorted([A("a"), A("b"), scene])
    assert stored == sorted(rels)
    # Nodes created by relationships count as existing for add_nodes.
    assert store.add_nodes(project, [A("a"), scene]) == 0


def test_neighbourhood_depth_one_and_two_with_cycle(store, project):
    a, b, c, d = A("a"), A("b"), A("c"), A("d")
    store.add_relationships(project, [rel(a, b), rel(b, a), rel(b, c, "ALLY_OF"),
                                      rel(d, c, "FAMILY_OF")])

    one = store.neighbourhood(project, a, depth=1)
    assert one["nodes"] == [a.as_dict(), b.as_dict()]
    assert one["relationships"] == [rel(a, b).as_dict(), rel(b, a).as_dict()]

    two = store.neighbourhood(project, a, depth=2)
    assert two["nodes"] == [a.as_dict(), b.as_dict(), c.as_dict()]
    assert two["relationships"] == [r.as_dict() for r in
                                    sorted([rel(a, b), rel(b, a), rel(b, c, "ALLY_OF")])]

    # Incoming edges count: d reaches c against the arrow; root is listed first.
    from_c = store.neighbourhood(project, c, depth=1)
    assert from_c["nodes"] == [c.as_dict(), b.as_dict(), d.as_dict()]
    assert from_c["relationships"] == [rel(b, c, "ALLY_OF").as_dict(),
                                       rel(d, c, "FAMILY_OF").as_dict()]


def test_neighbourhood_root_alone_unknown_and_depth_clamped(store, project):
    chain = [A(f"n{i}") for i in range(8)]
    store.add_relationships(project, [rel(x, y, "FOLLOWS") for x, y in zip(chain, chain[1:])])
    store.add_nodes(project, [A("lonely")])

    assert store.neighbourhood(project, A("lonely")) == {
        "nodes": [A("lonely").as_dict()], "relationships": []}
    assert store.neighbourhood(project, A("ghost"), depth=3) == {"nodes": [], "relationships": []}
    assert len(store.neighbourhood(project, chain[0], depth=0)["nodes"]) == 2    # -> 1
    deep = store.neighbourhood(project, chain[0], depth=99)                       # -> 5
    assert deep["nodes"] == [n.as_dict() for n in chain[:6]]
    assert len(deep["relationships"]) == 5
    with pytest.raises(GraphError):
        store.neighbourhood(project, chain[0], depth="deep")


def test_projects_are_scoped(store, new_project):
    p1, p2 = new_project(), new_project()
    store.add_relationships(p1, [rel(A("a"), A("b"))])
    store.add_relationships(p2, [rel(A("a"), A("c"), "ALLY_OF")])

    assert store.list_all(p1) == ([A("a"), A("b")], [rel(A("a"), A("b"))])
    assert store.neighbourhood(p2, A("a"), depth=5)["nodes"] == [A("a").as_dict(),
                                                                  A("c").as_dict()]
    assert store.relationships_of(p1, [A("a")]) == [rel(A("a"), A("b"))]
    assert store.neighbourhood(p2, A("b")) == {"nodes": [], "relationships": []}

    assert store.delete_nodes(p1, [A("a")]) == 1
    assert store.list_all(p2) == ([A("a"), A("c")], [rel(A("a"), A("c"), "ALLY_OF")])
    store.drop_project(p1)
    assert store.list_all(p1) == ([], [])
    assert store.list_all(p2)[1] == [rel(A("a"), A("c"), "ALLY_OF")]


@pytest.mark.parametrize("bad_type", INJECTIONS + ["DIRECTS"])
def test_invalid_relationship_type_writes_nothing(store, project, bad_type):
    batch = [rel(A("a"), A("b")), rel(A("c"), A("d"), bad_type)]
    with pytest.raises(InvalidRelationshipType):
        store.add_relationships(project, batch)
    assert store.list_all(project) == ([], [])

    store.add_relationships(project, [rel(A("a"), A("b"))])
    with pytest.raises(InvalidRelationshipType):
        store.delete_relationships(project, batch)
    assert store.list_all(project) == ([A("a"), A("b")], [rel(A("a"), A("b"))])


def test_delete_nodes_removes_attached_relationships(store, project):
    a, b, c = A("a"), A("b"), A("c")
    store.add_relationships(project, [rel(a, b), rel(c, a, "RIVAL_OF"), rel(b, c, "ALLY_OF")])

    assert store.delete_nodes(project, [a, A("ghost")]) == 1
    assert store.delete_nodes(project, [a]) == 0
    assert store.list_all(project) == ([b, c], [rel(b, c, "ALLY_OF")])
    assert store.neighbourhood(project, a) == {"nodes": [], "relationships": []}


def test_delete_relationships_keeps_nodes(store, project):
    a, b = A("a"), A("b")
    store.add_relationships(project, [rel(a, b), rel(a, b, "RIVAL_OF")])

    assert store.delete_relationships(project, [rel(a, b), rel(b, a)]) == 1
    assert store.delete_relationships(project, [rel(a, b)]) == 0
    assert store.list_all(project) == ([a, b], [rel(a, b, "RIVAL_OF")])


def test_relationships_among_and_of(store, project):
    a, b, c, d = A("a"), A("b"), A("c"), NodeRef("locations", "a")
    rels = [rel(a, b), rel(b, a, "RIVAL_OF"), rel(b, c, "ALLY_OF"), rel(a, d, "LOCATED_AT")]
    store.add_relationships(project, rels)

    assert store.relationships_among(project, [a, b]) == sorted(rels[:2])
    assert store.relationships_among(project, [a, c]) == []
    assert store.relationships_among(project, [a, d, A("ghost")]) == [rels[3]]
    assert store.relationships_among(project, []) == []
    assert store.relationships_of(project, [a]) == sorted([rels[0], rels[1], rels[3]])
    assert store.relationships_of(project, [a, c]) == sorted(rels)
    assert store.relationships_of(project, []) == []


def test_relationship_rows_are_the_same_graph_as_objects(store, project, new_project):
    a, b, c, d = A("a"), A("b"), A("c"), NodeRef("locations", "a")
    rels = [rel(a, b), rel(b, a, "RIVAL_OF"), rel(b, c, "ALLY_OF"), rel(a, d, "LOCATED_AT")]
    store.add_relationships(project, rels)
    rows = store.relationship_rows_among(project, [a, b, d])
    assert rows == [relationship_row(r) for r in store.relationships_among(project, [a, b, d])]
    assert rows == sorted(rows) and len(rows) == 3
    assert store.relationship_rows_among(project, []) == []
    # Written as rows elsewhere (a clone re-maps ids on the rows), read back as objects.
    other = new_project()
    assert store.add_relationship_rows(other, rows + rows[:1]) == 3
    assert store.add_relationship_rows(other, rows) == 0
    assert store.relationships_among(other, [a, b, d]) == sorted([rels[0], rels[1], rels[3]])
    assert store.neighbourhood(other, d)["nodes"][0] == d.as_dict()


def test_existing_nodes(store, project):
    a, b, c = A("a"), A("b"), NodeRef("scenes", "a")
    store.add_relationships(project, [rel(a, b)])
    store.add_nodes(project, [c])
    assert store.existing_nodes(project, [a, c, A("ghost"), NodeRef("scenes", "b")]) == {a, c}
    assert store.existing_nodes(project, []) == set()


@pytest.mark.parametrize("bad_row", [
    ("characters", "a", "characters", "b", "KNOWS]->() DETACH DELETE n //"),
    ("characters", "a", "characters", "b", "NOT_WHITELISTED"),
    ("characters", "", "characters", "b", "KNOWS"),
    ("characters", "a", "characters", {"$ne": 1}, "KNOWS"),
    ("characters", "a", "characters", "b"),
])
def test_bad_relationship_rows_write_nothing(store, project, bad_row):
    good = ("characters", "x", "characters", "y", "KNOWS")
    with pytest.raises(GraphError):
        store.add_relationship_rows(project, [good, bad_row])
    assert store.list_all(project) == ([], [])


def test_many_relationships_in_one_call(store, project):
    # Enough to catch a per-item round trip; mongomock itself is slow, real servers are not.
    people = [A(f"p{i}") for i in range(60)]
    scenes = [NodeRef("scenes", f"s{i}") for i in range(10)]
    rels = [rel(p, s, "APPEARS_IN") for p in people for s in scenes]
    assert store.add_relationships(project, rels) == 600
    assert store.add_relationships(project, rels[::-1]) == 0
    nodes, stored = store.list_all(project)
    assert len(nodes) == 70 and len(stored) == 600
    # p0 -> every scene -> every person: all of it within two hops.
    hood = store.neighbourhood(project, people[0], depth=2)
    assert len(hood["nodes"]) == 70 and len(hood["relationships"]) == 600
    assert len(store.neighbourhood(project, people[0])["relationships"]) == 10


# -- values and validation ------------------------------------------------------------------

def test_as_dict_shapes_and_node_validation():
    r = rel(A("a"), NodeRef("scenes", "s1"), "APPEARS_IN")
    assert r.as_dict() == {"from": {"collection": "characters", "id": "a"},
                           "to": {"collection": "scenes", "id": "s1"}, "type": "APPEARS_IN"}
    assert Relationship.from_dict(r.as_dict()) == r
    for bad in [{"$ne": None}, "", None, 3]:
        with pytest.raises(InvalidNodeRef):
            NodeRef("characters", bad)
    with pytest.raises(GraphError):
        Relationship.from_dict({"from": {"collection": "c", "id": "1"}})


@pytest.mark.parametrize("bad_type", INJECTIONS + ["DIRECTS", None, 7])
def test_validate_relationship_type_rejects(bad_type):
    with pytest.raises(InvalidRelationshipType):
        validate_relationship_type(bad_type, DEFAULT_RELATIONSHIP_TYPES | {"X" * 65})


def test_validate_relationship_type_accepts_and_whitelist_is_checked():
    assert validate_relationship_type("APPEARS_IN", DEFAULT_RELATIONSHIP_TYPES) == "APPEARS_IN"
    assert "FAMILY_OF" in DEFAULT_RELATIONSHIP_TYPES and len(DEFAULT_RELATIONSHIP_TYPES) == 14
    client = mongomock.MongoClient()
    custom = EmbeddedGraphStore(lambda p: client["open_" + p], allowed_types={"DIRECTS"})
    assert custom.allowed_types == frozenset({"DIRECTS"})
    assert custom.add_relationships("p", [rel(A("a"), A("b"), "DIRECTS")]) == 1
    with pytest.raises(InvalidRelationshipType):
        custom.add_relationships("p", [rel(A("a"), A("b"))])
    with pytest.raises(ValueError):
        EmbeddedGraphStore(lambda p: client[p], allowed_types={"KNOWS]->() DELETE n //"})


def test_embedded_store_uses_the_projects_own_database():
    client = mongomock.MongoClient()
    store = EmbeddedGraphStore(lambda p: client["open_" + p])
    store.add_relationships("film", [rel(A("a"), A("b"))])
    db = client["open_film"]
    assert db.list_collection_names() == [BUCKETS_COLLECTION]
    # One node bucket per node (they hash apart), one bucket each way for the edge.
    buckets = list(db[BUCKETS_COLLECTION].find({}))
    assert {b["_id"][0] for b in buckets} == {"n", "o", "i"}
    assert all(b["version"] == 1 and isinstance(b["items"], str) for b in buckets)
    # Collections of the earlier per-item layout are dropped with the project's graph.
    db["graph_nodes"].insert_one({"collection": "characters", "id": "old"})
    db["graph_relationships"].insert_one({"type": "KNOWS"})
    store.drop_project("film")
    assert db.list_collection_names() == []
    assert store.list_all("film") == ([], [])


# -- embedded store: buckets, splits, races ---------------------------------------------------

def _bucket_docs(client, project: str) -> list[dict]:
    return list(client["open_" + project][BUCKETS_COLLECTION].find({}))


def _reachable(docs: list[dict]) -> set[str]:
    by_id = {d["_id"]: d for d in docs}
    stack = [f"{family}:{n}" for family in "noi" for n in range(64)]
    seen: set[str] = set()
    while stack:
        doc = by_id.get(stack.pop())
        if doc and doc["_id"] not in seen:
            seen.add(doc["_id"])
            stack.extend(doc.get("split", {}).get("children", []))
    return seen


def test_bulk_write_touches_a_bounded_number_of_documents():
    client = mongomock.MongoClient()
    store = EmbeddedGraphStore(lambda p: client["open_" + p])
    people = [A(f"p{i}") for i in range(400)]
    rels = [rel(p, q) for p, q in zip(people, people[1:] + people[:1])]
    rels += [rel(p, NodeRef("scenes", f"s{i % 7}"), "APPEARS_IN") for i, p in enumerate(people)]
    assert store.add_relationships("film", rels) == 800
    docs = _bucket_docs(client, "film")
    # At most the 64 root buckets of each family, never one document per item.
    assert len(docs) <= 3 * 64
    assert store.add_relationships("film", rels) == 0
    assert all(d["version"] == 1 for d in docs)  # nothing rewritten: nothing was new
    assert [d["version"] for d in _bucket_docs(client, "film")] == [d["version"] for d in docs]


def test_small_bucket_cap_splits_and_keeps_every_answer():
    """A tiny cap forces deep splits (by node hash, and by item hash for one busy node);
    every query must still answer exactly like a plain set model."""
    import random

    cap = 300
    client = mongomock.MongoClient()
    store = EmbeddedGraphStore(lambda p: client["open_" + p], bucket_bytes=cap)
    rnd = random.Random(5)
    nodes = [NodeRef(rnd.choice(["characters", "scenes"]), f"n{i}") for i in range(60)]
    hub = NodeRef("scenes", "hub")  # one node with many edges both ways: one node-hash bucket
    types = sorted(DEFAULT_RELATIONSHIP_TYPES)
    model: set[Relationship] = set()
    for _ in range(3):
        batch = {Relationship(*rnd.sample(nodes, 2), rnd.choice(types)) for _ in range(60)}
        batch |= {Relationship(hub, n, "FEATURES") for n in rnd.sample(nodes, 15)}
        batch |= {Relationship(n, hub, "APPEARS_IN") for n in rnd.sample(nodes, 15)}
        assert store.add_relationships("film", sorted(batch)) == len(batch - model)
        model |= batch
        gone = set(rnd.sample(sorted(model), 20))
        assert store.delete_relationships("film", sorted(gone) + [rel(A("x"), A("y"))]) == 20
        model -= gone

    docs = _bucket_docs(client, "film")
    splits = [d for d in docs if d.get("split")]
    assert {d["split"]["on"] for d in splits} == {"node", "key"}
    for doc in docs:
        if "items" in doc:
            assert len(doc["items"]) <= cap or doc["count"] == 1
    assert _reachable(docs) == {d["_id"] for d in docs}  # no orphans left behind

    every_node = set(nodes) | {hub}
    listed_nodes, listed = store.list_all("film")
    assert listed == sorted(model)
    assert set(listed_nodes) <= every_node
    assert {n for r in model for n in (r.source, r.target)} <= set(listed_nodes)
    some = rnd.sample(nodes, 15) + [hub]
    assert store.relationships_of("film", some) == sorted(
        r for r in model if r.source in some or r.target in some)
    assert store.relationships_among("film", some) == sorted(
        r for r in model if r.source in some and r.target in some)
    hood = store.neighbourhood("film", hub, depth=1)
    assert hood["relationships"] == [r.as_dict() for r in sorted(model) if hub in (r.source, r.target)]

    victims = rnd.sample(nodes, 10) + [hub]
    assert store.delete_nodes("film", victims) == 11
    model = {r for r in model if r.source not in victims and r.target not in victims}
    listed_nodes, listed = store.list_all("film")
    assert listed == sorted(model) and not set(victims) & set(listed_nodes)
    assert store.relationships_of("film", victims) == []
    assert store.neighbourhood("film", hub) == {"nodes": [], "relationships": []}


def test_concurrent_writers_merge_with_exact_counts(monkeypatch):
    """Another writer commits between our read and our compare-and-set: we retry, the
    item is stored once, and exactly one of the two calls counts it."""
    client = mongomock.MongoClient()
    ours = EmbeddedGraphStore(lambda p: client["open_" + p])
    theirs = EmbeddedGraphStore(lambda p: client["open_" + p])
    a, b, c = A("a"), A("b"), A("c")
    ours.add_relationships("film", [rel(a, c)])  # so the next writes replace existing buckets
    counts: list[int] = []
    collection_type = type(client["open_film"][BUCKETS_COLLECTION])
    real_replace = collection_type.replace_one
    real_insert_many = collection_type.insert_many
    raced = {"replace": False, "insert": False}

    def racing_replace(self, *args, **kwargs):
        if not raced["replace"]:
            raced["replace"] = True
            counts.append(theirs.add_relationships("film", [rel(a, b)]))
        return real_replace(self, *args, **kwargs)

    def racing_insert_many(self, docs, *args, **kwargs):
        if not raced["insert"]:
            raced["insert"] = True
            counts.append(theirs.add_relationships("film", [rel(b, A("z"))]))
        return real_insert_many(self, docs, *args, **kwargs)

    monkeypatch.setattr(collection_type, "replace_one", racing_replace)
    monkeypatch.setattr(collection_type, "insert_many", racing_insert_many)
    counts.append(ours.add_relationships("film", [rel(a, b), rel(b, A("z"))]))
    monkeypatch.undo()
    assert raced == {"replace": True, "insert": True}
    # theirs stored both items first; ours retried and found them there.
    assert counts == [1, 1, 0]
    assert ours.list_all("film")[1] == sorted([rel(a, c), rel(a, b), rel(b, A("z"))])
    assert ours.relationships_of("film", [A("z")]) == [rel(b, A("z"))]


def test_lost_split_race_leaves_no_orphans(monkeypatch):
    client = mongomock.MongoClient()
    ours = EmbeddedGraphStore(lambda p: client["open_" + p], bucket_bytes=200)
    theirs = EmbeddedGraphStore(lambda p: client["open_" + p], bucket_bytes=200)
    hub = NodeRef("scenes", "hub")
    ours.add_relationships("film", [rel(A("a"), hub, "APPEARS_IN")])
    collection_type = type(client["open_film"][BUCKETS_COLLECTION])
    real_replace = collection_type.replace_one
    raced: list[int] = []

    def racing_replace(self, flt, doc, *args, **kwargs):
        if not raced and doc.get("split"):
            raced.append(theirs.add_relationships("film", [rel(A("t"), hub, "APPEARS_IN")]))
        return real_replace(self, flt, doc, *args, **kwargs)

    monkeypatch.setattr(collection_type, "replace_one", racing_replace)
    batch = [rel(A(f"x{i}"), hub, "APPEARS_IN") for i in range(12)]
    assert ours.add_relationships("film", batch) == 12
    monkeypatch.undo()
    assert raced == [1]
    docs = _bucket_docs(client, "film")
    assert any(d.get("split") for d in docs)
    assert _reachable(docs) == {d["_id"] for d in docs}
    assert len(ours.relationships_of("film", [hub])) == 14


def test_bucket_cap_must_be_positive():
    with pytest.raises(ValueError):
        EmbeddedGraphStore(lambda p: None, bucket_bytes=0)


# -- Cypher text ------------------------------------------------------------------------------

class RecordingStore(CypherGraphStore):
    """The shared Cypher adapter logic with the server replaced by a statement log."""

    def __init__(self) -> None:
        super().__init__()
        self.statements: list[tuple[str, Mapping[str, Any]]] = []

    def _execute(self, statements: Sequence, *, write: bool) -> list:
        self.statements.extend(statements)
        return [([], {}) for _ in statements]


def test_cypher_text_carries_no_user_values():
    evil = "x'}) DETACH DELETE n //"
    store = RecordingStore()
    project = "proj-" + evil
    a, b = NodeRef("chars" + evil, "id" + evil), NodeRef("scenes", "s" + evil)
    store.add_nodes(project, [a])
    store.add_relationships(project, [rel(a, b, "APPEARS_IN"), rel(b, a, "REFERENCES")])
    store.neighbourhood(project, a, depth=3)
    store.relationships_among(project, [a, b])
    store.relationships_of(project, [a])
    store.existing_nodes(project, [a, b])
    store.relationship_rows_among(project, [a, b])
    store.add_relationship_rows(project, [(a.collection, a.id, b.collection, b.id, "KNOWS")])
    store.delete_relationships(project, [rel(a, b, "APPEARS_IN")])
    store.delete_nodes(project, [a])
    store.list_all(project)
    store.drop_project(project)

    texts = [text for text, _ in store.statements]
    assert any(":APPEARS_IN]" in t for t in texts) and any(":REFERENCES]" in t for t in texts)
    assert any("[*0..3]" in t for t in texts)
    for text, params in store.statements:
        assert evil not in text and "proj-" not in text and "s1" not in text
        if "AladdinNode {project" in text:
            assert "$project" in text and params.get("project") == project
    # Each relationship type gets its own statement; the values travel as parameters.
    merged = [p for t, p in store.statements if ":APPEARS_IN]" in t]
    assert merged == [{"project": project, "rows": [{
        "from_collection": a.collection, "from_id": a.id,
        "to_collection": b.collection, "to_id": b.id}]}]


def test_cypher_builders_validate_and_clamp():
    text = cypher.merge_relationships("KNOWS", DEFAULT_RELATIONSHIP_TYPES)
    assert "MERGE (a)-[:KNOWS]->(b)" in text and "$project" in text and "$rows" in text
    for bad in INJECTIONS + ["DIRECTS"]:
        with pytest.raises(InvalidRelationshipType):
            cypher.merge_relationships(bad, DEFAULT_RELATIONSHIP_TYPES)
    assert "[*0..5]" in cypher.neighbourhood(99)
    assert "[*0..1]" in cypher.neighbourhood(-3)
    assert "[*0..2]" in cypher.neighbourhood("2")
    with pytest.raises(GraphError):
        cypher.neighbourhood("2]-() DETACH DELETE n //")
    assert any("AladdinNode" in s and "project" in s for s in cypher.SCHEMA_STATEMENTS)


def test_recording_store_rejects_bad_types_before_any_statement():
    store = RecordingStore()
    with pytest.raises(InvalidRelationshipType):
        store.add_relationships("p", [rel(A("a"), A("b")), rel(A("a"), A("b"), INJECTIONS[0])])
    assert store.statements == []


# -- factory ----------------------------------------------------------------------------------

def test_factory_embedded_without_uri():
    client = mongomock.MongoClient()
    for uri in (None, ""):
        assert isinstance(create_graph_store(uri, lambda p: client[p]), EmbeddedGraphStore)


def test_factory_picks_adapter_and_credentials(monkeypatch):
    import core.graph.neo4j as adapters

    calls: list[tuple[str, str, dict]] = []

    def fake(kind):
        def build(uri, **kwargs):
            calls.append((kind, uri, kwargs))
            return kind
        return build

    monkeypatch.setattr(adapters, "Neo4jDriverGraphStore", fake("neo4j"))
    monkeypatch.setattr(adapters, "Py2neoGraphStore", fake("py2neo"))

    assert create_graph_store("neo4j+s://u%40x:p%3Aw@db.example:7687", None) == "neo4j"
    assert calls[-1][:2] == ("neo4j", "neo4j+s://db.example:7687")
    assert (calls[-1][2]["user"], calls[-1][2]["password"]) == ("u@x", "p:w")

    assert create_graph_store("bolt://u:p@h:7687", None, driver="py2neo", password="explicit",
                              allowed_types={"KNOWS"}) == "py2neo"
    assert calls[-1][1] == "bolt://h:7687"
    assert calls[-1][2]["password"] == "explicit" and calls[-1][2]["user"] == "u"
    assert calls[-1][2]["allowed_types"] == {"KNOWS"}

    with pytest.raises(ValueError):
        create_graph_store("bolt://h", None, driver="gremlin")
    with pytest.raises(ValueError):
        create_graph_store("http://h:7474", None, driver="neo4j")
    with pytest.raises(ValueError):
        create_graph_store("ftp://h", None, driver="py2neo")


def test_split_credentials():
    assert split_credentials("bolt://h:7687") == ("bolt://h:7687", None, None)
    assert split_credentials("bolt://neo4j@h") == ("bolt://h", "neo4j", None)
    assert split_credentials("bolt://a:b@[::1]:7687") == ("bolt://[::1]:7687", "a", "b")


def test_neo4j_driver_adapter_constructs_without_connecting():
    # The official driver connects lazily, so construction needs no server.
    store = Neo4jDriverGraphStore("bolt://127.0.0.1:1", user="neo4j", password="x")
    assert store.allowed_types == DEFAULT_RELATIONSHIP_TYPES
    store.close()


# -- adapter plumbing, with the client library's server side faked ---------------------------

class _FakeResult:
    def __init__(self, rows: list[dict], counters: dict[str, int]) -> None:
        self.rows, self.counters = rows, counters

    def data(self) -> list[dict]:
        return self.rows

    def consume(self):  # neo4j driver: summary.counters.<name>
        names = ("nodes_created", "nodes_deleted", "relationships_created", "relationships_deleted")
        counters = type("Counters", (), {**dict.fromkeys(names, 0), **self.counters})()
        return type("Summary", (), {"counters": counters})()

    def stats(self) -> dict[str, int]:  # py2neo
        return self.counters


class _FakeTx:
    def __init__(self, log: list) -> None:
        self.log = log

    def run(self, text: str, params: dict) -> _FakeResult:
        self.log.append((text, params))
        if "count(*) AS deleted" in text:
            return _FakeResult([{"deleted": 0}], {})
        return _FakeResult([], {"nodes_created": len(params.get("rows", []))})


def test_neo4j_driver_adapter_runs_managed_transactions(monkeypatch):
    import neo4j

    log: list = []
    modes: list[str] = []

    class Session:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def execute_write(self, work):
            modes.append("write")
            return work(_FakeTx(log))

        def execute_read(self, work):
            modes.append("read")
            return work(_FakeTx(log))

    class Driver:
        def session(self, database=None):
            modes.append(f"db={database}")
            return Session()

        def close(self):
            modes.append("closed")

    monkeypatch.setattr(neo4j.GraphDatabase, "driver", staticmethod(lambda uri, auth: Driver()))
    store = Neo4jDriverGraphStore("bolt://h", database="films")
    assert store.add_nodes("p", [A("a"), A("b")]) == 2
    assert store.list_all("p") == ([], [])
    store.close()
    # schema statement first, in its own transaction; then the write; then one read.
    assert modes == ["db=films", "write", "db=films", "write", "db=films", "read", "closed"]
    assert log[0][0] == cypher.SCHEMA_STATEMENTS[0] and log[1][0] == cypher.MERGE_NODES


def test_py2neo_adapter_commits_and_rolls_back(monkeypatch):
    import py2neo
    from core.graph.neo4j import Py2neoGraphStore

    log: list = []
    events: list[str] = []

    class Graph:
        def __init__(self, uri, **settings):
            events.append(f"graph {uri} {sorted(settings)}")

        def update(self, work):
            events.append("update")
            work(_FakeTx(log))

        def begin(self, readonly=False):
            events.append(f"begin readonly={readonly}")
            return _FakeTx(log)

        def commit(self, tx):
            events.append("commit")

        def rollback(self, tx):
            events.append("rollback")

    monkeypatch.setattr(py2neo, "Graph", Graph)
    store = Py2neoGraphStore("bolt://h", user="neo4j", password="pw")
    assert store.add_nodes("p", [A("a")]) == 1
    assert store.relationships_of("p", [A("a")]) == []
    monkeypatch.setattr(_FakeTx, "run", lambda self, text, params: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        store.list_all("p")
    assert events == ["graph bolt://h ['auth']", "update", "update",
                      "begin readonly=True", "commit", "begin readonly=True", "rollback"]
