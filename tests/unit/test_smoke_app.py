def test_app_starts_and_health(client):
    r = client.get("/healthz")
    assert r.status_code == 200, r.json
    assert r.json["checks"] == {"database": "ok", "redis": "ok"}


def test_missing_token_is_401_json(client):
    r = client.get("/api/v1/projects")
    assert r.status_code == 401
    assert r.json["code"] == 401 and "message" in r.json
