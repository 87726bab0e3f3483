"""The plugin manager: load order, ALADDIN_DISABLED_PLUGINS, typo'd hooks, import failures, listing."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap
import uuid

import pytest
from click.testing import CliRunner
from pluggy import PluginValidationError

import core.plugins as plugins_mod
from core.app import create_app
from core.content import ContentType
from core.hookspecs import hookimpl
from core.plugins import (DEFAULT_PLUGINS, ENTRY_POINT_GROUP, PluginLoadError, create_plugin_manager,
                          describe_plugins, plugin_name)
from core.settings import Settings
from tests.conftest import Actors, make_settings


@pytest.fixture
def build_app(tmp_path, redis_server):
    """Build apps from settings overrides; closes their databases afterwards."""
    apps = []

    def build(*, plugins=(), load_entry_points=False, **overrides):
        app = create_app(make_settings(tmp_path, redis_server, **overrides), plugins=plugins,
                         load_entry_points=load_entry_points)
        app.testing = True
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["aladdin"].db.close()


def _fake_entry_points(*eps):
    """Stand-in for ``importlib.metadata.entry_points`` that lists only ``eps`` in our group."""

    def entry_points(**params):
        if params.get("group") == ENTRY_POINT_GROUP:
            return importlib.metadata.EntryPoints(eps)
        return importlib.metadata.EntryPoints(())

    return entry_points


def test_builtins_load_in_declared_order():
    pm = create_plugin_manager(load_entry_points=False)
    names = [name for name, _ in pm.list_name_plugin()]
    assert names == [plugin_name(path) for path in DEFAULT_PLUGINS]
    assert names[:3] == ["default_auth", "default_roles", "film"]
    assert {"clone", "export", "team", "realtime"} <= set(names)
    for path in DEFAULT_PLUGINS:
        assert pm.get_plugin(plugin_name(path)) is sys.modules[path]
    # The movie content types come from a plugin, not from the core.
    types = [t.name for types in pm.hook.aladdin_content_types() for t in types]
    assert {"characters", "scenes", "locations", "episodes", "videos", "media"} <= set(types)


def test_disabled_plugins_setting_is_parsed_from_the_environment(tmp_path):
    settings = Settings.from_env({"ALADDIN_DISABLED_PLUGINS": " export, film ,,", "ALADDIN_DATA_DIR": str(tmp_path)})
    assert settings.disabled_plugins == frozenset({"export", "film"})


def test_disabling_a_plugin_removes_its_hooks_and_routes(build_app):
    full = build_app()
    without = build_app(disabled_plugins={"export", "film"})
    pm = without.extensions["aladdin"].pm
    for name in ("export", "film"):
        assert pm.is_blocked(name) and not pm.has_plugin(name)
        assert full.extensions["aladdin"].pm.has_plugin(name)
    # film's hooks are gone: no movie content types, so its collections are unknown.
    assert "characters" in full.extensions["aladdin"].content_types
    assert not {"characters", "scenes", "videos", "media"} & set(without.extensions["aladdin"].content_types)
    for caller in pm.hook.__dict__.values():
        if hasattr(caller, "get_hookimpls"):
            assert not [i for i in caller.get_hookimpls() if i.plugin_name in ("export", "film")]
    # Whatever routes the export plugin serves (e.g. /api/v1/export/presets) are gone too.
    full_rules = {r.rule for r in full.url_map.iter_rules()}
    rules = {r.rule for r in without.url_map.iter_rules()}
    assert rules <= full_rules
    assert not [r for r in rules if "/export" in r], rules
    # The plugins endpoint no longer lists them.
    with without.app_context():
        user = Actors(without).user("op@example.com")
    listed = without.test_client().get("/api/v1/plugins", headers=user.headers).json["items"]
    assert not {"export", "film"} & {p["name"] for p in listed}


def test_disabled_entry_point_plugin_is_never_imported(monkeypatch):
    ep = importlib.metadata.EntryPoint(name="never", value="module_that_does_not_exist_xyz",
                                       group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(plugins_mod.importlib.metadata, "entry_points", _fake_entry_points(ep))
    pm = create_plugin_manager({"never"})
    assert pm.is_blocked("never") and not pm.has_plugin("never")


def test_misspelled_hook_fails_at_startup(build_app):
    class Typo:
        __name__ = "typo-plugin"

        @hookimpl
        def aladdin_contnet_types(self):  # sic: the typo under test
            return [ContentType("props")]

    with pytest.raises(PluginValidationError) as info:
        build_app(plugins=(Typo(),))
    assert "aladdin_contnet_types" in str(info.value)
    with pytest.raises(PluginValidationError):
        create_plugin_manager(load_entry_points=False, extra=(Typo(),))


def test_wrong_hook_arguments_fail_at_registration():
    class BadArgs:
        __name__ = "bad-args"

        @hookimpl
        def aladdin_startup(self, app, surprise):
            return None

    with pytest.raises(PluginValidationError) as info:
        create_plugin_manager(load_entry_points=False, extra=(BadArgs(),))
    assert "surprise" in str(info.value)


def test_import_failure_names_the_plugin_with_original_traceback(tmp_path, monkeypatch):
    module = f"broken_plugin_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent("""
        def _configure():
            raise RuntimeError("storyboard renderer missing: set RENDERER_URL")

        _configure()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = importlib.metadata.EntryPoint(name="broken-thing", value=module, group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(plugins_mod.importlib.metadata, "entry_points", _fake_entry_points(ep))
    with pytest.raises(PluginLoadError) as info:
        create_plugin_manager()
    message = str(info.value)
    assert "'broken-thing'" in message and module in message
    assert "Traceback (most recent call last)" in message
    assert f"{module}.py" in message and "_configure" in message
    assert "RuntimeError: storyboard renderer missing: set RENDERER_URL" in message
    assert isinstance(info.value.__cause__, RuntimeError)
    sys.modules.pop(module, None)


def test_import_failure_of_a_builtin_names_it(monkeypatch):
    monkeypatch.setattr(plugins_mod, "DEFAULT_PLUGINS", (*DEFAULT_PLUGINS, "plugins.no_such_builtin"))
    with pytest.raises(PluginLoadError) as info:
        create_plugin_manager(load_entry_points=False)
    assert "'no_such_builtin'" in str(info.value) and "ModuleNotFoundError" in str(info.value)


class Versioned:
    """A plugin object with its own name and version."""

    __name__ = "versioned-test-plugin"
    __version__ = "9.8.7"

    @hookimpl
    def aladdin_relationship_types(self):
        return ["TEST_LINK"]

    @hookimpl
    def aladdin_startup(self, app):
        return None


def test_plugins_endpoint_shows_name_version_hooks(build_app):
    app = build_app(plugins=(Versioned(),))
    client = app.test_client()
    assert client.get("/api/v1/plugins").status_code == 401
    with app.app_context():
        user = Actors(app).user("reader@example.com")
    r = client.get("/api/v1/plugins", headers=user.headers)
    assert r.status_code == 200
    by_name = {p["name"]: p for p in r.json["items"]}
    assert {plugin_name(p) for p in DEFAULT_PLUGINS} <= set(by_name)
    film = by_name["film"]
    assert film["builtin"] is True and film["version"] and film["module"] == "plugins.film"
    assert "aladdin_content_types" in film["hooks"]
    assert by_name["default_auth"]["hooks"] == ["aladdin_authenticate"]
    mine = by_name["versioned-test-plugin"]
    assert mine["version"] == "9.8.7" and mine["builtin"] is False
    assert mine["hooks"] == ["aladdin_relationship_types", "aladdin_startup"]
    assert describe_plugins(app.extensions["aladdin"].pm) == r.json["items"]


def test_cli_plugins_list_shows_name_version_hooks(monkeypatch, tmp_path):
    from core import __version__
    from core.cli import cli

    monkeypatch.setenv("ALADDIN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ALADDIN_DISABLED_PLUGINS", raising=False)
    result = CliRunner().invoke(cli, ["plugins", "list"])
    assert result.exit_code == 0, result.output
    assert f"film {__version__} (built-in, plugins.film)" in result.output
    lines = result.output.splitlines()
    film_hooks = lines[lines.index(f"film {__version__} (built-in, plugins.film)") + 1]
    assert "aladdin_content_types" in film_hooks and "aladdin_before_content_write" in film_hooks
    assert f"default_auth {__version__} (built-in, core.default_auth)" in result.output

    monkeypatch.setenv("ALADDIN_DISABLED_PLUGINS", "film,export")
    result = CliRunner().invoke(cli, ["plugins", "list"])
    assert result.exit_code == 0, result.output
    assert "plugins.film" not in result.output and "plugins.export" not in result.output
    assert "plugins.team" in result.output


def test_a_raising_cli_commands_hook_is_reported_by_name():
    import click

    from core.plugins import plugin_cli_commands

    @click.command("fine-cmd")
    def fine():
        """Fine."""

    class Broken:
        __name__ = "broken-cli"

        @hookimpl
        def aladdin_cli_commands(self):
            raise ValueError("nope")

    class Fine:
        __name__ = "fine-cli"

        @hookimpl
        def aladdin_cli_commands(self):
            return [fine]

    pm = create_plugin_manager(load_entry_points=False, extra=(Broken(), Fine()))
    commands, errors = plugin_cli_commands(pm)
    assert fine in commands and any(c.name == "clone" for c in commands)
    assert len(errors) == 1 and isinstance(errors[0], PluginLoadError)
    assert "'broken-cli'" in str(errors[0]) and "ValueError: nope" in str(errors[0])
