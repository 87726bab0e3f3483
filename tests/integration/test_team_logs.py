"""Team plugin: activity and audit logs fed by core events — entries, filters, paging, immutability."""

from __future__ import annotations

import datetime as dt

import pytest

from core.events import emit
from plugins.team.models import ActivityEntry, AuditEntry, AuditImmutable

UA = {"User-Agent": "aladdin-tests/1.0"}


def h(user):
    return {**user.headers, **UA}


@pytest.fixture
def history(app, client, team, actors):
    """Every recorded kind of action, once, through the API (plugins' events emitted as they would)."""
    pid, owner, editor = team["project"].slug, team["owner"], team["editor"]
    project_id = str(team["project"].id)
    base = f"/api/v1/projects/{pid}/content/characters"
    doc = client.post(base, json={"content": {"name": "Ana"}}, headers=h(editor)).json
    client.patch(f"{base}/{doc['id']}", json={"content": {"age": 30}}, headers=h(editor))
    client.delete(f"{base}/{doc['id']}", headers=h(owner))
    newbie = actors.user("newbie@example.com")
    inv = client.post(f"/api/v1/projects/{pid}/team/invitations", json={"email": "newbie@example.com", "role": "viewer"},
                      headers=h(owner)).json
    client.post(f"/api/v1/invitations/{inv['token']}/accept", headers=h(newbie))
    other = client.post(f"/api/v1/projects/{pid}/team/invitations", json={"email": "x@example.com", "role": "viewer"},
                        headers=h(owner)).json
    client.delete(f"/api/v1/projects/{pid}/team/invitations/{other['id']}", headers=h(owner))
    client.patch(f"/api/v1/projects/{pid}/team/{newbie.id}", json={"role": "editor"}, headers=h(owner))
    client.delete(f"/api/v1/projects/{pid}/team/{team['viewer'].id}", headers=h(owner))
    # What the clone and export plugins emit; progress ticks are not logged.
    emit(app, "clone.completed", project_id=project_id, actor_id=str(editor.id), resource_type="job",
         resource_id="job-1", targetProjectId="p2")
    emit(app, "export.queued", project_id=project_id, actor_id=str(editor.id), resource_type="job", resource_id="job-2")
    emit(app, "export.progress", project_id=project_id, actor_id=str(editor.id), resource_type="job",
         resource_id="job-2", progress=0.5)
    emit(app, "export.completed", project_id=project_id, actor_id=str(editor.id), resource_type="job",
         resource_id="job-2")
    client.post(f"/api/v1/projects/{pid}/transfer-ownership", json={"userId": str(editor.id)}, headers=h(owner))
    return {"doc": doc, "newbie": newbie, "invitation": inv, "revoked": other}


RECORDED = ["project.created", "member.added", "member.added", "member.added", "content.created", "content.updated",
            "content.deleted", "invitation.created", "member.added", "invitation.accepted", "invitation.created",
            "invitation.revoked", "member.role_changed", "member.removed", "clone.completed", "export.queued",
            "export.completed", "project.ownership_transferred"]


def test_activity_records_every_action_newest_first(client, team, history):
    pid = team["project"].slug
    r = client.get(f"/api/v1/projects/{pid}/activity?limit=200", headers=team["collaborator"].headers)
    assert r.status_code == 200
    assert [e["action"] for e in r.json["items"]] == list(reversed(RECORDED)) and r.json["total"] == len(RECORDED)
    deleted = next(e for e in r.json["items"] if e["action"] == "content.deleted")
    assert deleted["userId"] == str(team["owner"].id) and deleted["resourceType"] == "characters"
    assert deleted["resourceId"] == history["doc"]["id"] and deleted["createdAt"].endswith("Z")
    # IP and user agent only for team:view_details (the owner: the editor since the transfer).
    assert "ip" not in deleted and "userAgent" not in deleted
    as_owner = client.get(f"/api/v1/projects/{pid}/activity?limit=200", headers=team["editor"].headers).json
    deleted = next(e for e in as_owner["items"] if e["action"] == "content.deleted")
    assert deleted["ip"] == "127.0.0.1" and deleted["userAgent"] == "aladdin-tests/1.0"
    changed = next(e for e in r.json["items"] if e["action"] == "member.role_changed")
    assert changed["details"] == {"role": "editor", "previousRole": "viewer"}
    assert client.get(f"/api/v1/projects/{pid}/activity", headers=team["outsider"].headers).status_code == 404


def test_activity_filters_and_paging(client, team, history):
    base = f"/api/v1/projects/{team['project'].slug}/activity"
    get = lambda q: client.get(f"{base}?{q}", headers=team["owner"].headers).json  # noqa: E731
    mine = get(f"userId={team['editor'].id}&limit=200")
    assert {e["userId"] for e in mine["items"]} == {str(team["editor"].id)}
    assert [e["action"] for e in mine["items"]] == ["export.completed", "export.queued", "clone.completed",
                                                     "content.updated", "content.created"]
    assert [e["action"] for e in get("action=content.deleted")["items"]] == ["content.deleted"]
    assert [e["action"] for e in get("action=invitation")["items"]] == [
        "invitation.revoked", "invitation.created", "invitation.accepted", "invitation.created"]
    assert get("action=export.*")["total"] == 2
    assert {e["resourceType"] for e in get("resourceType=characters")["items"]} == {"characters"}
    assert get("resourceType=characters")["total"] == 3
    pages = [get(f"limit=5&offset={o}") for o in range(0, len(RECORDED), 5)]
    assert all(p["total"] == len(RECORDED) and p["limit"] == 5 for p in pages)
    flat = [e["id"] for p in pages for e in p["items"]]
    assert len(flat) == len(set(flat)) == len(RECORDED)
    assert flat == [e["id"] for e in get("limit=200")["items"]]
    assert client.get(f"{base}?limit=0", headers=team["owner"].headers).status_code == 422
    assert client.get(f"{base}?offset=-1", headers=team["owner"].headers).status_code == 422


