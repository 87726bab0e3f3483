"""``policy explain`` answers what the API answers, and names the rule that decided.

Every rule of the docs' worked examples (read from ``docs/policies.md`` itself, so the test
follows the docs), an admin rule widening edits and the issue's ``spoiler`` rule, for every role
and for view, edit and delete of documents each rule is about: explain's allowed/denied and its
HTTP status equal GET's, PATCH's and DELETE's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bson import ObjectId
from click.testing import CliRunner

import core.cli
from core.cli import cli
from core.testing import make_settings, policy_folder

DOCS = Path(__file__).resolve().parents[2] / "docs" / "policies.md"
# An admin widening edits: viewers may edit characters marked open. It grants content:edit on a
# document, so it holds even where a read rule hides the document (the notes.polar:2).
NOTES = '''# viewers may edit characters marked open
permitted(actor: User, "content:edit", doc: Content) if
    doc.collection = "characters" and doc.content.open = true and actor.role_in(doc.project) = "viewer";
'''
SPOILERS = '''# nobody but the owner sees spoilers
denied(actor: User, "content:view", doc: Content) if
    actor.role_in(doc.project) != "owner" and doc.content.meta.spoiler = true;
'''
ROLES = ("owner", "editor", "collaborator", "viewer", "outsider")


def docs_examples() -> str:
    """The first ``polar`` block of docs/policies.md: the worked examples as admins read them."""
    block = re.search(r"```polar\n(.*?)```", DOCS.read_text(), re.S)
    assert block, "docs/policies.md lost its worked examples"
    return block.group(1)


@pytest.fixture
def settings(tmp_path, redis_server):
    return make_settings(tmp_path, redis_server, policy_dir=policy_folder(
        tmp_path / "rules", examples=docs_examples(), notes=NOTES, spoilers=SPOILERS))


@pytest.fixture
def docs(app, team):
    """One document per case the rules decide: {name: (collection, stored document)}."""
    content = app.extensions["aladdin"].content
    project, owner = team["project"], team["owner"]
    made = {
        "plain": ("characters", {"name": "Plain"}, owner),
        "secret": ("characters", {"name": "Secret", "secret": True}, owner),
        "approved": ("characters", {"name": "Approved", "status": "approved"}, owner),
        "editors-draft": ("characters", {"name": "Draft"}, team["editor"]),
        "collaborators-own": ("characters", {"name": "Mine"}, team["collaborator"]),
        "collaborators-secret": ("characters", {"name": "Mine, secret", "secret": True}, team["collaborator"]),
        "open": ("characters", {"name": "Open", "open": True, "status": "approved"}, owner),
        "open-secret": ("characters", {"name": "Open secret", "open": True, "secret": True}, owner),
        "spoiler": ("characters", {"name": "Spoiler", "status": "approved", "meta": {"spoiler": True}}, owner),
        "spoiler-1": ("characters", {"name": "Spoiler 1", "status": "approved", "meta": {"spoiler": 1}}, owner),
        "scene": ("scenes", {"title": "Opening"}, owner),
    }
    out = {name: (coll, content.create(project, coll, {"content": body}, user))
           for name, (coll, body, user) in made.items()}
    clone = content.create(project, "characters", {"content": {"name": "Clone", "status": "approved"}}, owner)
    app.extensions["aladdin"].db.project(project.slug)["characters"].update_one(
        {"_id": clone["_id"]}, {"$set": {"isClone": True}})  # clones are the platform's to mark
    clone["isClone"] = True
    out["clone"] = ("characters", clone)
    return out


def _copy(app, project, collection, document) -> dict:
    """A fresh stored copy (a write or delete must not change what the next case sees)."""
    copy = {**document, "_id": ObjectId()}
    app.extensions["aladdin"].db.project(project.slug)[collection].insert_one(copy)
    return copy


def _api_status(client, team, role, action, collection, doc_id) -> int:
    url = f"/api/v1/projects/{team['project'].slug}/content/{collection}/{doc_id}"
    headers = team[role].headers
    if action == "content:view":
        return client.get(url, headers=headers).status_code
    if action == "content:edit":
        return client.patch(url, json={"content": {"note": "touched"}}, headers=headers).status_code
    return client.delete(url, headers=headers).status_code


def test_explain_agrees_with_the_api_for_every_rule_role_and_action(app, client, team, docs):
    authz, project = app.extensions["aladdin"].authz, team["project"]
    seen_denied_by = set()
    for name, (collection, document) in docs.items():
        for role in ROLES:
            for action in ("content:view", "content:edit", "content:delete"):
                target = document if action == "content:view" else _copy(app, project, collection, document)
                allowed, reason = authz.explain(team[role], action, project, collection, target)
                status = _api_status(client, team, role, action, collection, target["_id"])
                case = (name, role, action, status, reason)
                assert allowed == (status < 400), case
                if not allowed:
                    assert f"({status} over HTTP" in reason, case
                    seen_denied_by.update(re.findall(r"\w+\.polar:\d+ \(admin\)", reason))
    # Every admin rule decided some case, and explain named it.
    assert {"examples.polar:2 (admin)", "examples.polar:6 (admin)", "examples.polar:10 (admin)",
            "examples.polar:15 (admin)", "spoilers.polar:2 (admin)"} <= seen_denied_by


def _explain(app, monkeypatch, email, action, target):
    monkeypatch.setattr(core.cli.context, "_app", app)
    return CliRunner().invoke(cli, ["policy", "explain", email, action, target])


def test_edit_of_a_document_the_user_may_not_view_is_denied_like_patch(app, client, team, docs, monkeypatch):
    """notes.polar grants viewers content:edit of open characters; the secret rule hides this one:
    PATCH answers 404, and explain says denied, naming the read rule, not the edit grant."""
    collection, doc = docs["open-secret"]
    status = _api_status(client, team, "viewer", "content:edit", collection, doc["_id"])
    out = _explain(app, monkeypatch, "viewer@example.com", "content:edit",
                   f"{team['project'].slug}/{collection}/{doc['_id']}")
    assert status == 404
    assert out.exit_code == 2 and out.output.startswith("denied"), out.output
    assert "may not view this document" in out.output and "404 over HTTP" in out.output
    assert "examples.polar:6 (admin)" in out.output  # the secret rule
    # The same grant on a document the viewer may view: allowed, by notes.polar, like PATCH.
    collection, doc = docs["open"]
    out = _explain(app, monkeypatch, "viewer@example.com", "content:edit",
                   f"{team['project'].slug}/{collection}/{doc['_id']}")
    assert out.exit_code == 0 and "notes.polar:2 (admin)" in out.output, out.output
    assert _api_status(client, team, "viewer", "content:edit", collection, doc["_id"]) == 200


@pytest.mark.parametrize("case", ["spoiler", "spoiler-1"])
def test_a_hidden_spoiler_names_the_admin_rule(app, client, team, docs, monkeypatch, case):
    """Whatever the value semantics decide for ``spoiler: 1``, explain says what GET says, and a
    denial names the admin's spoiler rule, never the core's ownership rule."""
    collection, doc = docs[case]
    status = _api_status(client, team, "editor", "content:view", collection, doc["_id"])
    out = _explain(app, monkeypatch, "editor@example.com", "content:view",
                   f"{team['project'].slug}/{collection}/{doc['_id']}")
    assert (out.exit_code == 0) == (status == 200), (status, out.output)
    if status == 404:
        assert "the denied(...) rule at spoilers.polar:2 (admin) refuses it" in out.output, out.output
    if case == "spoiler":
        assert status == 404
