"""``create_app(settings)``: the one app factory. No work happens at import time."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from flask import Flask
from flask_smorest import Blueprint as SmorestBlueprint

from . import __version__
from .api.docs_assets import REDOC_URL, SWAGGER_UI_URL
from .authz import Authorizer, plugin_policy_origins, policy_origins
from .authz.scope import close_scope, open_scope
from .bodies import guard_json_body
from .content import ContentService, ContentType
from .crypto import ContentCodec, KeyRing
from .db import Database
from .graph import DEFAULT_RELATIONSHIP_TYPES, create_graph_store
from .jobs import Jobs
from .nearcache import NearCache
from .plugins import create_plugin_manager
from .projects import project_slugs
from .ratelimit import create_limiter
from .settings import Settings
from .storage import create_storage
from .web import AladdinApi, authenticate, register_error_handlers, security_headers


@dataclasses.dataclass
class Aladdin:
    """Per-app state, kept in ``app.extensions["aladdin"]`` so several apps coexist in one process."""

    settings: Settings
    pm: Any
    db: Database
    storage: Any
    graph: Any
    jobs: Jobs
    keyring: KeyRing
    codec: ContentCodec
    content_types: dict[str, ContentType]
    authz: Authorizer = None
    limiter: Any = None
    api: Any = None
    socketio: Any = None
    content: ContentService = None
    near_cache: NearCache = None
    public_endpoints: set = dataclasses.field(default_factory=set)
    worker_process: Any = None
    #: Set when the process shuts down cleanly: background threads stop quietly instead of
    #: reporting the connections that close under them.
    stopping: threading.Event = dataclasses.field(default_factory=threading.Event)

    def close(self) -> None:
        """Release this app's connections; the last process of an installation stops its embedded Redis."""
        self.stopping.set()
        if self.near_cache is not None:
            self.near_cache.close()
        self.jobs.close()
        self.db.close()

    def role_of(self, user_id: str, project_id: str) -> str | None:
        return self.pm.hook.aladdin_resolve_role(app=self.app, user_id=user_id, project_id=project_id)

    app: Any = None


