"""The cases issue 22 reported, each as a user meets it: the value kinds that leaked MongoDB's
semantics, negations that failed to translate, and a rule on the actor's email that passed
`policy check` and then answered 500 to one user."""

from __future__ import annotations

import uuid

import pymongo
import pytest
from bson import ObjectId

from core.authz import Authorizer, policy_origins
from tests.conftest import docstore_uri


class _Project:
    id, slug, ownerId = "p1", "film", "u-owner"


class _User:
    def __init__(self, uid: str, email: str, **fields):
        self.id, self.email = uid, email
        self.__dict__.update(fields)


def _authorizer(tmp_path, rules: list[str], role: str = "viewer") -> Authorizer:
    d = tmp_path / uuid.uuid4().hex
    d.mkdir()
    (d / "admin.polar").write_text("\n".join(rules) + "\n")
    return Authorizer(policy_origins([], d), lambda user_id, project_id: role)


@pytest.fixture(scope="module")
def collection():
    client = pymongo.MongoClient(docstore_uri(), serverSelectionTimeoutMS=5000)
    name = "aladdin_test_issue22_" + uuid.uuid4().hex[:8]
    yield client[name].docs
    client.drop_database(name)
    client.close()


def _visible(authz, collection, user, contents: list) -> list[bool]:
    """For each content dict: shown by the list query, by a single read, and by Polar (all equal)."""
    docs = [{"_id": ObjectId(), "content": c, "createdBy": "u-2", "version": 1} for c in contents]
    collection.delete_many({})
    collection.insert_many([dict(d) for d in docs])
    read = authz.read_filter(user, _Project, "scenes")
    listed = {d["_id"] for d in collection.find(read.combine({}))}
    out = []
    for doc in docs:
        polar = authz.is_allowed(user, "content:view", authz.resource(_Project, "scenes", doc))
        assert (doc["_id"] in listed) == read.matches(doc) == polar, (doc, read.query)
        out.append(polar)
    return out


DENY = 'denied(_actor: User, "content:view", doc: Content) if '


@pytest.mark.parametrize("rule, contents, shown", [
    # a list holding "public" is not "public": `!=` between a list and a string raises in Polar,
    # which hides the document (MongoDB's $ne would have shown it)
    (DENY + 'doc.content.clearance != "public";',
     [{"clearance": ["public", "secret"]}, {"clearance": "public"}, {"clearance": "secret"}, {}],
     [False, True, False, False]),
    # [1, 5] and true are not in [1, 2]: hidden (MongoDB's $nin would have shown both)
    (DENY + "not doc.content.season in [1, 2];",
     [{"season": [1, 5]}, {"season": True}, {"season": 1}, {"season": 2.0}, {"season": 3}],
     [False, False, True, True, False]),
    # 1 is not true, and a list of objects has no field: shown (the embedded server's {x: true}
    # matched 1, and MongoDB walks into arrays of objects)
    (DENY + "doc.content.meta.spoiler = true;",
     [{"meta": {"spoiler": 1}}, {"meta": [{"spoiler": True}]}, {"meta": {"spoiler": True}}, {"meta": None}],
     [True, True, False, True]),
    # a missing field is below every value (`not doc.content.rating >= 3`, which lists compile to
    # this, is refused by policy check: on a nested path the two differ where content is a list)
    (DENY + "doc.content.rating < 3;", [{}, {"rating": 2}, {"rating": 4}, {"rating": True}],
     [False, False, True, False]),
    # Polar's `in` on a string asks for one of its characters
    (DENY + '"W" in doc.content.title;', [{"title": "WIP cut"}, {"title": "final"}, {"title": ["W"]}],
     [False, True, False]),
])
def test_value_kinds_decide_as_polar_does(tmp_path, collection, rule, contents, shown):
    authz = _authorizer(tmp_path, [rule])
    assert _visible(authz, collection, _User("u-1", "viewer@studio.test"), contents) == shown


