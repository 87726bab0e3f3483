"""The read compiler against Polar itself: for many rules and documents, the compiled MongoDB
filter (run by a real query engine, and matched in Python) decides exactly as Polar does when
asked about each document."""

from __future__ import annotations

import itertools
import os
import uuid

import mongomock
import pytest
from bson import ObjectId

from core.authz import Authorizer, CompileError, policy_origins

RULES = {
    "collection": 'denied(actor: User, "content:view", doc: Content) if '
                  'doc.collection = "scenes" and actor.role_in(doc.project) = "viewer";',
    "content_bool": 'denied(_actor: User, "content:view", doc: Content) if doc.content.secret = true;',
    "nested": 'denied(_actor: User, "content:view", doc: Content) if doc.content.meta.rating < 3;',
    "top_level": 'denied(actor: User, "content:view", doc: Content) if '
                 'doc.isClone = true and actor.role_in(doc.project) != "owner";',
    "in_list": 'denied(_actor: User, "content:view", doc: Content) if doc.content.stage in ["draft", "cut"];',
    "contains": 'denied(_actor: User, "content:view", doc: Content) if "embargo" in doc.content.tags;',
    "creator": 'denied(actor: User, "content:view", doc: Content) if '
               'actor.role_in(doc.project) = "collaborator" and not doc.created_by = actor.id;',
    "neq": 'denied(actor: User, "content:view", doc: Content) if '
           'actor.role_in(doc.project) = "viewer" and doc.content.status != "approved";',
    "project_field": 'denied(_actor: User, "content:view", doc: Content) if '
                     'doc.project.slug = "film" and doc.content.locked = true;',
    "widen": 'permitted(actor: User, "content:view", doc: Content) if '
             'actor.role_in(doc.project) = "guest" and doc.content.public = true;',
    "by_id": 'denied(_actor: User, "content:view", doc: Content) if doc.id = "5f0000000000000000000001";',
    "gte": 'denied(_actor: User, "content:view", doc: Content) if doc.sceneNumber >= 10;',
}

DOCS = [
    {"content": {}},
    {"content": {"secret": True}},
    {"content": {"secret": False, "meta": {"rating": 1}}},
    {"content": {"meta": {"rating": 5}}, "isClone": True},
    {"content": {"stage": "draft", "tags": ["embargo", "x"]}},
    {"content": {"stage": "final", "tags": ["x"], "status": "approved"}},
    {"content": {"status": "review", "locked": True, "public": True}, "sceneNumber": 12},
    {"content": {"public": True}, "sceneNumber": 3, "createdBy": "u-collab"},
    {"_id": ObjectId("5f0000000000000000000001"), "content": {}},
    {"sceneNumber": 10},  # no content at all
]

ROLES = ("owner", "editor", "collaborator", "viewer", "guest")


class _Project:
    id, slug, ownerId = "p1", "film", "u-owner"


class _User:
    def __init__(self, uid):
        self.id, self.email = uid, f"{uid}@example.com"


def _authorizer(tmp_path, rules: list[str], role: str) -> Authorizer:
    d = tmp_path / "rules"
    d.mkdir(exist_ok=True)
    (d / "admin.polar").write_text("\n".join(rules) + "\n")
    return Authorizer(policy_origins([], d), lambda user_id, project_id: role)


def _documents():
    docs = []
    for i, doc in enumerate(DOCS):
        doc = {"_id": ObjectId(), "createdBy": "u-other", "version": 1, **doc}
        docs.append(doc)
    return docs


REAL_URI = os.environ.get("ALADDIN_TEST_MONGODB_URI")


@pytest.fixture(params=["mongomock", "server"])
def coll(request, tmp_path):
    """The same documents in each query engine: mongomock, and a server (``ALADDIN_TEST_MONGODB_URI``,
    else the embedded wire server every installation runs by default)."""
    if request.param == "mongomock":
        yield mongomock.MongoClient().db.docs
    else:
        import pymongo

        from tests.conftest import docstore_uri

        client = pymongo.MongoClient(REAL_URI or docstore_uri(), serverSelectionTimeoutMS=5000)
        name = "aladdin_test_reads_" + uuid.uuid4().hex[:8]
        yield client[name].docs
        client.drop_database(name)
        client.close()


@pytest.mark.parametrize("names", [(n,) for n in RULES] + [tuple(RULES)] +
                         [("collection", "widen", "creator"), ("neq", "in_list", "contains")])
def test_compiled_filter_decides_like_polar(tmp_path, coll, names):
    docs = _documents()
    coll.insert_many([dict(d) for d in docs])
    for role, collection in itertools.product(ROLES, ("scenes", "characters")):
        authz = _authorizer(tmp_path, [RULES[n] for n in names], role)
        user = _User("u-collab" if role == "collaborator" else "u-1")
        read = authz.read_filter(user, _Project, collection)
        in_db = {d["_id"] for d in coll.find(read.combine({}))}
        for doc in docs:
            polar = authz.is_allowed(user, "content:view", authz.resource(_Project, collection, doc))
            assert read.matches(doc) == polar, (names, role, collection, doc, read.query)
            assert (doc["_id"] in in_db) == polar, (names, role, collection, doc, read.query)


def test_no_admin_rule_compiles_to_no_filter_for_members_and_nothing_for_others(tmp_path):
    for role in ("owner", "editor", "collaborator", "viewer"):
        assert _authorizer(tmp_path, [], role).read_filter(_User("u"), _Project, "scenes").everything
    assert _authorizer(tmp_path, [], "guest").read_filter(_User("u"), _Project, "scenes").nothing


@pytest.mark.parametrize("rule", [
    'denied(_actor: User, "content:view", doc: Content) if doc.content.a = doc.content.b;',
])
def test_untranslatable_rules_are_refused_not_half_applied(tmp_path, rule, caplog):
    """`policy check` (and start-up) refuses the rule; a request that still meets it is shown
    nothing of the collection, never a 500."""
    authz = _authorizer(tmp_path, [rule], "editor")
    assert authz.read_filter(_User("u"), _Project, "scenes").nothing
    assert "policy check" in caplog.text
    problems = authz.check_reads(["scenes"])
    assert problems and all("admin.polar:1 (admin)" in p for p in problems)
    assert isinstance(problems, list) and CompileError  # the type stays importable for plugins


def test_filters_are_cached_per_reader_role_project_and_collection(tmp_path):
    authz = _authorizer(tmp_path, [RULES["content_bool"]], "editor")
    first = authz.read_filter(_User("u"), _Project, "scenes")
    assert authz.read_filter(_User("u"), _Project, "scenes") is first
    assert authz.read_filter(_User("u"), _Project, "characters") is not first
