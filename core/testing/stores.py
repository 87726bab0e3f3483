"""The embedded stores tests run on: one document server per test process, one Redis server per
session, and settings that give every app its own platform database on them."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from ..settings import PREFIX, Settings

# This process's document server, started on first use: the state is module-level (not a
# fixture) because helpers outside fixtures (subprocess environments, pure-function tests)
# need the URI too, and because the autouse cleanup must not start a server nobody uses.
_docstore: dict = {}


def docstore_uri() -> str:
    """This test process's document server (started on first use, left by :func:`stop_docstore`
    or at exit): a real MongoDB wire-protocol server, so tests run the production code path."""
    if "uri" not in _docstore:
        from ..embedded_mongo import EmbeddedMongo

        server = EmbeddedMongo(tempfile.mkdtemp(prefix="aladdin-test-docstore-"))
        _docstore["uri"], _docstore["server"] = server.join(), server
    return _docstore["uri"]


def docstore_started() -> bool:
    return "uri" in _docstore


def stop_docstore() -> None:
    """Leave (and so stop) this process's document server; a later :func:`docstore_uri` starts a new one."""
    server = _docstore.pop("server", None)
    _docstore.pop("uri", None)
    if server is not None:
        server.leave()


def _client():
    import pymongo

    return pymongo.MongoClient(docstore_uri())


def database_names() -> set[str]:
    """The databases on this process's server (an empty set, starting nothing, before it runs)."""
    if not docstore_started():
        return set()
    client = _client()
    try:
        return set(client.list_database_names())
    finally:
        client.close()


def drop_new_databases(before: set[str]) -> None:
    """Drop the databases created since ``before`` (a test's platform and project databases),
    so the next test on this process's server starts from the same empty state."""
    if not docstore_started():
        return
    client = _client()
    try:
        for name in set(client.list_database_names()) - before - {"admin", "local", "config"}:
            client.drop_database(name)
    finally:
        client.close()


def make_settings(tmp_path: Path, redis_url: str, /, **overrides: Any) -> Settings:
    """Settings for one test app: its data dir under ``tmp_path``, the shared servers, and a
    platform database and secret of its own (``overrides`` as for :meth:`Settings.from_env`,
    so ``mongodb_uri="", redis_url=None`` gives an app its own embedded servers)."""
    env = {PREFIX + "MONGODB_URI": docstore_uri(),
           PREFIX + "REDIS_URL": redis_url,
           PREFIX + "DATA_DIR": str(Path(tmp_path) / "data"),
           PREFIX + "SECRET_KEY": "test-secret-" + uuid.uuid4().hex,
           PREFIX + "PLATFORM_DB": "aladdin_" + uuid.uuid4().hex[:8]}
    return Settings.from_env(env, **overrides)


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``ALADDIN_*`` environment that builds ``settings`` again: what a command or a
    subprocess needs to join the same installation as a test app."""
    env = {PREFIX + key: value for key, value in settings.extra.items()}
    env.update({PREFIX + "DATA_DIR": str(settings.data_dir),
                PREFIX + "MONGODB_URI": settings.mongodb_uri,
                PREFIX + "SECRET_KEY": settings.secret_key,
                PREFIX + "PLATFORM_DB": settings.platform_db,
                PREFIX + "STORAGE_URL": settings.storage_url,
                PREFIX + "DISABLED_PLUGINS": ",".join(sorted(settings.disabled_plugins))})
    if settings.redis_url:
        env[PREFIX + "REDIS_URL"] = settings.redis_url
    if settings.cors_origins:
        env[PREFIX + "CORS_ORIGINS"] = ",".join(settings.cors_origins)
    if settings.policy_dir:
        env[PREFIX + "POLICY_DIR"] = str(settings.policy_dir)
    return env