def test_audit_log_severities_owner_only(client, team, history):
    pid, new_owner = team["project"].slug, team["editor"]  # the history ends with a transfer to the editor
    url = f"/api/v1/projects/{pid}/audit"
    assert client.get(url, headers=team["owner"].headers).status_code == 403  # now an editor
    assert client.get(url, headers=team["collaborator"].headers).status_code == 403
    assert client.get(url, headers=team["outsider"].headers).status_code == 404
    r = client.get(url + "?limit=200", headers=new_owner.headers)
    assert r.status_code == 200
    severities = {(e["action"], e["severity"]) for e in r.json["items"]}
    assert severities == {
        ("project.created", "medium"), ("member.added", "medium"), ("member.role_changed", "medium"),
        ("clone.completed", "medium"), ("content.deleted", "high"), ("invitation.created", "high"),
        ("invitation.accepted", "high"), ("invitation.revoked", "high"), ("member.removed", "high"),
        ("export.queued", "high"), ("export.completed", "high"), ("project.ownership_transferred", "critical")}
    assert all(e["action"] not in ("content.created", "content.updated", "export.progress") for e in r.json["items"])
    transfer = r.json["items"][0]
    assert transfer["action"] == "project.ownership_transferred" and transfer["userEmail"] == "owner@example.com"
    assert transfer["details"]["newOwnerId"] == str(new_owner.id) and transfer["userAgent"] == "aladdin-tests/1.0"

    get = lambda q: client.get(f"{url}?{q}", headers=new_owner.headers).json  # noqa: E731
    assert {e["userId"] for e in get(f"userId={team['editor'].id}")["items"]} == {str(team["editor"].id)}
    assert [e["action"] for e in get("action=member.removed")["items"]] == ["member.removed"]
    assert get("severity=critical")["total"] == 1
    first, last = r.json["items"][-1]["createdAt"], r.json["items"][0]["createdAt"]
    assert get(f"start={first}&end={last}&limit=200")["total"] == r.json["total"]
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert get(f"start={future}")["total"] == 0 and get(f"end={past}")["total"] == 0
    assert get(f"start={past}&end={future}")["total"] == r.json["total"]
    page = get("limit=3&offset=3")
    assert [e["id"] for e in page["items"]] == [e["id"] for e in r.json["items"][3:6]]
    assert client.get(f"{url}?start=yesterday", headers=new_owner.headers).status_code == 422


def test_audit_entries_cannot_be_altered(app, client, team, history):
    pid, owner = team["project"].slug, team["editor"]
    entry = AuditEntry.objects(projectId=str(team["project"].id), action="member.removed").get()
    before = entry.to_json()
    entry.severity = "medium"
    attempts = [entry.save, entry.delete, lambda: entry.update(set__severity="medium"),
                lambda: entry.modify(severity="medium"), AuditEntry.drop_collection,
                lambda: AuditEntry.objects(id=entry.id).update(set__severity="medium"),
                lambda: AuditEntry.objects(id=entry.id).update_one(set__severity="medium"),
                lambda: AuditEntry.objects(id=entry.id).modify(set__severity="medium"),
                lambda: AuditEntry.objects(id=entry.id).upsert_one(set__severity="medium"),
                lambda: AuditEntry.objects(projectId=str(team["project"].id)).delete()]
    for attempt in attempts:
        with pytest.raises(AuditImmutable):
            attempt()
    assert AuditEntry.objects(id=entry.id).get().to_json() == before
    # No HTTP route changes it either.
    url = f"/api/v1/projects/{pid}/audit"
    for method in ("put", "patch", "delete", "post"):
        assert getattr(client, method)(url, json={}, headers=owner.headers).status_code == 405
        assert getattr(client, method)(f"{url}/{entry.id}", json={}, headers=owner.headers).status_code == 404
    # Activity entries are ordinary documents (the audit log is the tamper-evident record).
    assert ActivityEntry.objects(projectId=str(team["project"].id)).count() == len(RECORDED)


def test_project_deletion_is_audited_critical_and_outlives_the_project(client, team):
    pid, owner = team["project"].slug, team["owner"]
    project_id = str(team["project"].id)
    assert client.delete(f"/api/v1/projects/{pid}", headers=h(owner)).status_code == 204
    entry = AuditEntry.objects(projectId=project_id, action="project.deleted").get()
    assert entry.severity == "critical" and entry.actorId == str(owner.id) and entry.details["slug"] == pid
    assert ActivityEntry.objects(projectId=project_id, action="project.deleted").count() == 1
