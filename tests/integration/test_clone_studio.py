"""Issue 15 over HTTP: list-element overrides, dangling references in any field, the public plan
(``core.cloneplan``) in ``aladdin_before_clone`` for dry runs too, large clones that answer 202
after a bounded walk and plan once in the job, and real, monotonic clone progress."""

from __future__ import annotations

import pytest
import rq
from bson import ObjectId

from core import cloneplan
from core.app import create_app
from core.errors import WriteRefused
from core.hookspecs import hookimpl
from core.projects import create_project
from core.worker import set_process_app
from tests.conftest import Actors, make_settings
from tests.integration.test_clone import api, build_world, clone, post, snapshot, world  # noqa: F401
from tests.integration.test_clone_async import small_threshold_app  # noqa: F401 (fixture)


def test_overrides_set_list_items_and_never_change_a_container(app, client, world):  # noqa: F811
    src, dst, owner = world["source"], world["target"], world["owner"]
    ext = app.extensions["aladdin"]
    scene = post(client, world["editor"], src.slug, "scenes", {"content": {
        "title": "Cast call", "tags": ["x", "y"],
        "cast": [{"characterId": world["hero"], "line": "One"}, {"characterId": world["rival"], "line": "Two"}]}})
    base = {"targetProjectId": dst.slug, "contentType": "scenes", "documentId": scene}
    r = clone(client, owner, src.slug, {**base, "overrides": {"content.cast.0.line": "NEW", "content.tags.1": "Z"}})
    assert r.status_code == 201, r.json
    copy = ext.db.project(dst.slug)["scenes"].find_one({"_id": ObjectId(r.json["newRootId"])})
    cast = copy["content"]["cast"]
    assert isinstance(cast, list) and [c["line"] for c in cast] == ["NEW", "Two"]
    # both character references survive, rewritten to the copies
    assert [c["characterId"] for c in cast] == [r.json["idMap"][world["hero"]], r.json["idMap"][world["rival"]]]
    assert copy["content"]["tags"] == ["x", "Z"]
    before = snapshot(app, dst.slug)
    for bad, path in (({"content.cast.5.line": "x"}, "content.cast.5.line"),
                      ({"content.tags.2": "x"}, "content.tags.2"),
                      ({"content.title.first": "x"}, "content.title.first"),
                      ({"content.cast.line": "x"}, "content.cast.line"),
                      ({"content.cast": {"0": "x"}}, "content.cast")):
        r = clone(client, owner, src.slug, {**base, "overrides": bad})
        assert r.status_code == 422 and path in r.json["message"], (bad, r.json)
    assert snapshot(app, dst.slug) == before
    # the same rules for the content write path's dotted patches (socket content_change sends
    # them as they are); over REST a dotted key inside `content` is refused outright (issue 13)
    from core.content import SYSTEM
    from core.errors import AladdinError

    url = api(src.slug, f"/content/scenes/{scene}")
    updated = ext.content.update(src, "scenes", scene, {"content.cast.1.line": "Three"}, owner)
    assert [c["line"] for c in updated["content"]["cast"]] == ["One", "Three"]
    with pytest.raises(AladdinError, match="content.tags.9"):
        ext.content.update(src, "scenes", scene, {"content.tags.9": "no"}, owner)
    assert ext.content.get(src, "scenes", scene, reader=SYSTEM)["content"]["tags"] == ["x", "y"]
    r = client.patch(url, json={"content": {"cast.1.line": "Three"}}, headers=owner.headers)
    assert r.status_code == 422 and "cast.1.line" in r.json["message"]


def test_dangling_references_in_any_field_deep_shallow_and_dry_run(app, client, world):  # noqa: F811
    src, dst, owner = world["source"], world["target"], world["owner"]
    gone = {name: str(ObjectId()) for name in ("character", "cast", "location", "episode")}
    scene = post(client, world["editor"], src.slug, "scenes", {"content": {
        "title": "Ghosts", "characterIds": [world["hero"], gone["character"]],
        "cast": [{"characterId": gone["cast"], "line": "Boo"}],
        "locationId": gone["location"], "episodeId": gone["episode"]}})
    want = {("content.characterIds.1", gone["character"]), ("content.cast.0.characterId", gone["cast"]),
            ("content.locationId", gone["location"]), ("content.episodeId", gone["episode"])}
    base = {"targetProjectId": dst.slug, "contentType": "scenes", "documentId": scene}
    for extra in ({"dryRun": True}, {"depth": "shallow", "dryRun": True}, {"depth": "shallow"}, {}):
        r = clone(client, owner, src.slug, {**base, **extra})
        assert r.status_code in (200, 201), (extra, r.json)
        found = {(d["path"], d["references"]) for d in r.json["dangling"]}
        assert found == want, (extra, r.json["dangling"])
        assert all(d["documentId"] == scene and d["collection"] == "scenes" for d in r.json["dangling"])
    # the copy keeps the dangling ids verbatim (nothing to point them at)
    copy = app.extensions["aladdin"].db.project(dst.slug)["scenes"].find_one({"_id": ObjectId(r.json["newRootId"])})
    assert copy["content"]["locationId"] == gone["location"]


class PlanRules:
    """A third-party rule written from docs/plugin_hooks.md: no clone of more than two characters."""

    def __init__(self):
        self.plans: list = []

    @hookimpl
    def aladdin_before_clone(self, app, source, target, plan, user):
        self.plans.append(plan)
        characters = [d for d in plan.documents if d.collection == "characters"]
        if len(characters) > 2:
            raise WriteRefused(f"at most 2 characters per clone, this one has {len(characters)}", status=409)


