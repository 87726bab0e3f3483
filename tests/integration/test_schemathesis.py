"""schemathesis against the app's own ``/api/v1/openapi.json``: no 5xx, no answer the schema contradicts.

Runs as a project owner (bearer header injected) over every core operation with a bounded
number of generated examples each; path parameters are steered to real projects, collections
and documents half of the time so the generated bodies reach the handlers, not just 404s."""

from __future__ import annotations

import io

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import errors as hypothesis_errors
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
MAX_EXAMPLES = 15
# Core operations only (tagged with the core blueprints' names); plugins' routes have their own suites.
CORE_TAGS = {"system", "projects", "content", "media", "files", "plugins"}

# Random bytes are never a real image/video (415), random tokens never carry a valid signature (403).
NEVER_SUCCEEDS = {"POST /api/v1/projects/{pid}/media", "GET /api/v1/files/{token}"}


def _is_core(operation) -> bool:
    return bool(operation.tags) and set(operation.tags) <= CORE_TAGS


@pytest.fixture
def seeded(app, client, actors):
    """An owner with a project holding a document in each collection and one media file."""
    from tests.integration.test_roles_matrix import _png

    owner = actors.user("fuzz-owner@example.com")
    slug = client.post("/api/v1/projects", json={"name": "Fuzz", "slug": "fuzz-film"},
                       headers=owner.headers).json["slug"]
    collections = sorted(app.extensions["aladdin"].content_types)
    docs = []  # (collection, id) pairs that exist
    for collection in collections:
        if collection == "media":
            continue
        body = {"content": {"name": collection}}
        if collection == "videos":
            body = {"sceneNumber": 1, "status": "completed", "content": {"mediaId": "m"}}
        r = client.post(f"/api/v1/projects/{slug}/content/{collection}", json=body, headers=owner.headers)
        assert r.status_code == 201, (collection, r.json)
        docs.append((collection, r.json["id"]))
    media = client.post(f"/api/v1/projects/{slug}/media", headers=owner.headers, content_type="multipart/form-data",
                        data={"file": (io.BytesIO(_png()), "dot.png", "image/png")})
    assert media.status_code == 201, media.json
    docs.append(("media", media.json["id"]))
    return {"owner": owner, "slug": slug, "collections": collections, "docs": docs, "media_id": media.json["id"]}


def _real_params(operation, seeded) -> st.SearchStrategy[dict]:
    """Path parameters naming things that exist (the generated ones almost never do)."""
    names = {p.name for p in operation.path_parameters}
    out: dict[str, st.SearchStrategy] = {}
    if "pid" in names:
        out["pid"] = st.just(seeded["slug"])
    if "media_id" in names:
        out["media_id"] = st.just(seeded["media_id"])
    if "doc_id" in names:
        pair = st.sampled_from(seeded["docs"])
        return st.tuples(st.fixed_dictionaries(out), pair).map(
            lambda t: {**t[0], "collection": t[1][0], "doc_id": t[1][1]})
    if "collection" in names:
        out["collection"] = st.sampled_from(seeded["collections"])
    return st.fixed_dictionaries(out)


@pytest.fixture
def live_worker(app, settings):
    """A real ``cli.py worker`` on the session's Redis, so ``/healthz`` can answer 200 (without
    one it answers its documented 503, which a no-5xx check cannot tell from a crash)."""
    import os
    import subprocess
    import sys
    import uuid
    from pathlib import Path

    from core.jobs import live_workers
    from tests.waiting import wait_for

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALADDIN_")}
    env.update({"ALADDIN_MONGODB_URI": settings.mongodb_uri, "ALADDIN_REDIS_URL": settings.redis_url,
                "ALADDIN_DATA_DIR": str(settings.data_dir), "ALADDIN_SECRET_KEY": settings.secret_key})
    queue = "fuzz-" + uuid.uuid4().hex[:8]
    proc = subprocess.Popen([sys.executable, str(root / "cli.py"), "worker", "--queue", queue], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        redis = app.extensions["aladdin"].jobs.redis

        def started() -> bool:
            assert proc.poll() is None, "the worker exited"
            return any(queue in w.queue_names() for w in live_workers(redis))

        wait_for(started, 90, "the worker to start", interval=0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_core_api_conforms_to_its_openapi(app, seeded, live_worker):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {seeded['owner'].token}"}
    operations = [r.ok() for r in schema.get_all_operations() if _is_core(r.ok())]
    # Deletions last (media before content, the project at the very end): reads and updates need things to exist.
    operations.sort(key=lambda op: (op.method.upper() == "DELETE", op.path == "/api/v1/projects/{pid}",
                                   "/content/" in op.path, op.path))
    assert len(operations) >= 15, [op.label for op in operations]
    statuses: dict[str, set[int]] = {}
    for operation in operations:
        steered = _real_params(operation, seeded).flatmap(
            lambda params, op=operation: op.as_strategy(path_parameters=params))
        strategy = st.one_of(steered, operation.as_strategy()) if operation.path_parameters else steered

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case):
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            statuses.setdefault(operation.label, set()).add(response.status_code)

        run()
    # The steered half reached the handlers: every operation answered at least once with success.
    failed_to_succeed = {label: codes for label, codes in statuses.items()
                         if not any(c < 300 for c in codes) and label not in NEVER_SUCCEEDS}
    assert failed_to_succeed == {}
    assert set(statuses) == {op.label for op in operations}


def test_invalid_requests_never_cause_a_server_error(app, seeded):
    """Negative mode: bodies and parameters that break the schema answer 4xx, never 5xx."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {seeded['owner'].token}"}
    operations = [r.ok() for r in schema.get_all_operations() if _is_core(r.ok())]
    operations.sort(key=lambda op: (op.method.upper() == "DELETE", op.path == "/api/v1/projects/{pid}",
                                   "/content/" in op.path, op.path))
    statuses: dict[str, set[int]] = {}
    for operation in operations:
        strategy = _real_params(operation, seeded).flatmap(
            lambda params, op=operation: op.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE,
                                                        path_parameters=params))

        @settings(max_examples=10, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case):
            response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
            statuses.setdefault(operation.label, set()).add(response.status_code)

        try:
            run()
        except hypothesis_errors.Unsatisfiable:
            continue  # nothing in this operation can be made invalid (no body, free-form strings)
    assert statuses and all(code < 500 for codes in statuses.values() for code in codes)
