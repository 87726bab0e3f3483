"""Export plugin over HTTP with real RQ workers: presets, jobs, failures, limits, batches, webhooks, cleanup."""
from __future__ import annotations

import datetime as dt
import http.server
import json
import threading

import av
import pytest
from click.testing import CliRunner

from core.hookspecs import hookimpl
from core.models import JobRecord
from plugins.export.probe import probe
from tests.integration.test_export_helpers import (add_scene, capture_events, export_settings, local_path,
                                                   run_jobs)
from tests.media import make_corrupt, make_scene


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return {
        "wide": make_scene(folder / "wide.mp4", 160, 90, 1.0, 25, audio=True),
        "silent": make_scene(folder / "silent.mp4", 120, 160, 1.0, 30, audio=False),
        "short": make_scene(folder / "short.mp4", 160, 90, 0.5, 25, audio=True, color="red"),
        "corrupt": make_corrupt(folder / "broken.mp4"),
    }


@pytest.fixture
def settings(tmp_path, redis_server):
    return export_settings(tmp_path, redis_server)


@pytest.fixture
def film(app, team, clips):
    """The team project with two completed scenes (added out of order) and one still generating."""
    project, owner = team["project"], team["owner"]
    second = add_scene(app, project, owner, clips["silent"], 2, title="Silent portrait")
    first = add_scene(app, project, owner, clips["wide"], 1, title="Opening")
    pending = add_scene(app, project, owner, clips["short"], 3, status="generating")
    return {"project": project, "scenes": [first, second], "pending": pending, "owner": owner,
            "base": f"/api/v1/projects/{project.slug}/exports", **team}


def _post(client, film, user, **body):
    return client.post(film["base"], json={"preset": "mp4-good", **body}, headers=user.headers)


def test_presets_list_builtins_and_plugin_presets(app, client, actors):
    class Extra:
        @hookimpl
        def aladdin_export_presets(self):
            return [{"id": "gif-ish", "resolution": "640x360", "videoBitrate": "800k", "audioBitrate": "64k",
                     "videoCodec": "libx264", "fps": 12, "container": "mp4"},
                    {"id": "broken", "resolution": "641x360", "videoBitrate": "1k", "audioBitrate": "64k",
                     "videoCodec": "libx264", "fps": 24, "container": "mp4"},
                    {"id": "mp4-good", "resolution": "320x240", "videoBitrate": "100k", "audioBitrate": "64k",
                     "videoCodec": "libx264", "fps": 24, "container": "mp4"}]

    app.extensions["aladdin"].pm.register(Extra())
    assert client.get("/api/v1/export/presets").status_code == 401
    r = client.get("/api/v1/export/presets", headers=actors.user("any@example.com").headers)
    assert r.status_code == 200
    by_id = {p["id"]: p for p in r.json["items"]}
    assert set(by_id) == {"mp4-good", "mp4-better", "mp4-best", "webm-good", "webm-best", "mov-prores",
                          "mp4-4k", "gif-ish"}
    assert by_id["mp4-good"]["resolution"] == "1280x720" and by_id["mp4-good"]["builtin"] is True
    assert by_id["gif-ish"]["fps"] == 12 and by_id["gif-ish"]["builtin"] is False
    assert by_id["mov-prores"]["videoBitrate"] is None and by_id["webm-good"]["audioCodec"] == "libopus"