@pytest.fixture
def rules_app(tmp_path, redis_server):
    rules = PlanRules()
    app = create_app(make_settings(tmp_path, redis_server), load_entry_points=False, plugins=(rules,))
    app.testing = True
    app.rules = rules
    with app.app_context():
        yield app
    app.extensions["aladdin"].db.close()


def test_before_clone_gets_the_public_plan_and_refuses_dry_runs_alike(rules_app, tmp_path):
    app = rules_app
    client = app.test_client()
    owner = Actors(app).user("owner@example.com")
    src = create_project(app, owner, "Plan Source", "plan-source")
    dst = create_project(app, owner, "Plan Target", "plan-target")
    w = build_world(app, client, owner, src.slug, tmp_path)
    body = {"targetProjectId": dst.slug, "contentType": "scenes", "documentId": w["scene"]}
    r = clone(client, owner, src.slug, {**body, "dryRun": True})
    assert r.status_code == 200, r.json
    plan = app.rules.plans[-1]
    assert isinstance(plan, cloneplan.ClonePlan) and plan.dry_run is True
    assert plan.root == ("scenes", w["scene"], r.json["newRootId"])
    assert plan.root.collection == "scenes" and plan.root.source_id == w["scene"]
    assert len(plan.documents) == 9 and plan.collections() == r.json["documents"]
    for entry in plan.documents:
        assert isinstance(entry.source_id, str) and isinstance(entry.new_id, str)
        assert r.json["idMap"][entry.source_id] == entry.new_id and str(entry.document["_id"]) == entry.new_id
        assert entry.document["projectId"] == str(dst.id) and entry.document["clonedFrom"]["documentId"] == entry.source_id
    root_doc = next(d.document for d in plan.documents if d.source_id == w["scene"])
    assert root_doc["content"]["characterIds"] == [r.json["idMap"][w["hero"]], r.json["idMap"][w["rival"]]]
    assert {m.source_id for m in plan.media} == set(w["media"]) and all(m.size > 0 for m in plan.media)
    assert len(plan.relationships) == 5 and all(rel.from_id in r.json["idMap"].values() for rel in plan.relationships)
    # a third character: the dry run and the clone are refused with the same answer, nothing written
    third = post(client, owner, src.slug, "characters", {"content": {"name": "Cy"}})
    r = client.patch(api(src.slug, f"/content/scenes/{w['scene']}"),
                     json={"content": {"characterIds": [w["hero"], w["rival"], third]}}, headers=owner.headers)
    assert r.status_code == 200, r.json
    before = snapshot(app, dst.slug)
    dry = clone(client, owner, src.slug, {**body, "dryRun": True})
    real = clone(client, owner, src.slug, body)
    assert dry.status_code == real.status_code == 409
    assert dry.json == real.json and "this one has 3" in dry.json["message"]
    assert [p.dry_run for p in app.rules.plans[-2:]] == [True, False]
    assert snapshot(app, dst.slug) == before


def test_large_clone_answers_after_a_bounded_walk_plans_once_and_reports_real_progress(small_threshold_app, tmp_path,
                                                                                      monkeypatch):
    app = small_threshold_app
    ext = app.extensions["aladdin"]
    ext.jobs.queue().empty()
    client = app.test_client()
    owner = Actors(app).user("owner@example.com")
    src = create_project(app, owner, "Big Source", "big-source")
    dst = create_project(app, owner, "Big Target", "big-target")
    w = build_world(app, client, owner, src.slug, tmp_path)
    from plugins.clone import planner as planner_mod

    walks: list[tuple[int | None, int]] = []
    real_walk = planner_mod.Planner._walk

    def counted(self, *args):
        try:
            out = real_walk(self, *args)
        except planner_mod.PlanTooLarge:
            walks.append((self.limit, -1))
            raise
        walks.append((self.limit, len(out[0])))
        return out

    monkeypatch.setattr(planner_mod.Planner, "_walk", counted)
    r = client.post(api(src.slug, "/clone"), headers=owner.headers,
                    json={"targetProjectId": dst.slug, "contentType": "scenes", "documentId": w["scene"]})
    assert r.status_code == 202, r.json
    assert walks == [(2, -1)]  # the request stopped walking past the threshold
    job_id = r.json["jobId"]
    set_process_app(app)
    rq.SimpleWorker([ext.jobs.queue()], connection=ext.jobs.redis).work(burst=True)
    assert walks[1:] == [(None, 9)]  # the job planned once
    status = client.get(r.json["statusUrl"], headers=owner.headers).json
    assert status["status"] == "completed" and status["result"]["clonedCount"] == 9, status
    assert status["progress"] == 1.0 and status["result"]["jobId"] == job_id
    events = [e for e in app.recorder.events if e.name == "clone.progress"]
    for pid in (str(src.id), str(dst.id)):  # both project rooms
        mine = [e for e in events if e.project_id == pid]
        values = [e.details["progress"] for e in mine]
        assert values == sorted(values) and values[0] < 0.3 < values[-1] == 1.0, values
        stages = [e.details["stage"] for e in mine]
        assert stages[0] == "planning" and "planned" in stages and stages[-1] == "completed", stages
        assert {"documents", "relationships"} <= set(stages) or "media" in stages
        assert all(e.details["jobId"] == job_id for e in mine)
