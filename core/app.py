"""``create_app(settings)``: the one app factory. No work happens at import time."""

from __future__ import annotations

import dataclasses
import re
import threading
from pathlib import Path
from typing import Any

from flask import Flask
from flask_cors import CORS
from flask_smorest import Blueprint as SmorestBlueprint

from . import __version__
from .api.docs_assets import REDOC_URL, SWAGGER_UI_URL
from .authz import Authorizer, PolicyError, policy_origins
from .authz.scope import close_scope, open_scope
from .bodies import guard_json_body
from .content import ContentService, ContentType
from .cors import ALLOW_HEADERS, EXPOSE_HEADERS, PREFLIGHT_MAX_AGE, CorsPolicy
from .crypto import ContentCodec, KeyRing
from .db import Database
from .graph import DEFAULT_RELATIONSHIP_TYPES, create_graph_store
from .jobs import Jobs
from .migrations_runner import Migration, plugin_migrations
from .media_access import MediaInheritance
from .nearcache import NearCache
from .totals import Totals
from .plugin_problems import (PluginProblem, PluginStartupError, RouteOwners, disable_hint, hook_problem, one_line,
                              package_of)
from .plugins import PluginFailures, call_each, create_plugin_manager, failures_key
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
    cors: CorsPolicy = None
    content: ContentService = None
    near_cache: NearCache = None
    #: Lists' exact totals, kept between writes (``core.totals``).
    totals: Totals = None
    public_endpoints: set = dataclasses.field(default_factory=set)
    #: Exceptions of plugins' contained hooks (after-writes, events, presets), counted per plugin.
    plugin_failures: PluginFailures = None
    #: Plugins' migrations (``aladdin_migrations``), run after the core's by ``aladdin migrate``.
    plugin_migrations: list[Migration] = dataclasses.field(default_factory=list)
    worker_process: Any = None
    #: Set when the process shuts down cleanly: background threads stop quietly instead of
    #: reporting the connections that close under them.
    stopping: threading.Event = dataclasses.field(default_factory=threading.Event)

    def close(self) -> None:
        """Release this app's connections; the last process of an installation stops its embedded Redis.

        Plugins' ``aladdin_shutdown`` runs first, while the connections still work (once: a
        second close only releases)."""
        first = not self.stopping.is_set()
        self.stopping.set()
        if first and self.app is not None:
            call_each(self.pm, "aladdin_shutdown", self.plugin_failures, app=self.app)
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
    app = flask_app(settings)
    pm = create_plugin_manager(settings.disabled_plugins, load_entry_points=load_entry_points, extra=plugins)
    keyring = KeyRing.from_settings(settings)
    db = Database(settings.mongodb_uri, settings.platform_db, settings.data_dir)
    failures = PluginFailures(None)  # counted in Redis once the app has it (below)
    allowed = set(DEFAULT_RELATIONSHIP_TYPES)
    for _, extra in call_each(pm, "aladdin_relationship_types", failures):
        allowed.update(extra or ())
    graph = create_graph_store(settings.neo4j_uri, db.project, driver=settings.neo4j_driver,
                               user=settings.neo4j_user, password=settings.neo4j_password,
                               allowed_types=frozenset(allowed))
    storage = create_storage(settings.storage_url, secret_key=settings.secret_key,
                             s3_endpoint_url=settings.s3_endpoint_url)
    problems: list = []  # start-up problems plugins cause: all said at once, one line each
    content_types = collect_content_types(pm, problems)
    ext = Aladdin(settings=settings, pm=pm, db=db, storage=storage, graph=graph, jobs=Jobs(settings),
                  keyring=keyring, codec=ContentCodec(keyring), content_types=content_types, app=app,
                  plugin_migrations=collect_migrations(pm, problems))
    app.extensions["aladdin"] = ext
    failures.bind(ext.jobs.redis, failures_key(settings.platform_db))
    ext.plugin_failures = failures
    try:
        _bind(app, ext, pm, settings, problems)
    except BaseException:
        ext.close()
        raise
    if start_worker:
        from .jobs import WorkerSupervisor

        ext.worker_process = WorkerSupervisor().start()
    return app


def flask_app(settings: Settings) -> Flask:
    """The Flask app, configured (no stores, no plugins yet)."""
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
    return app