def test_export_runs_end_to_end(app, client, film):
    owner, project = film["owner"], film["project"]
    events = capture_events(app)
    r = _post(client, film, owner, outputFilename="Pilot cut.mp4")
    assert r.status_code == 202, r.json
    job_id = r.json["jobId"]
    assert r.json["status"] == "queued" and r.json["statusUrl"] == f"{film['base']}/{job_id}"
    assert [e.resource_id for e in events.named("export.queued")] == [job_id]
    queued = client.get(r.json["statusUrl"], headers=owner.headers).json
    assert queued["status"] == "queued" and queued["progress"] == 0 and queued["downloadUrl"] is None

    run_jobs(app)

    done = client.get(r.json["statusUrl"], headers=film["viewer"].headers)
    assert done.status_code == 200
    body = done.json
    assert body["status"] == "completed" and body["progress"] == 100 and body["error"] is None
    assert body["outputFilename"] == "Pilot cut" and body["preset"] == "mp4-good" and body["sceneCount"] == 2
    assert body["createdAt"] and body["completedAt"] and body["downloadName"] == "Pilot cut.mp4"
    record = JobRecord.objects(id=job_id).first()
    key = record.result["storageKey"]
    assert key == f"projects/{project.slug}/exports/{job_id}/Pilot cut.mp4"
    # Only the verified file reached storage; the work directory is gone.
    storage = app.extensions["aladdin"].storage
    assert storage.list(f"projects/{project.slug}/exports/") == [key]
    assert not list((app.extensions["aladdin"].settings.data_dir / "tmp" / "exports").iterdir())

    download = client.get(local_path(app, body["downloadUrl"]))
    assert download.status_code == 200 and "Pilot cut.mp4" in download.headers["Content-Disposition"]
    out = app.extensions["aladdin"].settings.data_dir / "out.mp4"
    out.write_bytes(download.data)
    info = probe(out)
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (1280, 720, "h264", "aac")
    assert info.duration == pytest.approx(2.0, abs=0.2) and info.fps == pytest.approx(24)
    with av.open(str(out)) as container:
        assert container.metadata.get("title") == "Pilot cut"

    progress = [e.details["progress"] for e in events.named("export.progress")]
    assert progress[0] == 0 and progress[-1] == 100
    assert progress == sorted(progress) and len(progress) >= 3  # ffmpeg reports every 0.5 s
    assert all(e.resource_type == "export" and e.details["jobId"] == job_id for e in events.named("export.progress"))
    completed = events.named("export.completed")
    assert len(completed) == 1 and completed[0].details["storageKey"] == key

    # A second export lists first (newest first).
    second = _post(client, film, owner, includeScenes=[str(film["scenes"][1]["_id"])]).json["jobId"]
    listed = client.get(film["base"], headers=owner.headers).json
    assert [j["id"] for j in listed["items"]] == [second, job_id] and listed["total"] == 2


def test_progress_is_saved_and_emitted_at_least_every_5_percent(app, film):
    from plugins.export.tasks import _Progress

    record = JobRecord(kind="export", projectId=str(film["project"].id), status="processing").save()
    events = capture_events(app)
    progress = _Progress(app, record, step=50)  # asked for coarser steps: capped at 5
    seen = []
    for i in range(0, 1001, 3):
        progress(i / 10)
        seen.append(JobRecord.objects(id=record.id).first().progress)
    emitted = [e.details["progress"] for e in events.named("export.progress")]
    assert emitted[0] == 0 and emitted == sorted(emitted)
    assert max(b - a for a, b in zip(emitted, emitted[1:])) <= 5.0 + 0.3  # + one input increment
    assert max(i / 10 - saved for i, saved in zip(range(0, 1001, 3), seen)) < 5.0


def test_user_errors_are_clear_and_record_nothing(app, client, film, team):
    owner = film["owner"]
    bad = _post(client, film, owner, preset="mp4-ultra")
    assert bad.status_code == 400
    assert "mp4-good" in bad.json["message"] and "mov-prores" in bad.json["validPresets"]
    assert _post(client, film, owner, preset="").status_code == 422
    assert client.post(film["base"], json={}, headers=owner.headers).status_code == 422
    unknown = _post(client, film, owner, includeScenes=["000000000000000000000000", "nope"])
    assert unknown.status_code == 422 and unknown.json["unknownScenes"] == ["000000000000000000000000", "nope"]
    pending = _post(client, film, owner, includeScenes=[str(film["pending"]["_id"])])
    assert pending.status_code == 422 and "not completed" in pending.json["message"]
    assert _post(client, film, owner, transition={"type": "wipe"}).status_code == 422
    # Viewers may look but not export; outsiders learn nothing.
    assert _post(client, film, film["viewer"]).status_code == 403
    assert _post(client, film, film["outsider"]).status_code == 404
    assert client.get(film["base"], headers=film["outsider"].headers).status_code == 404
    assert client.get(f"{film['base']}/000000000000000000000000", headers=owner.headers).status_code == 404
    assert client.get(f"{film['base']}/not-an-id", headers=owner.headers).status_code == 404
    assert JobRecord.objects(kind="export").count() == 0


def test_project_without_completed_scenes_is_422(app, client, actors):
    from core.projects import create_project

    owner = actors.user("solo@example.com")
    project = create_project(app, owner, "Empty", "empty-film")
    r = client.post(f"/api/v1/projects/{project.slug}/exports", json={"preset": "mp4-good"}, headers=owner.headers)
    assert r.status_code == 422 and "no completed scene" in r.json["message"]
    assert JobRecord.objects(kind="export").count() == 0


