"""Graph endpoints: create a relationship (201), whitelist (400), existing nodes only (404), neighbourhood."""

from __future__ import annotations


def _doc(client, user, pid, collection, name):
    r = client.post(f"/api/v1/projects/{pid}/content/{collection}", json={"content": {"name": name}},
                    headers=user.headers)
    assert r.status_code == 201, r.json
    return r.json["id"]


def _rel(client, user, pid, frm, to, kind):
    return client.post(f"/api/v1/projects/{pid}/graph/relationships", headers=user.headers, json={
        "from": {"collection": frm[0], "id": frm[1]}, "to": {"collection": to[0], "id": to[1]}, "type": kind})


def test_create_and_walk_relationships(app, client, team):
    pid, owner = team["project"].slug, team["owner"]
    a = ("characters", _doc(client, owner, pid, "characters", "A"))
    b = ("characters", _doc(client, owner, pid, "characters", "B"))
    s = ("scenes", _doc(client, owner, pid, "scenes", "S"))
    loc = ("locations", _doc(client, owner, pid, "locations", "L"))
    r = _rel(client, owner, pid, a, b, "RIVAL_OF")
    assert r.status_code == 201, r.json
    assert r.json == {"from": {"collection": "characters", "id": a[1]},
                      "to": {"collection": "characters", "id": b[1]}, "type": "RIVAL_OF", "created": True}
    assert _rel(client, owner, pid, a, b, "RIVAL_OF").json["created"] is False  # idempotent
    assert _rel(client, owner, pid, b, s, "APPEARS_IN").status_code == 201
    assert _rel(client, owner, pid, s, loc, "LOCATED_AT").status_code == 201

    r = client.get(f"/api/v1/projects/{pid}/graph/characters/{a[1]}?depth=1", headers=owner.headers)
    assert r.status_code == 200, r.json
    assert r.json["nodes"][0] == {"collection": "characters", "id": a[1]}
    assert [rel["type"] for rel in r.json["relationships"]] == ["RIVAL_OF"]
    r = client.get(f"/api/v1/projects/{pid}/graph/characters/{a[1]}?depth=3", headers=owner.headers)
    assert sorted(rel["type"] for rel in r.json["relationships"]) == ["APPEARS_IN", "LOCATED_AT", "RIVAL_OF"]
    assert len(r.json["nodes"]) == 4
    # A viewer reads the graph.
    r = client.get(f"/api/v1/projects/{pid}/graph/scenes/{s[1]}?depth=2", headers=team["viewer"].headers)
    assert r.status_code == 200 and len(r.json["relationships"]) == 3
    # Depth outside 1..5 and unknown documents are refused.
    assert client.get(f"/api/v1/projects/{pid}/graph/scenes/{s[1]}?depth=9", headers=owner.headers).status_code == 422
    assert client.get(f"/api/v1/projects/{pid}/graph/scenes/{'0' * 24}", headers=owner.headers).status_code == 404
    assert client.get(f"/api/v1/projects/{pid}/graph/nosuch/{s[1]}", headers=owner.headers).status_code == 404


def test_relationship_type_whitelist_and_nodes(app, client, team):
    pid, owner = team["project"].slug, team["owner"]
    a = ("characters", _doc(client, owner, pid, "characters", "A"))
    b = ("characters", _doc(client, owner, pid, "characters", "B"))
    for bad in ("HATES", "rival_of", "RIVAL_OF]->(x) DETACH DELETE x //", "", "A" * 80):
        r = _rel(client, owner, pid, a, b, bad)
        assert r.status_code in (400, 422), (bad, r.json)
    r = _rel(client, owner, pid, a, b, "HATES")
    assert r.status_code == 400 and "not allowed" in r.json["message"] and "RIVAL_OF" in r.json["allowed"]
    assert _rel(client, owner, pid, a, ("characters", "0" * 24), "KNOWS").status_code == 404
    assert _rel(client, owner, pid, a, ("characters", "not-an-id"), "KNOWS").status_code == 404
    assert _rel(client, owner, pid, a, ("nosuch", b[1]), "KNOWS").status_code == 404
    assert _rel(client, owner, pid, ("scenes", a[1]), b, "KNOWS").status_code == 404  # wrong collection
    r = client.post(f"/api/v1/projects/{pid}/graph/relationships", headers=owner.headers, json={"to": {}})
    assert r.status_code == 422
    assert app.extensions["aladdin"].graph.list_all(pid) == ([], [])


def test_graph_permissions(app, client, team):
    pid = team["project"].slug
    mine = ("characters", _doc(client, team["collaborator"], pid, "characters", "Mine"))
    theirs = ("characters", _doc(client, team["editor"], pid, "characters", "Theirs"))
    assert _rel(client, team["viewer"], pid, mine, theirs, "KNOWS").status_code == 403
    assert _rel(client, team["outsider"], pid, mine, theirs, "KNOWS").status_code == 404
    assert client.get(f"/api/v1/projects/{pid}/graph/characters/{mine[1]}",
                      headers=team["outsider"].headers).status_code == 404
    # Collaborators link from what they created, not from others' documents.
    assert _rel(client, team["collaborator"], pid, mine, theirs, "KNOWS").status_code == 201
    assert _rel(client, team["collaborator"], pid, theirs, mine, "KNOWS").status_code == 403


def test_deleting_a_document_removes_its_node_and_relationships(app, client, team):
    pid, owner = team["project"].slug, team["owner"]
    a = ("characters", _doc(client, owner, pid, "characters", "A"))
    b = ("characters", _doc(client, owner, pid, "characters", "B"))
    s = ("scenes", _doc(client, owner, pid, "scenes", "S"))
    assert _rel(client, owner, pid, a, b, "RIVAL_OF").status_code == 201
    assert _rel(client, owner, pid, b, s, "APPEARS_IN").status_code == 201
    assert client.delete(f"/api/v1/projects/{pid}/content/characters/{b[1]}", headers=owner.headers).status_code in (200, 204)
    r = client.get(f"/api/v1/projects/{pid}/graph/characters/{a[1]}?depth=3", headers=owner.headers)
    assert r.status_code == 200 and r.json["relationships"] == []
    nodes, rels = app.extensions["aladdin"].graph.list_all(pid)
    assert rels == [] and {(n.collection, n.id) for n in nodes} == {a, s}
