"""Deleting media obeys the same rules whichever URL is used (issue 19): an admin rule that
forbids deleting locked media holds for ``DELETE .../media/{id}`` as it does for
``DELETE .../content/media/{id}``, and a refused deletion leaves the document and its file."""

from __future__ import annotations

import io

import pytest

from tests.media import make_image

LOCKED_MEDIA_RULES = '''
# locked media stays, whichever route asks to delete it
denied(_actor: User, "content:delete", doc: Content) if
    doc.collection = "media" and doc.content.locked = true;
denied(_actor: User, "media:delete", doc: Content) if
    doc.collection = "media" and doc.content.locked = true;
'''

ROUTES = ("media", "content")


@pytest.fixture
def settings(tmp_path, redis_server):
    from tests.conftest import policy_settings

    return policy_settings(tmp_path, redis_server, LOCKED_MEDIA_RULES, "media.polar")


@pytest.fixture
def png(tmp_path) -> bytes:
    with open(make_image(tmp_path / "still.png"), "rb") as fh:
        return fh.read()


def upload(client, team, png: bytes, role: str = "owner", **content) -> dict:
    """A media upload by ``role``, then ``content`` merged into its document by the owner."""
    pid = team["project"].slug
    r = client.post(f"/api/v1/projects/{pid}/media", data={"file": (io.BytesIO(png), "still.png", "image/png")},
                    headers=team[role].headers, content_type="multipart/form-data")
    assert r.status_code == 201, r.json
    media = r.json
    if content:
        r = client.patch(f"/api/v1/projects/{pid}/content/media/{media['id']}", json={"content": content},
                         headers=team["owner"].headers)
        assert r.status_code == 200, r.json
    return media


def delete(client, team, media_id: str, route: str, role: str = "owner"):
    pid = team["project"].slug
    url = (f"/api/v1/projects/{pid}/media/{media_id}" if route == "media"
           else f"/api/v1/projects/{pid}/content/media/{media_id}")
    return client.delete(url, headers=team[role].headers)


def download(client, media: dict):
    path = media["downloadUrl"].split("://", 1)[1].split("/", 1)[1]
    return client.get("/" + path)


def assert_still_there(client, team, media: dict, png: bytes) -> None:
    pid = team["project"].slug
    got = client.get(f"/api/v1/projects/{pid}/media/{media['id']}", headers=team["owner"].headers)
    assert got.status_code == 200, got.json
    served = download(client, media)
    assert served.status_code == 200 and served.data == png


@pytest.mark.parametrize("route", ROUTES)
def test_locked_media_is_refused_on_both_routes(client, team, png, route):
    media = upload(client, team, png, locked=True)
    for role in ("owner", "editor"):
        r = delete(client, team, media["id"], route, role)
        assert r.status_code == 403, (role, r.status_code, r.get_data(as_text=True))
    assert_still_there(client, team, media, png)


@pytest.mark.parametrize("route", ROUTES)
def test_unlocked_media_is_deleted_with_its_file_on_both_routes(app, client, team, png, route):
    media = upload(client, team, png, locked=False)
    assert download(client, media).status_code == 200
    r = delete(client, team, media["id"], route)
    assert r.status_code == 204, r.get_data(as_text=True)
    pid = team["project"].slug
    assert client.get(f"/api/v1/projects/{pid}/media/{media['id']}", headers=team["owner"].headers).status_code == 404
    assert download(client, media).status_code == 404
    assert app.extensions["aladdin"].storage.list(f"projects/{pid}/media/{media['id']}/") == []


@pytest.mark.parametrize("route", ROUTES)
def test_collaborator_cannot_delete_media_it_did_not_create(client, team, png, route):
    media = upload(client, team, png)
    r = delete(client, team, media["id"], route, "collaborator")
    assert r.status_code == 403, r.get_data(as_text=True)
    assert_still_there(client, team, media, png)


@pytest.mark.parametrize("route", ROUTES)
def test_outsiders_learn_nothing_and_viewers_are_refused(client, team, png, route):
    media = upload(client, team, png)
    assert delete(client, team, media["id"], route, "outsider").status_code == 404
    assert delete(client, team, media["id"], route, "viewer").status_code == 403
    assert_still_there(client, team, media, png)
