"""``aladdin team invite|list|remove|transfer|outbox`` against the test app."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import core.cli
from core.models import Membership, Project
from plugins.team.models import ActivityEntry, Invitation


@pytest.fixture
def team_cli(app, monkeypatch):
    monkeypatch.setattr(core.cli.context, "_app", app)
    groups = [cmd for cmds in app.extensions["aladdin"].pm.hook.aladdin_cli_commands() for cmd in cmds or ()]
    group = next(cmd for cmd in groups if cmd.name == "team")
    runner = CliRunner()
    return lambda *args: runner.invoke(group, list(args), catch_exceptions=False)


def test_invite_list_outbox(app, client, team, actors, team_cli):
    pid = team["project"].slug
    r = team_cli("invite", pid, "Kim@Example.com", "collaborator")
    assert r.exit_code == 0, r.output
    url = r.output.strip().splitlines()[-1]
    assert url.startswith("http://127.0.0.1:5000/api/v1/invitations/inv_") and "delivered via outbox" in r.output
    token = url.split("/invitations/")[1].split("/")[0]
    invitation = Invitation.objects(email="kim@example.com").get()
    assert invitation.role == "collaborator" and invitation.invitedBy == "operator"
    listed = team_cli("list", pid)
    assert listed.exit_code == 0 and "4 members of team-film" in listed.output
    assert "collaborator@example.com" in listed.output and "kim@example.com" in listed.output
    outbox = team_cli("outbox", "--project", pid)
    assert outbox.exit_code == 0 and url in outbox.output
    # The printed token works over HTTP.
    kim = actors.user("kim@example.com")
    assert client.post(f"/api/v1/invitations/{token}/accept", headers=kim.headers).status_code == 200
    assert "5 members" in team_cli("list", pid).output
    again = team_cli("invite", pid, "kim@example.com", "viewer")
    assert again.exit_code == 1 and "already a member" in again.output


def test_remove_and_transfer(team, team_cli):
    pid, project_id = team["project"].slug, str(team["project"].id)
    r = team_cli("remove", pid, "viewer@example.com")
    assert r.exit_code == 0, r.output
    assert Membership.objects(projectId=project_id, userId=str(team["viewer"].id)).count() == 0
    assert ActivityEntry.objects(projectId=project_id, action="member.removed").get().actorId == "operator"
    assert team_cli("remove", pid, "viewer@example.com").exit_code == 1
    owner_removal = team_cli("remove", pid, "owner@example.com")
    assert owner_removal.exit_code == 1 and "owner cannot be removed" in owner_removal.output
    assert team_cli("transfer", pid, "outsider@example.com").exit_code == 1
    r = team_cli("transfer", pid, "editor@example.com")
    assert r.exit_code == 0, r.output
    assert Project.objects(id=project_id).get().ownerId == str(team["editor"].id)
    assert Membership.objects(projectId=project_id, userId=str(team["owner"].id)).get().role == "editor"
    assert team_cli("list", "no-such-project").exit_code == 1
    assert team_cli("invite", pid, "a@example.com", "owner").exit_code == 2  # click refuses the choice