def test_output_filename_cannot_traverse_or_inject(app, client, film):
    owner, project = film["owner"], film["project"]
    evil = '../../../etc/passwd"; -y -i /etc/shadow -metadata title=pwned\n.mp4'
    r = _post(client, film, owner, outputFilename=evil, includeScenes=[str(film["scenes"][0]["_id"])])
    assert r.status_code == 202
    run_jobs(app)
    body = client.get(r.json["statusUrl"], headers=owner.headers).json
    assert body["status"] == "completed", body["error"]
    name = body["outputFilename"]
    assert "/" not in name and ".." not in name and '"' not in name and not name.startswith("-")
    assert "\n" not in name
    storage = app.extensions["aladdin"].storage
    keys = storage.list("")
    exports = [k for k in keys if "/exports/" in k]
    # The key is the ASCII-safe form of the download name (it keeps the extension).
    from plugins.export.sanitize import sanitize_filename

    assert exports == [f"projects/{project.slug}/exports/{body['id']}/{sanitize_filename(name + '.mp4')}"]
    assert all(k.startswith(f"projects/{project.slug}/") for k in keys)
    out = app.extensions["aladdin"].settings.data_dir / "evil.mp4"
    out.write_bytes(client.get(local_path(app, body["downloadUrl"])).data)
    with av.open(str(out)) as container:
        assert container.metadata.get("title") == name  # the whole name is one value, not options
    assert probe(out).duration == pytest.approx(1.0, abs=0.2)


def test_corrupt_scene_fails_naming_the_scene(app, client, film, clips, receiver):
    owner, project = film["owner"], film["project"]
    events = capture_events(app)
    url, handler = receiver
    handler.answers = []
    hook = client.post(f"/api/v1/projects/{project.slug}/webhooks", json={"url": url, "events": ["export.failed"]},
                       headers=owner.headers)
    assert hook.status_code == 201
    broken = add_scene(app, project, owner, clips["corrupt"], 7, title="The chase")
    r = _post(client, film, owner)
    assert r.status_code == 202
    run_jobs(app)
    body = client.get(r.json["statusUrl"], headers=owner.headers).json
    assert body["status"] == "failed" and body["downloadUrl"] is None
    assert "scene 7 'The chase'" in body["error"] and str(broken["_id"]) in body["error"]
    assert "--- ffmpeg ---" in body["error"]  # the tail of ffmpeg's own message follows
    record = JobRecord.objects(id=body["id"]).first()
    assert record.attempts == 1  # a broken file will not heal: no retries
    assert app.extensions["aladdin"].storage.list(f"projects/{project.slug}/exports/") == []
    assert [e.resource_id for e in events.named("export.failed")] == [body["id"]]
    (headers, raw), = handler.received
    payload = json.loads(raw)
    assert payload["event"] == "export.failed" and payload["status"] == "failed"
    assert payload["jobId"] == body["id"] and "The chase" in payload["error"]


def test_transient_failures_retry_and_fail_only_on_the_last_attempt(app, client, film, monkeypatch):
    from core.storage import StorageError

    owner = film["owner"]
    storage = app.extensions["aladdin"].storage
    events = capture_events(app)
    calls = {"n": 0}
    real_put_file = storage.put_file

    def flaky(path, key, content_type="application/octet-stream"):
        calls["n"] += 1
        if calls["n"] == 1:
            raise StorageError("S3 is briefly unavailable")
        return real_put_file(path, key, content_type)

    monkeypatch.setattr(storage, "put_file", flaky)
    first = _post(client, film, owner).json["jobId"]
    run_jobs(app)
    record = JobRecord.objects(id=first).first()
    assert record.status == "completed" and record.attempts == 2 and events.named("export.failed") == []

    def down(path, key, content_type="application/octet-stream"):
        raise StorageError("S3 is down")

    monkeypatch.setattr(storage, "put_file", down)
    second = _post(client, film, owner).json["jobId"]
    run_jobs(app)
    record = JobRecord.objects(id=second).first()
    assert record.status == "failed" and record.attempts == 3 and "S3 is down" in record.error
    assert [e.resource_id for e in events.named("export.failed")] == [second]


def test_rate_limit_per_user_and_project(app, client, film):
    app.extensions["aladdin"].settings.extra["EXPORT_RATE_LIMIT"] = "2/hour"
    owner, editor = film["owner"], film["editor"]
    assert _post(client, film, owner).status_code == 202
    by_id = client.post(f"/api/v1/projects/{film['project'].id}/exports", json={"preset": "mp4-good"},
                        headers=owner.headers)
    assert by_id.status_code == 202  # slug and id share one counter
    limited = _post(client, film, owner)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "rate limit" in limited.json["message"]
    assert _post(client, film, editor).status_code == 202  # another user has their own budget
    batch = client.post(f"{film['base']}/batch", json={"presets": ["mp4-good", "webm-good"]},
                        headers=editor.headers)
    assert batch.status_code == 429  # a batch costs one export per preset
    assert JobRecord.objects(kind="export").count() == 3


