"""Projects, content CRUD, roles over HTTP, media round trip on local storage."""

import io

import pytest

from tests.media import make_image


def test_create_project_makes_database_and_owner(app, client, actors):
    alice = actors.user("alice@example.com")
    r = client.post("/api/v1/projects", json={"name": "Night Shift", "slug": "night-shift"}, headers=alice.headers)
    assert r.status_code == 201, r.json
    assert r.json["role"] == "owner" and r.json["database"] == "open_night-shift"
    assert "open_night-shift" in app.extensions["aladdin"].db.client.list_database_names()
    # Every collection the platform writes lazily exists from the start (graph buckets, Yjs
    # operations with their index), made by this one process: no first-touch race later.
    db = app.extensions["aladdin"].db.project("night-shift")
    assert {"scenes", "characters", "graph_buckets", "operations"} <= set(db.list_collection_names())
    assert any(spec["key"] == [("collection", 1), ("documentId", 1), ("kind", 1)]
               for spec in db["operations"].index_information().values())
    listed = client.get("/api/v1/projects", headers=alice.headers).json
    assert [p["slug"] for p in listed["items"]] == ["night-shift"]
    again = client.post("/api/v1/projects", json={"name": "x", "slug": "night-shift"}, headers=alice.headers)
    assert again.status_code == 409


@pytest.mark.parametrize("slug", ["A", "ab", "has space", "../etc", "x" * 41, "-lead", "admin", "a$b"])
def test_bad_slugs_are_400(client, actors, slug):
    alice = actors.user("alice@example.com")
    r = client.post("/api/v1/projects", json={"name": "x", "slug": slug}, headers=alice.headers)
    assert r.status_code in (400, 422), (slug, r.json)


def test_content_crud_paging_filters_sort(client, team):
    owner, pid = team["owner"], team["project"].slug
    base = f"/api/v1/projects/{pid}/content/videos"
    ids = []
    for n in (3, 1, 2):
        r = client.post(base, json={"sceneNumber": n, "status": "completed", "content": {"mediaId": "x"}},
                        headers=owner.headers)
        assert r.status_code == 201, r.json
        assert r.json["version"] == 1 and r.json["createdBy"] == str(owner.id) and r.json["projectId"]
        ids.append(r.json["id"])
    r = client.get(base + "?sort=sceneNumber&limit=2", headers=owner.headers)
    assert [d["sceneNumber"] for d in r.json["items"]] == [1, 2] and r.json["total"] == 3
    r = client.get(base + "?sceneNumber=3", headers=owner.headers)
    assert [d["id"] for d in r.json["items"]] == [ids[0]]
    r = client.patch(f"{base}/{ids[0]}", json={"content": {"note": "hi"}, "baseVersion": 1}, headers=owner.headers)
    assert r.status_code == 200 and r.json["version"] == 2 and r.json["content"] == {"mediaId": "x", "note": "hi"}
    stale = client.patch(f"{base}/{ids[0]}", json={"content": {"note": "late"}}, headers={**owner.headers, "If-Match": '"1"'})
    assert stale.status_code == 409 and stale.json["version"] == 2
    assert client.post(base, json={"sceneNumber": "three"}, headers=owner.headers).status_code == 422
    assert client.post(base, json={"bogus": 1}, headers=owner.headers).status_code == 422
    assert client.delete(f"{base}/{ids[0]}", headers=owner.headers).status_code == 204
    assert client.get(f"{base}/{ids[0]}", headers=owner.headers).status_code == 404
    assert client.get(f"{base}/not-an-id", headers=owner.headers).status_code == 404
    assert client.get(f"/api/v1/projects/{pid}/content/nosuch", headers=owner.headers).status_code == 404


def test_outsider_gets_404_everywhere(client, team):
    out, pid = team["outsider"], team["project"].slug
    doc = client.post(f"/api/v1/projects/{pid}/content/characters", json={"content": {"name": "A"}},
                      headers=team["owner"].headers).json
    urls = [("get", f"/api/v1/projects/{pid}"), ("patch", f"/api/v1/projects/{pid}"),
            ("delete", f"/api/v1/projects/{pid}"),
            ("get", f"/api/v1/projects/{pid}/content/characters"),
            ("post", f"/api/v1/projects/{pid}/content/characters"),
            ("get", f"/api/v1/projects/{pid}/content/characters/{doc['id']}"),
            ("patch", f"/api/v1/projects/{pid}/content/characters/{doc['id']}"),
            ("delete", f"/api/v1/projects/{pid}/content/characters/{doc['id']}"),
            ("get", f"/api/v1/projects/{pid}/media")]
    for method, url in urls:
        r = getattr(client, method)(url, json={} if method in ("post", "patch") else None, headers=out.headers)
        assert r.status_code == 404, (method, url, r.status_code)


