"""Graph endpoints under admin read rules (issue 11), over HTTP: neighbours and relationships touching
documents the reader may not view are omitted (and nothing is reached through them); a query rooted
at a hidden document, or a relationship naming one, answers like a missing document."""

from __future__ import annotations

import pytest
from bson import ObjectId

from tests.conftest import make_settings
from tests.integration.test_clone_read_policy import write_rules
from tests.integration.test_graph_api import _doc, _rel


@pytest.fixture
def settings(tmp_path, redis_server):
    return make_settings(tmp_path, redis_server, policy_dir=write_rules(tmp_path / "admin-policies"))


@pytest.fixture
def graph(app, client, team):
    """hero -RIVAL_OF-> rival; hero -APPEARS_IN-> scene -LOCATED_AT-> harbour; hero -KNOWS-> spy
    (secret); spy -ALLY_OF-> rival; scene -PART_OF-> episode."""
    pid, owner = team["project"].slug, team["owner"]
    nodes = {name: (collection, _doc(client, owner, pid, collection, name))
             for name, collection in [("hero", "characters"), ("rival", "characters"), ("scene", "scenes"),
                                      ("harbour", "locations"), ("episode", "episodes")]}
    r = client.post(f"/api/v1/projects/{pid}/content/characters", headers=owner.headers,
                    json={"content": {"name": "Spy", "secret": True}})
    assert r.status_code == 201, r.json
    nodes["spy"] = ("characters", r.json["id"])
    for a, b, kind in [("hero", "rival", "RIVAL_OF"), ("hero", "scene", "APPEARS_IN"),
                       ("scene", "harbour", "LOCATED_AT"), ("hero", "spy", "KNOWS"),
                       ("spy", "rival", "ALLY_OF"), ("scene", "episode", "PART_OF")]:
        assert _rel(client, owner, pid, nodes[a], nodes[b], kind).status_code == 201
    return {**team, "pid": pid, "nodes": nodes}


def neighbourhood(client, user, pid, node, depth):
    r = client.get(f"/api/v1/projects/{pid}/graph/{node[0]}/{node[1]}?depth={depth}", headers=user.headers)
    assert r.status_code == 200, r.json
    return r


def names(graph, answer) -> tuple[list, set]:
    by_ref = {ref: name for name, ref in graph["nodes"].items()}
    nodes = [by_ref[(n["collection"], n["id"])] for n in answer["nodes"]]
    rels = {(by_ref[(r["from"]["collection"], r["from"]["id"])], r["type"],
             by_ref[(r["to"]["collection"], r["to"]["id"])]) for r in answer["relationships"]}
    return nodes, rels


def test_viewer_sees_no_scenes_and_no_secrets_among_neighbours(client, graph):
    pid, hero = graph["pid"], graph["nodes"]["hero"]
    for depth in (1, 2, 3, 5):
        nodes, rels = names(graph, neighbourhood(client, graph["viewer"], pid, hero, depth).json)
        # The harbour and the episode are reachable only through the scene: omitted too.
        assert nodes == ["hero", "rival"], depth
        assert rels == {("hero", "RIVAL_OF", "rival")}, depth


def test_owner_sees_everything(client, graph):
    pid, hero = graph["pid"], graph["nodes"]["hero"]
    nodes, rels = names(graph, neighbourhood(client, graph["owner"], pid, hero, 1).json)
    assert nodes[0] == "hero" and set(nodes) == {"hero", "rival", "scene", "spy"}
    assert rels == {("hero", "RIVAL_OF", "rival"), ("hero", "APPEARS_IN", "scene"), ("hero", "KNOWS", "spy")}
    nodes, rels = names(graph, neighbourhood(client, graph["owner"], pid, hero, 2).json)
    assert set(nodes) == {"hero", "rival", "scene", "spy", "harbour", "episode"}
    assert len(rels) == 6


def test_editor_sees_scenes_but_not_secrets(client, graph):
    pid, nodes_ = graph["pid"], graph["nodes"]
    answer = neighbourhood(client, graph["editor"], pid, nodes_["rival"], 1).json
    nodes, rels = names(graph, answer)
    # rival's neighbours: hero, and the spy (hidden) - nothing of the spy, not even the relationship.
    assert nodes == ["rival", "hero"] and rels == {("hero", "RIVAL_OF", "rival")}
    nodes, rels = names(graph, neighbourhood(client, graph["editor"], pid, nodes_["rival"], 2).json)
    assert set(nodes) == {"rival", "hero", "scene"}
    assert rels == {("hero", "RIVAL_OF", "rival"), ("hero", "APPEARS_IN", "scene")}
    nodes, _ = names(graph, neighbourhood(client, graph["editor"], pid, nodes_["rival"], 3).json)
    assert set(nodes) == {"rival", "hero", "scene", "harbour", "episode"}


def test_a_hidden_root_answers_like_a_missing_one(client, graph):
    pid, nodes_ = graph["pid"], graph["nodes"]

    def body(r, ident):
        return r.status_code, r.get_data(as_text=True).replace(ident, "<id>")

    for user, name in [(graph["viewer"], "scene"), (graph["viewer"], "spy"), (graph["editor"], "spy")]:
        collection, ident = nodes_[name]
        missing_id = str(ObjectId())
        hidden = client.get(f"/api/v1/projects/{pid}/graph/{collection}/{ident}", headers=user.headers)
        missing = client.get(f"/api/v1/projects/{pid}/graph/{collection}/{missing_id}", headers=user.headers)
        assert hidden.status_code == 404, hidden.json
        assert body(hidden, ident) == body(missing, missing_id)
    assert neighbourhood(client, graph["owner"], pid, nodes_["spy"], 1).json["nodes"][0]["id"] == nodes_["spy"][1]


def test_relationships_naming_a_hidden_document_are_refused_like_missing_ones(app, client, graph):
    pid, nodes_, editor = graph["pid"], graph["nodes"], graph["editor"]
    before = app.extensions["aladdin"].graph.list_all(pid)
    missing = ("characters", str(ObjectId()))
    for frm, to in [(nodes_["hero"], nodes_["spy"]), (nodes_["spy"], nodes_["hero"])]:
        r = _rel(client, editor, pid, frm, to, "KNOWS")
        gone = _rel(client, editor, pid, *[missing if n == nodes_["spy"] else n for n in (frm, to)], "KNOWS")
        assert r.status_code == gone.status_code == 404
        assert r.get_data(as_text=True).replace(nodes_["spy"][1], "<id>") == \
            gone.get_data(as_text=True).replace(missing[1], "<id>")
    assert app.extensions["aladdin"].graph.list_all(pid) == before
    # The editor links what they may see.
    assert _rel(client, editor, pid, nodes_["rival"], nodes_["scene"], "APPEARS_IN").status_code == 201