def create_app(settings: Settings | None = None, *, plugins: tuple = (), load_entry_points: bool = True,
               start_worker: bool = False, **overrides: Any) -> Flask:
    """Build an Aladdin app from ``settings`` (default: the environment) plus ``overrides``.

    ``plugins`` registers extra plugin objects (tests use it); ``load_entry_points=False``
    ignores installed third-party plugins."""
    settings = settings or Settings.from_env(**overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = Flask("aladdin")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        API_TITLE="Aladdin",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        # Served by the app itself from pinned PyPI packages (core/api/docs_assets.py): no CDN.
        OPENAPI_SWAGGER_UI_URL=SWAGGER_UI_URL,
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},  # its default sends the spec to an online validator
        OPENAPI_REDOC_PATH="redoc",
        OPENAPI_REDOC_URL=REDOC_URL,
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
            "info": {"description": "Aladdin: collaborative film-production content. "
                                    "Authenticate with `Authorization: Bearer <token>`."},
        },
        JSON_SORT_KEYS=False,
    )
    pm = create_plugin_manager(settings.disabled_plugins, load_entry_points=load_entry_points, extra=plugins)
    keyring = KeyRing.from_settings(settings)
    db = Database(settings.mongodb_uri, settings.platform_db, settings.data_dir)
    allowed = set(DEFAULT_RELATIONSHIP_TYPES)
    for extra in pm.hook.aladdin_relationship_types():
        allowed.update(extra or ())
    graph = create_graph_store(settings.neo4j_uri, db.project, driver=settings.neo4j_driver,
                               user=settings.neo4j_user, password=settings.neo4j_password,
                               allowed_types=frozenset(allowed))
    storage = create_storage(settings.storage_url, secret_key=settings.secret_key,
                             s3_endpoint_url=settings.s3_endpoint_url)
    content_types: dict[str, ContentType] = {}
    for types in pm.hook.aladdin_content_types():
        for ctype in types or ():
            if ctype.name in content_types:
                raise RuntimeError(f"content type {ctype.name!r} is declared by two plugins")
            content_types[ctype.name] = ctype
    ext = Aladdin(settings=settings, pm=pm, db=db, storage=storage, graph=graph, jobs=Jobs(settings),
                  keyring=keyring, codec=ContentCodec(keyring), content_types=content_types, app=app)
    app.extensions["aladdin"] = ext
    # Tokens and roles stay in each process's memory, dropped through Redis when they change.
    ext.near_cache = NearCache(ext.jobs.redis, f"aladdin:{settings.platform_db}:near-cache", settings.near_cache_ttl)
    ext.content = ContentService(app)
    ext.authz = Authorizer(policy_origins(plugin_policy_origins(pm), settings.policy_dir), ext.role_of,
                           sensitive=ext.content.is_sensitive, member_slugs=project_slugs)
    ext.limiter = create_limiter(app, ext.jobs.limiter_storage_uri)

    register_error_handlers(app)
    app.before_request(open_scope)  # one actor, hence one role lookup, per request
    app.teardown_request(close_scope)
    app.before_request(authenticate)
    app.before_request(guard_json_body)  # after authentication: outsiders learn nothing from a 422
    app.after_request(security_headers)

    from apispec.ext.marshmallow import MarshmallowPlugin

    api = AladdinApi(spec_kwargs={"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_namer())})
    from .api.schemas import ErrorSchema

    api.ERROR_SCHEMA = ErrorSchema  # documents the extra fields our errors carry (409's document ...)
    api.init_app(app)
    ext.api = api
    ext.public_endpoints.update({"api-docs.openapi_json", "api-docs.openapi_swagger_ui",
                                 "api-docs.openapi_redoc", "static"})
    from .api import register_core_api

    register_core_api(app, api)
    for blueprints in pm.hook.aladdin_blueprints(app=app):
        for bp in blueprints or ():
            if isinstance(bp, SmorestBlueprint):
                api.register_blueprint(bp)
            else:
                app.register_blueprint(bp)

    import socketio as python_socketio
    from flask_socketio import SocketIO

    # Socket.IO shares rooms across web processes through the app's Redis (unix sockets
    # included, which Flask-SocketIO's URL sniffing would send to kombu).
    manager = python_socketio.RedisManager(ext.jobs.url, channel=socketio_channel(settings))
    socketio = SocketIO(app, client_manager=manager, async_mode="threading",
                        cors_allowed_origins="*", max_http_buffer_size=2 * 1024 * 1024)
    ext.socketio = socketio
    if settings.trusted_proxies:
        # Outermost, so REST and Socket.IO requests alike see the client behind the proxies.
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)
    pm.hook.aladdin_socketio(socketio=socketio, app=app)
    pm.hook.aladdin_startup(app=app)
    if start_worker:
        from .jobs import WorkerSupervisor

        ext.worker_process = WorkerSupervisor().start()
    return app


def socketio_channel(settings: Settings) -> str:
    """The Redis pub/sub channel of one installation's Socket.IO servers and emitters."""
    return f"aladdin-socketio-{settings.platform_db}"


def schema_namer():
    """An OpenAPI component-name resolver for one app: a schema keeps its plain name (``Project``
    for ``ProjectSchema``) unless a different schema class already holds it; then it is
    namespaced by its package (``example_plugin.Project``, ``team.Project``), so a plugin's
    schema named like a core one never silently replaces or renumbers it. The core API
    registers first, so core names never change."""
    from apispec.ext.marshmallow import resolver
    from apispec.ext.marshmallow.common import resolve_schema_cls

    owners: dict[str, type] = {}
    names: dict[type, str] = {}

    def resolve(schema) -> str:
        resolved = resolve_schema_cls(schema)
        cls = resolved[0] if isinstance(resolved, list) else resolved
        name = names.get(cls)
        if name is not None:
            return name
        name = resolver(cls)
        if owners.get(name, cls) is not cls:
            parts = cls.__module__.split(".")
            package = parts[1] if parts[0] == "plugins" and len(parts) > 1 else parts[0]
            name = f"{package}.{name}"
            if owners.get(name, cls) is not cls:
                name = f"{cls.__module__}.{cls.__qualname__}"
        owners[name] = cls
        names[cls] = name
        return name

    return resolve
