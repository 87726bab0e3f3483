"""Team plugin over HTTP: member listing, role changes, removal (including leaving) and ownership transfer."""

from __future__ import annotations

from core.models import Membership, Project


def team_url(pid, user=None):
    return f"/api/v1/projects/{pid}/team" + (f"/{user.id}" if user is not None else "")


def test_members_listing(client, team):
    pid, owner = team["project"].slug, team["owner"]
    r = client.get(team_url(pid), headers=team["viewer"].headers)
    assert r.status_code == 200 and r.json["total"] == 4
    by_email = {m["email"]: m for m in r.json["items"]}
    assert {e: m["role"] for e, m in by_email.items()} == {
        "owner@example.com": "owner", "editor@example.com": "editor",
        "collaborator@example.com": "collaborator", "viewer@example.com": "viewer"}
    editor = by_email["editor@example.com"]
    assert editor["id"] == editor["userId"] == str(team["editor"].id)
    assert editor["addedBy"] == str(owner.id) and editor["addedAt"].endswith("Z") and editor["lastActiveAt"] is None
    assert client.get(team_url(pid), headers=team["outsider"].headers).status_code == 404
    # Acting in the project makes a member "active".
    client.post(f"/api/v1/projects/{pid}/content/scenes", json={"content": {"n": 1}}, headers=team["editor"].headers)
    r = client.get(team_url(pid), headers=owner.headers).json
    assert next(m for m in r["items"] if m["email"] == "editor@example.com")["lastActiveAt"].endswith("Z")


def test_role_changes(client, team):
    pid, owner, editor, viewer = team["project"].slug, team["owner"], team["editor"], team["viewer"]
    assert client.patch(team_url(pid, viewer), json={"role": "editor"}, headers=editor.headers).status_code == 403
    assert client.patch(team_url(pid, viewer), json={"role": "editor"},
                        headers=team["outsider"].headers).status_code == 404
    r = client.patch(team_url(pid, owner), json={"role": "editor"}, headers=owner.headers)
    assert r.status_code == 409 and "owner cannot be demoted" in r.json["message"]
    assert client.patch(team_url(pid, viewer), json={"role": "owner"}, headers=owner.headers).status_code == 422
    assert client.patch(team_url(pid, viewer), json={"role": "boss"}, headers=owner.headers).status_code == 422
    assert client.patch(team_url(pid, team["outsider"]), json={"role": "viewer"}, headers=owner.headers).status_code == 404
    assert client.patch(f"/api/v1/projects/{pid}/team/nobody", json={"role": "viewer"},
                        headers=owner.headers).status_code == 404
    r = client.patch(team_url(pid, viewer), json={"role": "collaborator"}, headers=owner.headers)
    assert r.status_code == 200 and r.json["role"] == "collaborator" and r.json["email"] == "viewer@example.com"
    assert client.get(f"/api/v1/projects/{pid}", headers=viewer.headers).json["role"] == "collaborator"
    assert Membership.objects(projectId=str(team["project"].id), role="owner").count() == 1


def test_removal_and_leaving(client, team):
    pid, owner = team["project"].slug, team["owner"]
    editor, collab, viewer = team["editor"], team["collaborator"], team["viewer"]
    assert client.delete(team_url(pid, viewer), headers=collab.headers).status_code == 403
    assert client.delete(team_url(pid, viewer), headers=editor.headers).status_code == 403
    assert client.delete(team_url(pid, viewer), headers=team["outsider"].headers).status_code == 404
    # Nobody removes the owner, not even the owner itself.
    for actor in (owner, editor):
        r = client.delete(team_url(pid, owner), headers=actor.headers)
        assert r.status_code in (403, 409), r.json
    r = client.delete(team_url(pid, owner), headers=owner.headers)
    assert r.status_code == 409 and "owner cannot be removed" in r.json["message"]
    # Any member may leave without team:remove.
    assert client.delete(team_url(pid, viewer), headers=viewer.headers).status_code == 204
    assert client.get(f"/api/v1/projects/{pid}", headers=viewer.headers).status_code == 404
    assert client.delete(team_url(pid, viewer), headers=viewer.headers).status_code == 404
    assert client.delete(team_url(pid, collab), headers=owner.headers).status_code == 204
    assert client.delete(team_url(pid, collab), headers=owner.headers).status_code == 404
    assert client.get(team_url(pid), headers=owner.headers).json["total"] == 2


def test_ownership_transfer(client, team):
    pid, owner, editor, viewer = team["project"].slug, team["owner"], team["editor"], team["viewer"]
    url = f"/api/v1/projects/{pid}/transfer-ownership"
    assert client.post(url, json={"userId": str(viewer.id)}, headers=editor.headers).status_code == 403
    assert client.post(url, json={"userId": str(viewer.id)}, headers=team["outsider"].headers).status_code == 404
    r = client.post(url, json={"userId": str(team["outsider"].id)}, headers=owner.headers)
    assert r.status_code == 400 and "must already be a member" in r.json["message"]
    assert client.post(url, json={"userId": "nobody"}, headers=owner.headers).status_code == 400
    assert client.post(url, json={}, headers=owner.headers).status_code == 422
    assert client.post(url, json={"userId": str(owner.id)}, headers=owner.headers).status_code == 409

    r = client.post(url, json={"userId": str(viewer.id)}, headers=owner.headers)
    assert r.status_code == 200, r.json
    roles = {m["email"]: m["role"] for m in r.json["items"]}
    assert roles["viewer@example.com"] == "owner" and roles["owner@example.com"] == "editor"
    assert Project.objects(id=team["project"].id).get().ownerId == str(viewer.id)
    # Both roles apply at once: the old owner lost the owner's rights, the new one has them.
    assert client.get(f"/api/v1/projects/{pid}", headers=owner.headers).json["role"] == "editor"
    assert client.patch(team_url(pid, editor), json={"role": "viewer"}, headers=owner.headers).status_code == 403
    assert client.post(url, json={"userId": str(owner.id)}, headers=owner.headers).status_code == 403
    assert client.get(f"/api/v1/projects/{pid}/audit", headers=owner.headers).status_code == 403
    assert client.get(f"/api/v1/projects/{pid}/audit", headers=viewer.headers).status_code == 200
    assert client.delete(team_url(pid, viewer), headers=viewer.headers).status_code == 409
    assert client.patch(team_url(pid, owner), json={"role": "viewer"}, headers=viewer.headers).status_code == 200
