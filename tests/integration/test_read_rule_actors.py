"""Read rules that test the reader over HTTP: specialised per reader, and a rule the check would
refuse never answers 500 (issue 22: the intern's scene list and GET answered 500)."""

from __future__ import annotations

import pytest

RULES = '''
denied(actor: User, "content:view", doc: Content) if
    actor.email = "viewer@example.com" and doc.content.stage = "wip";

denied(actor: User, "content:view", doc: Content) if
    actor.email = "collaborator@example.com" and doc.content.title.startswith("WIP");
'''


@pytest.fixture
def settings(tmp_path, redis_server):
    from tests.conftest import policy_settings

    return policy_settings(tmp_path, redis_server, RULES, "actors.polar")


def _titles(client, team, role) -> tuple[int, list]:
    resp = client.get(f"/api/v1/projects/{team['project'].slug}/content/scenes", headers=team[role].headers)
    return resp.status_code, sorted(item["content"]["title"] for item in resp.json["items"]) \
        if resp.status_code == 200 else resp.json


def test_rules_on_the_readers_email_hide_only_from_that_reader(app, client, team):
    content = app.extensions["aladdin"].content
    wip = content.create(team["project"], "scenes", {"content": {"title": "WIP cut", "stage": "wip"}}, team["owner"])
    content.create(team["project"], "scenes", {"content": {"title": "Final", "stage": "final"}}, team["owner"])
    assert _titles(client, team, "viewer") == (200, ["Final"])
    assert _titles(client, team, "editor") == (200, ["Final", "WIP cut"])
    url = f"/api/v1/projects/{team['project'].slug}/content/scenes/{wip['_id']}"
    assert client.get(url, headers=team["viewer"].headers).status_code == 404
    assert client.get(url, headers=team["editor"].headers).status_code == 200


def test_a_rule_lists_cannot_apply_answers_nothing_not_500(app, client, team):
    """`policy check` and `serve` refuse the startswith rule (tests/unit/test_read_issue_cases.py);
    an app built without that check still never answers 500: the reader it concerns sees nothing."""
    content = app.extensions["aladdin"].content
    doc = content.create(team["project"], "scenes", {"content": {"title": "WIP cut"}}, team["owner"])
    assert _titles(client, team, "collaborator") == (200, [])
    url = f"/api/v1/projects/{team['project'].slug}/content/scenes/{doc['_id']}"
    assert client.get(url, headers=team["collaborator"].headers).status_code == 404
    assert _titles(client, team, "editor") == (200, ["WIP cut"])
