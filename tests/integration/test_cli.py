"""The command line on the test app: users, projects, members, policy check/explain, migrate, plugins, demo."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

import core.cli
from core.cli import cli


@pytest.fixture
def run(app, monkeypatch):
    """Invoke ``cli.py`` commands against the test app (``core.cli.context._app`` is the one app commands use)."""
    monkeypatch.setattr(core.cli.context, "_app", app)
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == code, (args, result.exit_code, result.output)
        return result
    return invoke


def test_users_create_prints_a_working_token_last(run, client):
    result = run("users", "create", "Ada@Example.com", "--name", "Ada Lovelace")
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("ald_") and " " not in token
    me = client.get("/api/v1/projects", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json["items"] == []
    made = client.post("/api/v1/projects", json={"name": "Ada's film"}, headers={"Authorization": f"Bearer {token}"})
    assert made.status_code == 201
    from core.models import ApiToken, User

    user = User.objects(email="ada@example.com").first()
    assert user.name == "Ada Lovelace"
    assert token not in {t.tokenHash for t in ApiToken.objects}  # only the hash is stored
    again = run("users", "create", "ada@example.com").output.strip().splitlines()[-1]
    assert again != token and client.get("/api/v1/projects", headers={"Authorization": f"Bearer {again}"}).status_code == 200
    assert run("users", "create", "not-an-email", code=2).output.count("not a valid email") == 1


def test_users_revoke_tokens_by_name_or_all_and_unknown_users(run, client):
    first = run("users", "create", "bo@example.com").output.strip().splitlines()[-1]
    second = run("users", "create", "bo@example.com").output.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {first}"}
    assert client.get("/api/v1/projects", headers=auth).status_code == 200
    assert "revoked 0 tokens" in run("users", "revoke-tokens", "bo@example.com", "--name", "ci").output
    assert client.get("/api/v1/projects", headers=auth).status_code == 200
    assert "revoked 2 tokens of bo@example.com" in run("users", "revoke-tokens", "BO@example.com").output
    for token in (first, second):
        assert client.get("/api/v1/projects", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert "no user nobody@example.com" in run("users", "revoke-tokens", "nobody@example.com", code=1).output


def test_projects_create_and_add_member(run, client):
    owner = run("users", "create", "own@example.com").output.strip().splitlines()[-1]
    editor = run("users", "create", "ed@example.com").output.strip().splitlines()[-1]
    out = run("projects", "create", "Harbour Lights", "--owner", "own@example.com", "--slug", "harbour").output
    assert "harbour" in out and "open_harbour" in out
    assert client.get("/api/v1/projects/harbour", headers={"Authorization": f"Bearer {editor}"}).status_code == 404
    assert "ed@example.com is now editor" in run("projects", "add-member", "harbour", "ed@example.com", "editor").output
    got = client.get("/api/v1/projects/harbour", headers={"Authorization": f"Bearer {editor}"})
    assert got.status_code == 200 and got.json["role"] == "editor"
    assert client.get("/api/v1/projects/harbour", headers={"Authorization": f"Bearer {owner}"}).json["role"] == "owner"
    # User errors: one clean line, exit 1, no traceback.
    dup = run("projects", "add-member", "harbour", "ed@example.com", "viewer", code=1).output
    assert "already a member" in dup and "Traceback" not in dup
    assert "no user" in run("projects", "add-member", "harbour", "ghost@example.com", "viewer", code=1).output
    assert "not found" in run("projects", "add-member", "nowhere", "ed@example.com", "viewer", code=1).output
    assert "no user" in run("projects", "create", "X", "--owner", "ghost@example.com", code=1).output
    assert "already exists" in run("projects", "create", "Again", "--owner", "own@example.com", "--slug", "harbour",
                                   code=1).output


def test_policy_check_ok_and_error_names_file_and_line(run, tmp_path, monkeypatch):
    monkeypatch.delenv("ALADDIN_POLICY_DIR", raising=False)
    out = run("policy", "check").output
    assert "roles.polar" in out and "ownership.polar" in out and "load cleanly" in out
    good = tmp_path / "good"
    good.mkdir()
    (good / "tighten.polar").write_text('denied(actor: User, "content:delete", _r) if actor.email = "x@y.z";\n')
    assert "tighten.polar" in run("policy", "check", str(good)).output
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.polar").write_text('# admin rules\npermitted(actor: User, "x", _r) if\n    actor.id = ;\n')
    result = CliRunner().invoke(cli, ["policy", "check", str(bad)])
    assert result.exit_code != 0
    assert "broken.polar:3 (admin)" in result.output and len(result.output.splitlines()) == 1


def test_policy_explain_allowed_denied_and_ownership(run, app, team):
    project = team["project"]
    out = run("policy", "explain", "editor@example.com", "content:edit", project.slug).output
    assert out.startswith("allowed") and "editor" in out
    out = run("policy", "explain", "viewer@example.com", "content:create", project.slug, code=2).output
    assert out.startswith("denied") and "viewer" in out and "roles.polar" in out
    out = run("policy", "explain", "outsider@example.com", "project:view", project.slug, code=2).output
    assert out.startswith("denied") and "no role" in out
    content = app.extensions["aladdin"].content
    mine = content.create(project, "scenes", {"content": {"title": "Mine"}}, team["collaborator"])
    theirs = content.create(project, "scenes", {"content": {"title": "Theirs"}}, team["owner"])
    out = run("policy", "explain", "collaborator@example.com", "content:edit",
              f"{project.slug}/scenes/{mine['_id']}").output
    assert out.startswith("allowed") and "its own content" in out
    out = run("policy", "explain", "collaborator@example.com", "content:edit",
              f"{project.slug}/scenes/{theirs['_id']}", code=2).output
    assert out.startswith("denied") and "ownership.polar" in out
    # Plugins and admins may define actions of their own: an unknown one is explained, and denied.
    out = run("policy", "explain", "editor@example.com", "content:fly", project.slug, code=2).output
    assert "not a core permission" in out and "denied" in out


def test_policy_explain_names_an_admin_denied_rule(app, team, tmp_path, monkeypatch, settings):
    import dataclasses

    from core.app import create_app

    (tmp_path / "admin").mkdir()
    (tmp_path / "admin" / "no_deletes.polar").write_text(
        'denied(_actor: User, "content:delete", _resource);\n')
    strict = create_app(dataclasses.replace(settings, policy_dir=tmp_path / "admin"), load_entry_points=False)
    strict.testing = True
    monkeypatch.setattr(core.cli.context, "_app", strict)
    result = CliRunner().invoke(cli, ["policy", "explain", "editor@example.com", "content:delete", "team-film"])
    assert result.exit_code == 2 and "denied(...)" in result.output
    strict.extensions["aladdin"].db.close()


def test_migrate_and_status(run, app, team):
    out = run("migrate", "--status").output
    assert "m0001_platform_indexes" in out and "m0002_project_content_indexes" in out
    # A project made after the code's migrations is born current; the platform ones are pending.
    assert "applied  m0002_project_content_indexes  open_team-film" in out
    assert "pending  m0001_platform_indexes" in out
    out = run("migrate").output
    assert "applied m0001_platform_indexes" in out and "2 migrations applied" in out  # and m0004
    assert run("migrate").output.strip().splitlines()[-1] == "0 migrations applied"
    assert "pending" not in run("migrate", "--status").output


def test_plugins_list_shows_name_version_and_hooks(run):
    out = run("plugins", "list").output
    for name in ("film", "team", "clone", "export", "realtime", "default_auth"):
        assert f"\n{name} " in "\n" + out, name
    assert "aladdin_content_types" in out and "hooks:" in out


def test_demo_seeds_users_project_content_and_videos(run, app, client):
    out = run("demo", "--base-url", "http://demo.test").output
    tokens = [line.split("token ")[1].strip() for line in out.splitlines() if " token " in line]
    assert len(tokens) == 2 and "http://demo.test/api/v1/docs" in out
    director = {"Authorization": f"Bearer {tokens[0]}"}
    base = "/api/v1/projects/demo-film/content"
    counts = {c: client.get(f"{base}/{c}", headers=director).json["total"]
              for c in ("characters", "scenes", "locations", "videos", "media")}
    assert counts["characters"] >= 2 and counts["scenes"] == 3 and counts["locations"] >= 1
    assert counts["videos"] == 3 and counts["media"] == 3
    media = client.get("/api/v1/projects/demo-film/media", headers=director).json["items"]
    url = urlsplit(media[0]["downloadUrl"])
    first = client.get(f"{url.path}?{url.query}")
    assert first.status_code == 200 and first.data[4:8] == b"ftyp"  # a real MP4
    writer = client.get("/api/v1/projects/demo-film", headers={"Authorization": f"Bearer {tokens[1]}"})
    assert writer.status_code == 200 and writer.json["role"] == "collaborator"
    # Running it again keeps the data and shows the same tokens (sealed with the keyring), minting none.
    from core.models import ApiToken

    count = ApiToken.objects.count()
    again = run("demo", "--base-url", "http://demo.test").output
    assert [line.split("token ")[1].strip() for line in again.splitlines() if " token " in line] == tokens
    assert ApiToken.objects.count() == count
    assert client.get(f"{base}/videos", headers=director).json["total"] == 3
    assert all(row.sealed and tokens[0] not in row.sealed for row in ApiToken.objects(name="demo"))
    # A revoked demo token is replaced, not shown again.
    run("users", "revoke-tokens", "director@demo.aladdin")
    third = run("demo", "--base-url", "http://demo.test").output
    fresh = [line.split("token ")[1].strip() for line in third.splitlines() if " token " in line]
    assert fresh[0] != tokens[0] and fresh[1] == tokens[1]
    assert client.get(f"{base}/videos", headers={"Authorization": f"Bearer {fresh[0]}"}).status_code == 200


def test_users_list_and_projects_list_as_tables_and_json(run):
    import json

    assert "no users yet" in run("users", "list").output
    assert "no projects yet" in run("projects", "list").output
    run("users", "create", "owner@example.com", "--name", "Olive Owner")
    run("users", "create", "ed@example.com")
    run("users", "create", "ed@example.com")  # a second token
    run("projects", "create", "Harbour Lights", "--owner", "owner@example.com", "--slug", "harbour")
    run("projects", "add-member", "harbour", "ed@example.com", "editor")
    lines = run("users", "list").output.splitlines()
    assert lines[0].split() == ["EMAIL", "NAME", "PROJECTS", "TOKENS", "ID"]
    assert [line.split()[0] for line in lines[1:]] == ["ed@example.com", "owner@example.com"]
    assert lines[1].split()[1:4] == ["ed", "1", "2"]
    # Aligned: every column starts at the same offset on every line.
    assert len({line.index(line.split()[-1]) for line in lines[1:]}) == 1
    assert len({line.find("PROJECTS") if i == 0 else None for i, line in enumerate(lines)} - {None}) == 1
    users = json.loads(run("users", "list", "--json").output)
    assert [(u["email"], u["projects"], u["tokens"]) for u in users] == [("ed@example.com", 1, 2),
                                                                      ("owner@example.com", 1, 1)]
    table = run("projects", "list").output.splitlines()
    assert table[0].split() == ["SLUG", "NAME", "OWNER", "MEMBERS", "ID"]
    assert table[1].split()[:5] == ["harbour", "Harbour", "Lights", "owner@example.com", "2"]
    projects = json.loads(run("projects", "list", "--json").output)
    assert [(p["slug"], p["owner"], p["members"], p["database"]) for p in projects] == [
        ("harbour", "owner@example.com", 2, "open_harbour")]


def test_errors_name_what_they_mean_and_list_the_valid_choices(run, app):
    from core.models import User
    from core.projects import find_project
    from plugins.clone.cli import clone_command

    cli.add_command(clone_command)  # plugin commands join the group in main(), before any app

    run("users", "create", "owner@example.com")
    run("users", "create", "outsider@example.com")
    run("projects", "create", "Harbour", "--owner", "owner@example.com", "--slug", "harbour")
    run("projects", "create", "Storm", "--owner", "outsider@example.com", "--slug", "storm")
    missing = run("projects", "add-member", "harbr", "outsider@example.com", "viewer", code=1).output
    assert "project not found: no project has the slug or id 'harbr'; valid: harbour, storm" in missing
    owner = User.objects(email="owner@example.com").first()
    scene = app.extensions["aladdin"].content.create(find_project("harbour"), "scenes",
                                                     {"content": {"title": "One"}}, owner)
    hidden = run("clone", "harbour", "scenes", str(scene["_id"]), "--to", "storm", "--as", "owner@example.com",
                 code=1).output
    assert "owner@example.com has no role in project 'storm'; owner@example.com can see: harbour" in hidden
    typo = run("clone", "harbour", "scene", str(scene["_id"]), "--to", "harbour", code=1).output
    valid = ", ".join(sorted(app.extensions["aladdin"].content_types))
    assert f"unknown collection 'scene'; valid: {valid}" in typo and "characters, episodes" in typo
    assert "Traceback" not in missing + hidden + typo


def test_unknown_collection_over_http_lists_valid_ones_but_project_404s_reveal_nothing(client, team):
    headers = team["owner"].headers
    r = client.get("/api/v1/projects/team-film/content/scene", headers=headers)
    assert r.status_code == 404 and r.json["message"].startswith("unknown collection 'scene'; valid: ")
    assert "scenes" in r.json["message"]
    # Unknown project and a project the caller has no role in answer alike, naming nothing.
    unknown = client.get("/api/v1/projects/nowhere", headers=team["outsider"].headers)
    hidden = client.get("/api/v1/projects/team-film", headers=team["outsider"].headers)
    assert unknown.status_code == hidden.status_code == 404
    assert unknown.json == hidden.json == {"code": 404, "status": "Not Found", "message": "project not found"}


def test_migrate_status_says_what_to_do(run):
    out = run("migrate", "--status").output
    assert out.strip().splitlines()[-1] in {"all migrations applied"} or "pending; run `aladdin migrate`" in out
    run("migrate")
    assert run("migrate", "--status").output.strip().splitlines()[-1] == "all migrations applied"