@pytest.mark.parametrize("rule, role, shown", [
    # the issue's negated role term: 12 lines of "unbound variable" before
    ('denied(actor: User, "content:view", _doc: Content) if not actor.role_in(_doc.project) in ["owner", "editor"];',
     "viewer", False),
    ('denied(actor: User, "content:view", _doc: Content) if not actor.role_in(_doc.project) in ["owner", "editor"];',
     "editor", True),
    ('denied(actor: User, "content:view", _doc: Content) if not actor.role_in(_doc.project) = "owner";', "editor", False),
    ('denied(actor: User, "content:view", _doc: Content) if not actor.role_in(_doc.project) = "owner";', "owner", True),
])
def test_negated_role_terms_translate(tmp_path, collection, rule, role, shown):
    authz = _authorizer(tmp_path, [rule], role)
    assert authz.check_reads(["scenes"]) == []
    assert _visible(authz, collection, _User("u-1", "someone@studio.test"), [{}]) == [shown]


def test_rules_on_actor_attributes_are_specialised_per_actor(tmp_path, collection):
    rule = (DENY.replace("_actor", "actor") + 'actor.email = "intern@studio.test" and doc.content.stage = "wip";')
    authz = _authorizer(tmp_path, [rule])
    assert authz.check_reads(["scenes"]) == []
    contents = [{"stage": "wip"}, {"stage": "final"}]
    assert _visible(authz, collection, _User("u-1", "intern@studio.test"), contents) == [False, True]
    assert _visible(authz, collection, _User("u-2", "lead@studio.test"), contents) == [True, True]


def test_a_plugin_users_own_fields_reach_rules(tmp_path, collection):
    rule = DENY.replace("_actor", "actor") + 'actor.department = "sound" and doc.content.stage = "wip";'
    authz = _authorizer(tmp_path, [rule])
    assert authz.check_reads(["scenes"]) == []
    contents = [{"stage": "wip"}]
    assert _visible(authz, collection, _User("u-1", "a@studio.test", department="sound"), contents) == [False]
    assert _visible(authz, collection, _User("u-2", "b@studio.test", department="vfx"), contents) == [True]


def test_the_issues_intern_rule_is_refused_by_policy_check_naming_file_and_line(tmp_path, collection, caplog):
    """It passed `policy check` (a made-up user never took the intern's branch) and answered 500
    to the intern. Now the check reads the actor's attributes as unknowns, so every branch is
    compiled; and were such a rule ever met at request time, the reader sees nothing, not a 500."""
    rule = ('denied(actor: User, "content:view", doc: Content) if actor.email = "intern@studio.test" and\n'
            '    doc.content.title.startswith("WIP");')
    authz = _authorizer(tmp_path, ["# hide drafts from the intern", rule])
    problems = authz.check_reads(["scenes"])
    assert problems and all("admin.polar:2" in p for p in problems), problems
    assert any("startswith" in p for p in problems), problems
    assert not any("_aladdin_clause" in p or "__value" in p for p in problems), problems
    intern = _User("u-1", "intern@studio.test")
    assert authz.read_filter(intern, _Project, "scenes").nothing
    assert "policy check" in caplog.text
    assert _visible(authz, collection, _User("u-2", "lead@studio.test"), [{"title": "WIP"}]) == [True]


def test_a_write_rule_of_a_shape_lists_would_apply_differently_is_asked_of_polar(tmp_path):
    """A clone matches its copies against the write rule compiled once; for a rule of a shape the
    compiler does not follow exactly (a test that can fail before the role test: ``meta`` a
    boolean makes Polar fail, which denies, while the compiled rule has dropped the clause for an
    editor), the copies are asked of Polar instead, and the answers are Polar's."""
    rule = ('denied(actor: User, "content:edit", doc: Content) if '
            'doc.content.meta.s = 1 and actor.role_in(doc.project) = "viewer";')
    authz = _authorizer(tmp_path, [rule], role="editor")
    user = _User("u-1", "lead@studio.test")
    docs = [{"_id": ObjectId(), "content": c, "createdBy": "u-2", "version": 1}
            for c in ({"meta": True}, {"meta": {"s": 1}}, {})]
    polar = [authz.is_allowed(user, "content:edit", authz.resource(_Project, "scenes", d)) for d in docs]
    assert polar == [False, True, True]
    assert authz.allowed_documents(user, "content:edit", _Project, "scenes", docs) == polar