def test_collaborator_ownership_and_viewer_readonly(client, team):
    pid = team["project"].slug
    base = f"/api/v1/projects/{pid}/content/characters"
    collab, viewer, editor = team["collaborator"], team["viewer"], team["editor"]
    mine = client.post(base, json={"content": {"name": "Mine"}}, headers=collab.headers)
    assert mine.status_code == 201
    theirs = client.post(base, json={"content": {"name": "Theirs"}}, headers=editor.headers).json
    assert client.patch(f"{base}/{mine.json['id']}", json={"content": {"a": 1}}, headers=collab.headers).status_code == 200
    assert client.patch(f"{base}/{theirs['id']}", json={"content": {"a": 1}}, headers=collab.headers).status_code == 403
    assert client.delete(f"{base}/{theirs['id']}", headers=collab.headers).status_code == 403
    assert client.delete(f"{base}/{mine.json['id']}", headers=collab.headers).status_code == 204
    assert client.get(base, headers=viewer.headers).status_code == 200
    assert client.post(base, json={"content": {}}, headers=viewer.headers).status_code == 403
    assert client.patch(f"{base}/{theirs['id']}", json={"content": {"a": 1}}, headers=viewer.headers).status_code == 403
    assert client.patch(f"{base}/{theirs['id']}", json={"content": {"b": 2}}, headers=editor.headers).status_code == 200
    assert client.delete(f"/api/v1/projects/{pid}", headers=editor.headers).status_code == 403


def test_media_round_trip_and_signed_urls(client, team, tmp_path):
    owner, pid = team["owner"], team["project"].slug
    png = make_image(tmp_path / "still.png")
    data = open(png, "rb").read()
    r = client.post(f"/api/v1/projects/{pid}/media", data={"file": (io.BytesIO(data), "still.png", "image/png")},
                    headers=owner.headers, content_type="multipart/form-data")
    assert r.status_code == 201, r.json
    assert r.json["contentType"] == "image/png" and r.json["size"] == len(data)
    url = r.json["downloadUrl"]
    path = url.split("://", 1)[1].split("/", 1)[1]
    got = client.get("/" + path)
    assert got.status_code == 200 and got.data == data
    tampered = "/" + path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert client.get(tampered).status_code == 403
    lie = client.post(f"/api/v1/projects/{pid}/media", data={"file": (io.BytesIO(b"not a png at all"), "x.png", "image/png")},
                      headers=owner.headers, content_type="multipart/form-data")
    assert lie.status_code == 415
    viewer = team["viewer"]
    assert client.post(f"/api/v1/projects/{pid}/media", data={"file": (io.BytesIO(data), "s.png", "image/png")},
                       headers=viewer.headers, content_type="multipart/form-data").status_code == 403


def test_expired_signed_url_is_403(app, client, team, tmp_path):
    storage = app.extensions["aladdin"].storage
    storage.put("projects/team-film/media/x/a.bin", b"abc")
    url = storage.signed_url("projects/team-film/media/x/a.bin", expires_in=-1)
    assert client.get(url).status_code == 403


def test_project_delete_drops_database_and_media(app, client, team, tmp_path):
    owner, pid = team["owner"], team["project"].slug
    png = make_image(tmp_path / "still.png")
    client.post(f"/api/v1/projects/{pid}/media", data={"file": (open(png, "rb"), "still.png", "image/png")},
                headers=owner.headers, content_type="multipart/form-data")
    storage = app.extensions["aladdin"].storage
    assert storage.list(f"projects/{pid}/")
    assert client.delete(f"/api/v1/projects/{pid}", headers=owner.headers).status_code == 204
    assert storage.list(f"projects/{pid}/") == []
    assert "open_team-film" not in app.extensions["aladdin"].db.client.list_database_names()
    assert client.get(f"/api/v1/projects/{pid}", headers=owner.headers).status_code == 404
