"""Large clones run as RQ jobs: 202 with jobId, a real worker runs them, the status URL reports."""

from __future__ import annotations

import pytest
import rq

from core.app import create_app
from core.worker import set_process_app
from core.projects import create_project
from tests.conftest import Actors, make_settings
from tests.integration.test_clone import _Events, build_world, snapshot


@pytest.fixture
def small_threshold_app(tmp_path, redis_server):
    recorder = _Events()
    app = create_app(make_settings(tmp_path, redis_server, clone_async_threshold=2),
                     load_entry_points=False, plugins=(recorder,))
    app.testing = True
    app.recorder = recorder
    with app.app_context():
        yield app
    app.extensions["aladdin"].db.close()


def _work(app):
    ext = app.extensions["aladdin"]
    set_process_app(app)
    rq.SimpleWorker([ext.jobs.queue()], connection=ext.jobs.redis).work(burst=True)


def _queued_clone(app, tmp_path):
    """A source world and an empty target; the clone request answered before any worker ran."""
    ext = app.extensions["aladdin"]
    ext.jobs.queue().empty()
    client = app.test_client()
    owner = Actors(app).user("owner@example.com")
    src = create_project(app, owner, "Source", "async-source")
    dst = create_project(app, owner, "Target", "async-target")
    world = build_world(app, client, owner, src.slug, tmp_path)
    r = client.post(f"/api/v1/projects/{src.slug}/clone", headers=owner.headers,
                    json={"targetProjectId": dst.slug, "contentType": "scenes", "documentId": world["scene"]})
    return ext, client, owner, src, dst, r


def test_large_clone_runs_as_job(small_threshold_app, tmp_path):
    app = small_threshold_app
    ext, client, owner, src, dst, r = _queued_clone(app, tmp_path)
    assert r.status_code == 202, r.json
    job_id, status_url = r.json["jobId"], r.json["statusUrl"]
    assert r.json["status"] == "queued" and status_url == f"/api/v1/projects/{src.slug}/clone/{job_id}"
    assert client.get(status_url, headers=owner.headers).json["status"] == "queued"
    assert snapshot(app, dst.slug)["storage"] == []  # nothing written before the worker runs

    _work(app)

    status = client.get(status_url, headers=owner.headers).json
    assert status["status"] == "completed", status
    assert status["progress"] == 1.0 and status["result"]["clonedCount"] == 9
    assert status["result"]["relationships"] == 5 and len(status["result"]["media"]) == 3
    after = snapshot(app, dst.slug)
    assert sum(len(v) for v in after["docs"].values()) == 9 and len(after["storage"]) == 3
    progress = [e for e in app.recorder.events if e.name == "clone.progress"]
    assert progress and all(e.details["jobId"] == job_id for e in progress)
    assert progress[-1].details["progress"] == 1.0
    done = [e for e in app.recorder.events if e.name == "clone.completed"]
    assert {e.project_id for e in done} == {str(src.id), str(dst.id)}
    # Status is private to the project's members; unknown ids are 404.
    outsider = Actors(app).user("outsider@example.com")
    assert client.get(status_url, headers=outsider.headers).status_code == 404
    assert client.get(f"/api/v1/projects/{src.slug}/clone/nope", headers=owner.headers).status_code == 404
    assert client.get(f"/api/v1/projects/{dst.slug}/clone/{job_id}", headers=owner.headers).status_code == 404


def test_failed_job_is_reported_and_rolled_back(small_threshold_app, tmp_path, monkeypatch):
    app = small_threshold_app
    ext, client, owner, src, dst, r = _queued_clone(app, tmp_path)
    assert r.status_code == 202
    before = snapshot(app, dst.slug)

    def broken(project, rels):
        raise RuntimeError("graph store went away")

    monkeypatch.setattr(ext.graph, "add_relationship_rows", broken)
    _work(app)
    status = client.get(r.json["statusUrl"], headers=owner.headers).json
    assert status["status"] == "failed" and "graph store went away" in status["error"], status
    assert snapshot(app, dst.slug) == before
    failed = [e for e in app.recorder.events if e.name == "clone.failed"]
    assert {e.project_id for e in failed} == {str(src.id), str(dst.id)}
