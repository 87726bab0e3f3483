"""On S3 storage a clone copies media server-side: CopyObject calls, never GetObject."""

from __future__ import annotations

import uuid

from core.app import create_app
from core.projects import create_project
from tests.conftest import Actors, make_settings
from tests.fixtures.s3 import s3_server  # noqa: F401 - fixture
from tests.integration.test_clone import build_world


def test_clone_on_s3_uses_copy_object(tmp_path, redis_server, s3_server):  # noqa: F811
    bucket = f"aladdin-clone-{uuid.uuid4().hex[:12]}"
    app = create_app(make_settings(tmp_path, redis_server, storage_url=f"s3://{bucket}", s3_endpoint_url=s3_server),
                     load_entry_points=False)
    app.testing = True
    ext = app.extensions["aladdin"]
    ext.storage.ensure_bucket()
    with app.app_context():
        client = app.test_client()
        owner = Actors(app).user("owner@example.com")
        src = create_project(app, owner, "Source", "s3-source")
        dst = create_project(app, owner, "Target", "s3-target")
        world = build_world(app, client, owner, src.slug, tmp_path)
        calls = []

        def record(event_name=None, **kwargs):
            calls.append(event_name.rsplit(".", 1)[-1])

        ext.storage.client.meta.events.register("before-call.s3", record)
        r = client.post(f"/api/v1/projects/{src.slug}/clone", headers=owner.headers,
                        json={"targetProjectId": dst.slug, "contentType": "scenes", "documentId": world["scene"]})
        ext.storage.client.meta.events.unregister("before-call.s3", record)
        assert r.status_code == 201, r.json
        assert calls.count("CopyObject") == 3 and "GetObject" not in calls, calls
        for item in r.json["media"]:
            assert ext.storage.get(item["storageKey"]) == ext.storage.get(item["sourceKey"])
        assert len(ext.storage.list(f"projects/{dst.slug}/")) == 3
        ext.storage.delete_prefix("")
        ext.db.close()
