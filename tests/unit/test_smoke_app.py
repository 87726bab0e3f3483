def test_app_starts_and_health(client):
    """Database and Redis answer; whether a worker is alive depends on the session's other tests
    (their workers share this Redis), so only its agreement with the status is checked here --
    tests/integration/test_operator.py shows it going degraded and back on its own Redis."""
    r = client.get("/healthz")
    checks = r.json["checks"]
    assert {k: checks[k] for k in ("database", "redis")} == {"database": "ok", "redis": "ok"}
    assert (r.status_code, r.json["status"]) == ((200, "ok") if checks["worker"] == "ok" else (503, "degraded"))


def test_missing_token_is_401_json(client):
    r = client.get("/api/v1/projects")
    assert r.status_code == 401
    assert r.json["code"] == 401 and "message" in r.json