def test_batch_aggregates_three_presets(app, client, film):
    owner = film["owner"]
    scene = [str(film["scenes"][0]["_id"])]
    r = client.post(f"{film['base']}/batch", json={"presets": ["mp4-good", "webm-good", "mov-prores"],
                                                   "outputFilename": "trailer", "includeScenes": scene},
                    headers=owner.headers)
    assert r.status_code == 202, r.json
    batch_id, jobs = r.json["batchId"], r.json["jobs"]
    assert len(jobs) == 3 and all(j["status"] == "queued" for j in jobs)
    status = client.get(r.json["statusUrl"], headers=owner.headers).json
    assert status["status"] == "queued" and status["progress"] == 0 and len(status["jobs"]) == 3

    # Mid-way: one done, one rendering at 40 %, one waiting.
    a, b, c = (JobRecord.objects(id=j["jobId"]).first() for j in jobs)
    a.update(set__status="completed", set__progress=100)
    b.update(set__status="processing", set__progress=40)
    mid = client.get(r.json["statusUrl"], headers=owner.headers).json
    assert mid["status"] == "processing" and mid["progress"] == pytest.approx((100 + 40 + 0) / 3, abs=0.1)
    a.update(set__status="queued", set__progress=0)
    b.update(set__status="queued", set__progress=0)

    run_jobs(app)
    done = client.get(r.json["statusUrl"], headers=owner.headers).json
    assert done["status"] == "completed" and done["progress"] == 100
    containers = set()
    for job in done["jobs"]:
        assert job["status"] == "completed" and job["batchId"] == batch_id
        assert job["downloadName"] == f"trailer-{job['preset']}.{ {'mp4-good': 'mp4', 'webm-good': 'webm', 'mov-prores': 'mov'}[job['preset']] }"
        path = app.extensions["aladdin"].settings.data_dir / job["downloadName"]
        path.write_bytes(client.get(local_path(app, job["downloadUrl"])).data)
        info = probe(path)
        containers.add((info.video_codec, info.audio_codec))
    assert containers == {("h264", "aac"), ("vp9", "opus"), ("prores", "aac")}

    # One failure among successes is "partial".
    JobRecord.objects(id=jobs[2]["jobId"]).update_one(set__status="failed", set__error="x")
    assert client.get(r.json["statusUrl"], headers=owner.headers).json["status"] == "partial"
    assert client.get(f"{film['base']}/batch/nope", headers=owner.headers).status_code == 404
    bad = client.post(f"{film['base']}/batch", json={"presets": ["mp4-good", "nope"]}, headers=owner.headers)
    assert bad.status_code == 400 and JobRecord.objects(kind="export").count() == 3


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list = []
    answers: list = []

    def do_POST(self):  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        status = type(self).answers.pop(0) if type(self).answers else 200
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received, _Receiver.answers = [], [500]  # the first delivery fails: it must be retried
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/aladdin", _Receiver
    server.shutdown()


def test_webhook_receives_a_valid_signature(app, client, film, receiver):
    from plugins.export.webhooks import verify_signature

    url, handler = receiver
    owner, hooks = film["owner"], f"/api/v1/projects/{film['project'].slug}/webhooks"
    assert client.post(hooks, json={"url": url}, headers=film["collaborator"].headers).status_code == 403
    assert client.post(hooks, json={"url": "ftp://x"}, headers=owner.headers).status_code == 422
    created = client.post(hooks, json={"url": url}, headers=owner.headers)
    assert created.status_code == 201
    secret = created.json["secret"]
    assert secret.startswith("whsec_") and created.json["events"] == ["export.completed", "export.failed"]
    listed = client.get(hooks, headers=owner.headers).json["items"]
    assert [h["id"] for h in listed] == [created.json["id"]] and "secret" not in listed[0]
    raw = app.extensions["aladdin"].db.platform()["export_webhooks"].find_one()
    assert secret not in json.dumps(raw, default=str)  # encrypted at rest

    job_id = _post(client, film, owner).json["jobId"]
    run_jobs(app)
    assert len(handler.received) == 2  # a 500, then the retry
    headers, body = handler.received[-1]
    assert headers["X-Aladdin-Signature"].startswith("sha256=")
    assert verify_signature(secret, headers["X-Aladdin-Timestamp"], body, headers["X-Aladdin-Signature"])
    assert not verify_signature("whsec_wrong", headers["X-Aladdin-Timestamp"], body, headers["X-Aladdin-Signature"])
    payload = json.loads(body)
    assert payload["event"] == "export.completed" and payload["jobId"] == job_id
    assert payload["status"] == "completed" and payload["preset"] == "mp4-good"
    assert client.get(hooks, headers=owner.headers).json["items"][0]["lastStatus"] == 200

    assert client.delete(f"{hooks}/{created.json['id']}", headers=owner.headers).status_code == 204
    assert client.get(hooks, headers=owner.headers).json["items"] == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://169.254.169.254/latest",
                                 "http://localhost/x", "http://[::1]/x"])