def new_api(app: Flask):
    """The app's flask-smorest ``Api`` (the OpenAPI document's home), bound to ``app``."""
    from apispec.ext.marshmallow import MarshmallowPlugin

    api = AladdinApi(spec_kwargs={"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_namer())})
    from .api.schemas import ErrorSchema

    api.ERROR_SCHEMA = ErrorSchema  # documents the extra fields our errors carry (409's document ...)
    api.init_app(app)
    return api


def check_plugins(settings: Settings, pm, problems: list) -> tuple[dict[str, ContentType], dict]:
    """What ``create_app`` refuses at start-up, found without stores (``plugins list``, ``policy
    check``): duplicate content types, raising policy or migration hooks, bad migrations, blueprint
    name clashes and route collisions go into ``problems``; returns the content types and the
    plugins' policy files (file -> plugin) of the plugins that gave them."""
    content_types = collect_content_types(pm, problems)
    policies = collect_policy_files(pm, problems)
    collect_migrations(pm, problems)
    app = flask_app(settings)
    from .api import register_core_api

    api = new_api(app)
    register_core_api(app, api)
    register_plugin_blueprints(app, api, pm, problems)
    return content_types, policies


def _bind(app: Flask, ext: Aladdin, pm, settings: Settings, problems: list) -> None:
    """Everything after the stores: policies, API, plugins' routes, Socket.IO, start-up hooks;
    plugins' start-up problems are raised together as one :class:`PluginStartupError`."""
    # Tokens and roles stay in each process's memory, dropped through Redis when they change.
    ext.near_cache = NearCache(ext.jobs.redis, f"aladdin:{settings.platform_db}:near-cache", settings.near_cache_ttl)
    ext.totals = Totals(ext.near_cache, lambda: ext.content_types.keys())
    ext.db.writes.on_write = ext.totals.written
    ext.content = ContentService(app)
    origins = policy_origins(collect_policy_files(pm, problems), settings.policy_dir)
    try:
        # A file follows the documents that use it (core/media_access.py).
        ext.authz = Authorizer(origins, ext.role_of, sensitive=ext.content.is_sensitive, member_slugs=project_slugs,
                               inherited=MediaInheritance(app))
    except PolicyError as exc:
        problem = policy_problem(exc, origins)
        if problem is None:
            raise
        problems.append(problem)
    ext.limiter = create_limiter(app, ext.jobs.limiter_storage_uri)

    register_error_handlers(app)
    app.before_request(open_scope)  # one actor, hence one role lookup, per request
    app.teardown_request(close_scope)
    app.before_request(authenticate)
    app.before_request(guard_json_body)  # after authentication: outsiders learn nothing from a 422
    app.after_request(security_headers)
    ext.cors = CorsPolicy(settings.cors_origins)
    # Flask-CORS answers preflights and adds the headers to every /api/ answer, errors included,
    # so a page on an allowed origin can read a 401 or a 409 too.
    CORS(app, resources={r"/api/*": {"origins": ext.cors.flask_cors_origins()}}, allow_headers=ALLOW_HEADERS,
         expose_headers=EXPOSE_HEADERS, max_age=PREFLIGHT_MAX_AGE, supports_credentials=False)

    api = ext.api = new_api(app)
    ext.public_endpoints.update({"api-docs.openapi_json", "api-docs.openapi_swagger_ui",
                                 "api-docs.openapi_redoc", "static"})
    from .api import register_core_api

    register_core_api(app, api)
    register_plugin_blueprints(app, api, pm, problems)
    if problems:
        raise PluginStartupError(problems)

    import socketio as python_socketio
    from flask_socketio import SocketIO

    from .compat.direct_send import send_directly
    from .compat.engineio import MAX_MESSAGE_BYTES, answer_oversized
    from .compat.simple_websocket import decline_compression
    from .compat.socketio import send_packets_whole

    # Socket.IO shares rooms across web processes through the app's Redis (unix sockets
    # included, which Flask-SocketIO's URL sniffing would send to kombu).
    manager = python_socketio.RedisManager(ext.jobs.url, channel=socketio_channel(settings))
    socketio = SocketIO(app, client_manager=manager, async_mode="threading",
                        cors_allowed_origins=ext.cors.socket_allows, max_http_buffer_size=MAX_MESSAGE_BYTES)
    send_packets_whole(socketio.server)  # a binary event's parts never interleave with another emit
    decline_compression()  # keystroke-sized frames: zlib only adds CPU and latency
    answer_oversized(socketio.server.eio, MAX_MESSAGE_BYTES)  # over the limit: an ack, not a closed socket
    send_directly(socketio.server.eio)  # an idle socket's frame leaves on the sender's thread
    ext.socketio = socketio
    if settings.trusted_proxies:
        # Outermost, so REST and Socket.IO requests alike see the client behind the proxies.
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)
    for hook, kwargs in (("aladdin_socketio", {"socketio": socketio, "app": app}), ("aladdin_startup", {"app": app})):
        # A plugin that cannot set itself up stops the start, named, in one line.
        call_each(pm, hook, on_error=refuse(pm, hook, problems), **kwargs)
        if problems:
            raise PluginStartupError(problems)


def refuse(pm, hook: str, problems: list):
    """``call_each``'s ``on_error`` for hooks the app cannot start without: each raise is a problem."""
    return lambda name, exc: problems.append(hook_problem(name, hook, exc, package=package_of(pm.get_plugin(name))))


def collect_content_types(pm, problems: list) -> dict[str, ContentType]:
    """Every plugin's content types; a name declared twice (or a raising hook) is a problem naming
    both plugins."""
    content_types: dict[str, ContentType] = {}
    owners: dict[str, str] = {}
    answers = call_each(pm, "aladdin_content_types",
                        on_error=refuse(pm, "aladdin_content_types", problems))
    for plugin, types in reversed(answers):  # registration order: the first declarer keeps the name
        for ctype in types or ():
            if ctype.name in content_types:
                problems.append(PluginProblem(
                    plugin, f"content type {ctype.name!r} is already declared by plugin {owners[ctype.name]!r}",
                    disable_hint(plugin, "rename the plugin's content type")))
                continue
            content_types[ctype.name], owners[ctype.name] = ctype, plugin
    return content_types


def collect_policy_files(pm, problems: list) -> dict:
    """Each plugin's ``.polar`` files (``aladdin_policy_files``), file -> plugin, in plugin order. A
    raising hook is a problem naming the plugin: its rules may tighten access, so the app never
    starts without them (``policy check`` checks the other files)."""
    out: dict = {}
    answers = call_each(pm, "aladdin_policy_files", on_error=refuse(pm, "aladdin_policy_files", problems))
    for plugin, paths in reversed(answers):
        for path in paths or ():
            out[Path(path)] = plugin
    return out


def collect_migrations(pm, problems: list) -> list[Migration]:
    """Every plugin's migrations (``aladdin_migrations``), in plugin order; a raising hook, or a
    migration badly named or named twice, is a problem naming the plugin: the app does not start
    with a plugin's schema changes unknown."""
    out: list[Migration] = []
    answers = call_each(pm, "aladdin_migrations", on_error=refuse(pm, "aladdin_migrations", problems))
    for plugin, items in reversed(answers):
        found, bad = plugin_migrations(plugin, items)
        out += found
        problems.extend(bad)
    return out


def register_plugin_blueprints(app: Flask, api, pm, problems: list) -> None:
    """Each plugin's blueprints, in registration order; a blueprint name already taken, or a rule
    answering what an earlier rule (the core's or another plugin's) answers, is a problem."""
    owners = RouteOwners(app)
    answers = call_each(pm, "aladdin_blueprints", app=app,
                        on_error=refuse(pm, "aladdin_blueprints", problems))
    for plugin, blueprints in reversed(answers):
        registered = []
        for bp in blueprints or ():
            clash = owners.name_taken(plugin, bp)
            if clash is not None:
                problems.append(clash)
                continue
            if isinstance(bp, SmorestBlueprint):
                api.register_blueprint(bp)
            else:
                app.register_blueprint(bp)
            registered.append(bp)
        problems.extend(owners.claim(plugin, registered))


def policy_problem(exc: Exception, origins: dict) -> PluginProblem | None:
    """A plugin's ``.polar`` file that does not load, named with its plugin and file:line."""
    text = str(exc)
    for path, origin in origins.items():
        if origin.startswith("plugin ") and str(path) in text:
            plugin = origin[len("plugin "):]
            line = re.search(r"line (\d+)", text)
            where = f"{path}:{line.group(1)}" if line else str(path)
            return PluginProblem(plugin, f"policy does not load: {one_line(text)}",
                                 disable_hint(plugin, "fix the rule (`aladdin policy check` shows all)"), where=where)
    return None


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
