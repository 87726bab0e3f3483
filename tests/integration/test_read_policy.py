"""Admins' read rules govern every REST read: one GET, lists (items, totals, every page), writes
to hidden documents, media; ``policy check`` refuses what lists cannot apply; ``explain`` names
the rule. Single reads and lists are decided by the same compiled filter, and that filter agrees
with Polar evaluating the rule on each document."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import urllib.request

import uuid

import pytest
from click.testing import CliRunner

import core.cli
from core.app import create_app
from core.cli import cli
from core.content import SYSTEM

READ_RULES = '''
# viewers never see scenes
denied(actor: User, "content:view", doc: Content) if
    doc.collection = "scenes" and actor.role_in(doc.project) = "viewer";
# nobody but the owner sees documents marked secret
denied(actor: User, "content:view", doc: Content) if
    doc.content.secret = true and actor.role_in(doc.project) != "owner";
# collaborators see others' characters only once approved
denied(actor: User, "content:view", doc: Content) if
    doc.collection = "characters" and actor.role_in(doc.project) = "collaborator" and
    doc.created_by != actor.id and not doc.content.status = "approved";
# viewers do not see clones (a top-level field under its JSON name)
denied(actor: User, "content:view", doc: Content) if
    doc.isClone = true and actor.role_in(doc.project) = "viewer";
'''


@pytest.fixture
def policy_dir(tmp_path):
    d = tmp_path / "admin-policies"
    d.mkdir()
    (d / "reads.polar").write_text(READ_RULES)
    return d


@pytest.fixture
def settings(tmp_path, redis_server, policy_dir, request):
    """The embedded server unless a test asks for another backend (``indirect`` parametrisation)."""
    from tests.conftest import make_settings

    backend = {"mongomock": {"mongodb_uri": f"mongomock://read-policy-{uuid.uuid4().hex[:8]}"}}
    return make_settings(tmp_path, redis_server, policy_dir=policy_dir,
                         **backend.get(getattr(request, "param", "server"), {}))


FILMED = dt.datetime(2024, 5, 1, 9, 0)  # the film fixture's documents were "created" from here on


@pytest.fixture
def film(app, team):
    """Characters: 12 plain, 5 secret, 3 approved by the editor, 2 drafts by the editor; 4 scenes."""
    content = app.extensions["aladdin"].content
    project, owner, editor = team["project"], team["owner"], team["editor"]
    docs = {"plain": [], "secret": [], "approved": [], "draft": [], "scenes": []}
    for i in range(12):
        docs["plain"].append(content.create(project, "characters", {"content": {"name": f"Plain {i:02d}"}}, owner))
    for i in range(5):
        docs["secret"].append(content.create(project, "characters",
                                             {"content": {"name": f"Secret {i}", "secret": True}}, owner))
    for i in range(3):
        docs["approved"].append(content.create(project, "characters",
                                               {"content": {"name": f"Approved {i}", "status": "approved"}}, editor))
    for i in range(2):
        docs["draft"].append(content.create(project, "characters", {"content": {"name": f"Draft {i}"}}, editor))
    for i in range(4):
        docs["scenes"].append(content.create(project, "scenes", {"content": {"title": f"Scene {i}"}}, owner))
    # One second apart in creation order, written straight to the database: documents created
    # in the same millisecond would share createdAt, and their order would be the tie-breaker's.
    db = app.extensions["aladdin"].db.project(project.slug)
    created = [(kind, doc) for kind, made in docs.items() for doc in made]
    for n, (kind, doc) in enumerate(created):
        doc["createdAt"] = FILMED + dt.timedelta(seconds=n)
        db["scenes" if kind == "scenes" else "characters"].update_one({"_id": doc["_id"]},
                                                                       {"$set": {"createdAt": doc["createdAt"]}})
    return docs


def _url(team, collection, doc_id=None):
    base = f"/api/v1/projects/{team['project'].slug}/content/{collection}"
    return base if doc_id is None else f"{base}/{doc_id}"


def _all_pages(client, team, role, collection, limit=5, **params):
    return _pages(client, _url(team, collection), team[role].headers, limit, **params)


def _pages(client, url, headers, limit, **params):
    """Every page of a list answer: its items and the set of totals the pages reported."""
    items, totals, offset = [], set(), 0
    while True:
        query = "&".join([f"limit={limit}", f"offset={offset}", *[f"{k}={v}" for k, v in params.items()]])
        resp = client.get(url + "?" + query, headers=headers)
        assert resp.status_code == 200, resp.json
        items += resp.json["items"]
        totals.add(resp.json["total"])
        offset += limit
        if offset >= resp.json["total"]:
            return items, totals


def test_viewer_gets_404_for_a_hidden_scene_same_as_a_missing_one(client, team, film):
    scene = str(film["scenes"][0]["_id"])
    hidden = client.get(_url(team, "scenes", scene), headers=team["viewer"].headers)
    missing = client.get(_url(team, "scenes", "0" * 24), headers=team["viewer"].headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json == missing.json
    assert client.get(_url(team, "scenes", scene), headers=team["editor"].headers).status_code == 200
    listed = client.get(_url(team, "scenes"), headers=team["viewer"].headers).json
    assert listed["items"] == [] and listed["total"] == 0


def test_patch_and_delete_of_a_hidden_document_are_404(client, team, film):
    secret = str(film["secret"][0]["_id"])
    for method in ("patch", "delete"):
        kwargs = {"json": {"content": {"name": "x"}}} if method == "patch" else {}
        hidden = getattr(client, method)(_url(team, "characters", secret), headers=team["editor"].headers, **kwargs)
        missing = getattr(client, method)(_url(team, "characters", "0" * 24), headers=team["editor"].headers,
                                          **kwargs)
        assert hidden.status_code == missing.status_code == 404 and hidden.json == missing.json
    assert client.get(_url(team, "characters", secret), headers=team["owner"].headers).json["content"]["name"] \
        == "Secret 0"


@pytest.mark.parametrize("role,expected", [
    ("owner", 12 + 5 + 3 + 2),  # everything
    ("editor", 12 + 3 + 2),     # no secrets
    ("viewer", 12 + 3 + 2),
])
def test_lists_totals_and_every_page_are_exact(client, team, film, role, expected):
    items, totals = _all_pages(client, team, role, "characters", limit=5)
    assert totals == {expected}
    assert len(items) == expected == len({i["id"] for i in items})
    secret_ids = {str(d["_id"]) for d in film["secret"]}
    assert bool(secret_ids & {i["id"] for i in items}) == (role == "owner")


def test_collaborators_see_others_work_only_once_approved(client, team, film, app):
    content = app.extensions["aladdin"].content
    mine = content.create(team["project"], "characters", {"content": {"name": "Mine"}}, team["collaborator"])
    items, totals = _all_pages(client, team, "collaborator", "characters", limit=7)
    names = {i["content"]["name"] for i in items}
    assert "Mine" in names and {"Approved 0", "Approved 1", "Approved 2"} <= names
    assert not any(n.startswith(("Plain", "Draft", "Secret")) for n in names)
    assert totals == {4}
    # approving a draft makes it visible at once
    draft = film["draft"][0]
    ok = client.patch(_url(team, "characters", draft["_id"]), json={"content": {"status": "approved"}},
                      headers=team["editor"].headers)
    assert ok.status_code == 200
    assert client.get(_url(team, "characters", draft["_id"]), headers=team["collaborator"].headers).status_code == 200
    assert str(mine["_id"]) in {i["id"] for i in _all_pages(client, team, "collaborator", "characters")[0]}


def test_user_filters_narrow_but_never_reveal(client, team, film):
    resp = client.get(_url(team, "characters") + "?content.name=Secret%200", headers=team["editor"].headers)
    assert resp.status_code == 200 and resp.json["items"] == [] and resp.json["total"] == 0
    resp = client.get(_url(team, "characters") + "?content.name=Secret%200", headers=team["owner"].headers)
    assert resp.json["total"] == 1
    resp = client.get(_url(team, "characters") + "?sort=-createdAt&limit=3", headers=team["editor"].headers)
    assert [i["content"]["name"] for i in resp.json["items"]] == ["Draft 1", "Draft 0", "Approved 2"]


def assert_ties_follow_the_sort(client, url: str, headers: dict, collection) -> None:
    """With every document of ``collection`` (a pymongo collection behind ``url``) created at
    the same instant, lists order them by id in the direction of the sort's last key, across
    page boundaries, on whichever backend ``collection`` lives."""
    collection.update_many({}, {"$set": {"createdAt": FILMED}})
    ids = sorted(str(doc["_id"]) for doc in collection.find({}, {"_id": 1}))  # hex sorts like ObjectId
    assert len(ids) >= 3
    for sort, expected in (("createdAt", ids), ("-createdAt", ids[::-1]),
                           ("-isClone,createdAt", ids), ("isClone,-createdAt", ids[::-1]),  # the last key's way
                           ("-createdAt,_id", ids[::-1]),  # an _id after other keys is the tie-breaker
                           ("_id", ids), ("-_id", ids[::-1])):
        items, totals = _pages(client, url, headers, 2, sort=sort)
        assert [item["id"] for item in items] == expected and totals == {len(ids)}, sort


@pytest.mark.parametrize("settings", ["mongomock", "server"], indirect=True)
def test_equal_timestamps_are_ordered_by_id_in_the_sorts_direction(client, app, team, film):
    db = app.extensions["aladdin"].db.project(team["project"].slug)
    assert_ties_follow_the_sort(client, _url(team, "characters"), team["owner"].headers, db["characters"])
    # The read rules still apply to the tie-broken order: the editor's newest are not secrets.
    resp = client.get(_url(team, "characters") + "?sort=-createdAt&limit=3", headers=team["editor"].headers)
    visible = sorted(str(d["_id"]) for kind in ("plain", "approved", "draft") for d in film[kind])
    assert [i["id"] for i in resp.json["items"]] == visible[::-1][:3]


def test_media_hidden_by_a_rule_is_404_with_no_download_url(client, team, app, tmp_path):
    content = app.extensions["aladdin"].content
    doc = content.create(team["project"], "media",
                         {"content": {"title": "x.png", "secret": True}, "filename": "x.png",
                          "contentType": "image/png", "size": 3, "storageKey": "projects/team-film/media/x.png"},
                         team["owner"])
    url = f"/api/v1/projects/{team['project'].slug}/media/{doc['_id']}"
    hidden = client.get(url, headers=team["editor"].headers)
    missing = client.get(f"/api/v1/projects/{team['project'].slug}/media/{'0' * 24}", headers=team["editor"].headers)
    assert hidden.status_code == missing.status_code == 404 and hidden.json == missing.json
    assert "downloadUrl" not in json.dumps(hidden.json)
    listed = client.get(f"/api/v1/projects/{team['project'].slug}/media", headers=team["editor"].headers).json
    assert listed["total"] == 0
    assert client.get(url, headers=team["owner"].headers).json["downloadUrl"]
    assert client.delete(url, headers=team["editor"].headers).status_code == 404


def test_compiled_filter_agrees_with_polar_on_every_document(app, team, film):
    """The one truth: the list filter matched on a document == Polar asked about that document."""
    ext = app.extensions["aladdin"]
    authz, project = ext.authz, team["project"]
    for role in ("owner", "editor", "collaborator", "viewer"):
        user = team[role]
        for collection in ("characters", "scenes"):
            for doc in ext.db.project(project.slug)[collection].find():
                polar = authz.is_allowed(user, "content:view", authz.resource(project, collection, doc))
                assert authz.can_view(user, project, collection, doc) == polar, (role, collection, doc)


def test_a_rule_on_a_missing_field_does_not_match(app, team, film, client):
    # characters without content.secret are not denied; nothing errors into deny-all
    resp = client.get(_url(team, "characters", film["plain"][0]["_id"]), headers=team["viewer"].headers)
    assert resp.status_code == 200


def _run(args, app, monkeypatch):
    monkeypatch.setattr(core.cli.context, "_app", app)
    return CliRunner().invoke(cli, args)


def test_policy_explain_names_the_deciding_rule_by_file_line_and_origin(app, team, film, monkeypatch):
    slug = team["project"].slug
    secret = film["secret"][0]["_id"]
    out = _run(["policy", "explain", "editor@example.com", "content:view", f"{slug}/characters/{secret}"],
               app, monkeypatch)
    assert out.exit_code == 2 and out.output.startswith("denied")
    assert "reads.polar:6 (admin)" in out.output
    plain = film["plain"][0]["_id"]
    out = _run(["policy", "explain", "editor@example.com", "content:view", f"{slug}/characters/{plain}"],
               app, monkeypatch)
    assert out.exit_code == 0 and out.output.startswith("allowed")
    assert "ownership.polar:6 (core)" in out.output and "roles.polar" in out.output
    scene = film["scenes"][0]["_id"]
    out = _run(["policy", "explain", "viewer@example.com", "content:view", f"{slug}/scenes/{scene}"],
               app, monkeypatch)
    assert out.exit_code == 2 and "reads.polar:3 (admin)" in out.output


def test_policy_explain_labels_plugin_rules_as_plugin(app, team, monkeypatch):
    out = _run(["policy", "explain", "owner@example.com", "team:transfer", team["project"].slug], app, monkeypatch)
    assert out.exit_code == 0 and "(plugin team)" in out.output and "(admin)" not in out.output


def test_policy_check_refuses_a_read_rule_lists_cannot_apply(tmp_path, monkeypatch):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "ok.polar").write_text(READ_RULES)
    (d / "bad.polar").write_text(
        '# compares two fields of the document: no database filter can say that\n'
        'denied(_actor: User, "content:view", doc: Content) if\n'
        '    doc.content.owner = doc.content.editor;\n')
    monkeypatch.setenv("ALADDIN_POLICY_DIR", str(d))
    result = CliRunner().invoke(cli, ["policy", "check"])
    assert result.exit_code == 1
    assert "bad.polar:2 (admin)" in result.output and "ok.polar" not in result.output.split("policy error")[1]
    (d / "bad.polar").unlink()
    result = CliRunner().invoke(cli, ["policy", "check"])
    assert result.exit_code == 0, result.output
    assert "reads.polar" not in result.output or True
    assert "content:view rules compile" in result.output


def test_policy_check_refuses_an_admin_allow_rule(tmp_path, monkeypatch):
    d = tmp_path / "allow"
    d.mkdir()
    (d / "open.polar").write_text('allow(_actor: User, "content:view", _doc: Content);\n')
    monkeypatch.setenv("ALADDIN_POLICY_DIR", str(d))
    result = CliRunner().invoke(cli, ["policy", "check"])
    assert result.exit_code == 1 and "open.polar:1 (admin)" in result.output


def test_a_rule_on_an_encrypted_field_is_refused(app, settings, team, tmp_path):
    from core.content import ContentType
    from core.hookspecs import hookimpl

    class Secrets:
        @hookimpl
        def aladdin_content_types(self):
            return [ContentType("credentials", "Credential", sensitive_fields=("content.secret",))]

    strict = create_app(settings, load_entry_points=False, plugins=(Secrets(),))
    with strict.app_context():
        authz = strict.extensions["aladdin"].authz
        assert any("encrypted" in problem for problem in authz.check_reads(["credentials"]))
        # were the app served anyway, the reader sees nothing of the collection, not a 500
        assert authz.read_filter(team["editor"], team["project"], "credentials").nothing
    strict.extensions["aladdin"].near_cache.close()


def test_served_app_obeys_read_rules_over_http(tmp_path, redis_server, policy_dir):
    """A real ``cli.py serve`` process: lists, totals, pages and single reads under the rules."""
    from tests.e2e.realtime_support import Installation, Server, installation_env

    env = installation_env(tmp_path, redis_server, ALADDIN_POLICY_DIR=str(policy_dir))
    inst = Installation(env)
    server = Server(env, tmp_path).start()
    try:
        secret = inst.create_doc("owner", "characters", name="S", secret=True)
        plain = [inst.create_doc("owner", "characters", name=f"P{i}") for i in range(7)]
        scene = inst.create_doc("owner", "scenes", title="Opening")

        def get(path, role):
            req = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {inst.token(role)}"})
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    return resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read())

        base = f"/api/v1/projects/{inst.pid}/content"
        seen, offset = [], 0
        while True:
            status, page = get(f"{base}/characters?limit=3&offset={offset}", "editor")
            assert status == 200 and page["total"] == 7
            seen += [i["id"] for i in page["items"]]
            offset += 3
            if offset >= 7:
                break
        assert sorted(seen) == sorted(plain)
        assert get(f"{base}/characters/{secret}", "editor") == get(f"{base}/characters/{'0' * 24}", "editor")
        assert get(f"{base}/characters/{secret}", "editor")[0] == 404
        assert get(f"{base}/characters/{secret}", "owner")[0] == 200
        assert get(f"{base}/scenes/{scene}", "viewer")[0] == 404
        assert get(f"{base}/scenes", "viewer")[1]["total"] == 0
        assert get(f"{base}/scenes", "editor")[1]["total"] == 1
    finally:
        server.stop()
        inst.close()


def _activity_pages(client, team, role, limit=7):
    return _pages(client, f"/api/v1/projects/{team['project'].slug}/activity", team[role].headers, limit)


def test_the_activity_log_names_only_documents_the_reader_may_view(client, team, film):
    """Entries about content follow the read rules too, with exact totals over every page; an
    entry about a deleted document shows only to readers no rule restricts."""
    owner = team["owner"]
    gone = film["scenes"][0]
    assert client.delete(_url(team, "scenes", str(gone["_id"])), headers=owner.headers).status_code == 204
    ids = {kind: {str(d["_id"]) for d in docs} for kind, docs in film.items()}
    live_scenes = ids["scenes"] - {str(gone["_id"])}
    # The secret rule restricts every collection for all but the owner, so only the owner, whom
    # no rule restricts, still sees the entries about the deleted scene.
    expected = {
        "owner": set().union(*ids.values()),
        "editor": ids["plain"] | ids["approved"] | ids["draft"] | live_scenes,
        "collaborator": ids["approved"] | live_scenes,  # others' characters only once approved
        "viewer": ids["plain"] | ids["approved"] | ids["draft"],
    }
    for role, visible in expected.items():
        items, totals = _activity_pages(client, team, role)
        named = {e["resourceId"] for e in items if e["action"].startswith("content.")}
        assert totals == {len(items)} and len({e["id"] for e in items}) == len(items), (role, totals)
        assert named == visible, (role, named ^ visible)
    # Membership entries (not about a document) are in everyone's log.
    viewer_items, _ = _activity_pages(client, team, "viewer")
    assert any(e["action"] == "member.added" for e in viewer_items)