def test_webhooks_to_internal_addresses_are_refused(app, client, film, url):
    """Without the operator's opt-in, a webhook cannot make the server call its own network."""
    app.extensions["aladdin"].settings.extra.pop("EXPORT_WEBHOOK_ALLOW_PRIVATE", None)
    hooks = f"/api/v1/projects/{film['project'].slug}/webhooks"
    r = client.post(hooks, json={"url": url}, headers=film["owner"].headers)
    assert r.status_code == 422 and "non-public" in r.json["message"]
    assert client.get(hooks, headers=film["owner"].headers).json["items"] == []


def test_cleanup_expires_old_exports(app, client, film, monkeypatch):
    import core.cli
    from plugins.export.cli import exports_group

    owner = film["owner"]
    old, fresh = (_post(client, film, owner).json["jobId"] for _ in range(2))
    run_jobs(app)
    storage = app.extensions["aladdin"].storage
    old_key = JobRecord.objects(id=old).first().result["storageKey"]
    JobRecord.objects(id=old).update_one(set__completedAt=dt.datetime.utcnow() - dt.timedelta(days=8))
    monkeypatch.setattr(core.cli.context, "_app", app)
    result = CliRunner().invoke(exports_group, ["cleanup"])
    assert result.exit_code == 0, result.output
    assert "expired 1 exports" in result.output
    assert not storage.exists(old_key)
    gone = client.get(f"{film['base']}/{old}", headers=owner.headers).json
    assert gone["status"] == "expired" and gone["downloadUrl"] is None
    kept = client.get(f"{film['base']}/{fresh}", headers=owner.headers).json
    assert kept["status"] == "completed" and kept["downloadUrl"]


def test_cleanup_is_scheduled_and_reschedules_itself(app, client, film):
    from rq.registry import ScheduledJobRegistry

    from plugins.export import tasks
    from plugins.export.cleanup import schedule_cleanup
    from plugins.export.service import queue_name

    ext = app.extensions["aladdin"]
    ext.settings.extra["EXPORT_CLEANUP_INTERVAL"] = "600"
    registry = ScheduledJobRegistry(queue=ext.jobs.queue(queue_name(app)))
    first = schedule_cleanup(app)
    assert first is not None and first.id in registry.get_job_ids()
    assert schedule_cleanup(app) is None  # one schedule per installation
    assert tasks.cleanup_exports(app) == {"expired": 0}  # what the scheduled job runs ...
    assert len(registry.get_job_ids()) >= 1  # ... and it put the next run on the schedule
    for job_id in registry.get_job_ids():
        registry.remove(job_id, delete_job=True)


def test_title_card_and_crossfade_through_the_api(app, client, film):
    owner = film["owner"]
    r = _post(client, film, owner, titleCard={"text": "Episode 1", "duration": 1.0},
              transition={"type": "crossfade", "duration": 0.4})
    assert r.status_code == 202
    run_jobs(app)
    body = client.get(r.json["statusUrl"], headers=owner.headers).json
    assert body["status"] == "completed", body["error"]
    assert body["duration"] == pytest.approx(1.0 + 2.0 - 0.4, abs=0.15)


def test_cli_export_wait_renders_and_prints_the_location(app, film, monkeypatch):
    import core.cli
    from plugins.export.cli import export_command

    monkeypatch.setattr(core.cli.context, "_app", app)
    result = CliRunner().invoke(export_command, [film["project"].slug, "--preset", "mp4-good",
                                                "--scenes", str(film["scenes"][0]["_id"]), "--wait",
                                                "--output", "cli cut"])
    assert result.exit_code == 0, result.output
    assert "completed: cli cut.mp4" in result.output
    assert "storage key: projects/team-film/exports/" in result.output and "download: http" in result.output
    bad = CliRunner().invoke(export_command, [film["project"].slug, "--preset", "nope"])
    assert bad.exit_code == 1 and "valid presets" in bad.output
