"""A misbehaving plugin stays its own: after-write hooks, event sinks and preset hooks that raise are
logged once by plugin name and counted (``/healthz``, ``plugins list``) while the client gets its 2xx
and every other plugin still runs; start-up problems (collisions, misspelt hooks, imports, policies,
bad presets) are one line each naming the plugin, from ``create_app``, ``serve``, ``plugins list``
and ``policy check`` alike."""

from __future__ import annotations

import importlib.metadata
import logging
import sys
import textwrap
import uuid

import marshmallow as ma
import pytest
from click.testing import CliRunner
from flask import Blueprint

import core.cli
import core.plugins as plugins_mod
from core.content import ContentType
from core.hookspecs import hookimpl
from core.plugin_problems import PluginStartupError
from core.plugins import ENTRY_POINT_GROUP, PluginHookError
from tests.conftest import make_settings
from tests.integration.test_hooks import crew, hook_app  # noqa: F401  (hook_app is a fixture)


class Recorder:
    """A well-behaved plugin that notes every after-write and event it hears."""

    __name__ = "recorder"

    def __init__(self):
        self.writes, self.events = [], []

    @hookimpl
    def aladdin_after_content_write(self, action):
        self.writes.append(action)

    @hookimpl
    def aladdin_event(self, event):
        self.events.append(event.name)


class RaisingAfterWrite:
    __name__ = "shots"

    @hookimpl
    def aladdin_after_content_write(self, action):
        raise RuntimeError(f"shots index is down ({action})")


class RaisingOnDelete:
    __name__ = "shots"

    @hookimpl
    def aladdin_event(self, event):
        if event.name == "content.deleted":
            raise KeyError("no shot for that scene")


@pytest.fixture
def realtime_calls(monkeypatch):
    """What the realtime plugin's hooks were handed (its room announcements start there)."""
    import plugins.realtime.announce as announce

    calls = {"writes": [], "events": []}
    monkeypatch.setattr(announce, "on_content_write",
                        lambda app, project, collection, action, *rest: calls["writes"].append(action))
    monkeypatch.setattr(announce, "on_event", lambda app, event: calls["events"].append(event.name))
    return calls


def activity(client, people) -> list[str]:
    r = client.get(f"/api/v1/projects/{people['project'].slug}/activity?limit=100", headers=people["owner"].headers)
    assert r.status_code == 200
    return [entry["action"] for entry in r.json["items"]]


def failure_lines(caplog, plugin: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "aladdin.plugins" and f"plugin {plugin!r} failed" in r.getMessage()]


def test_a_raising_after_write_hook_leaves_every_write_answered_and_the_rest_running(hook_app, realtime_calls,
                                                                                    caplog):
    recorder = Recorder()
    app = hook_app(recorder, RaisingAfterWrite())  # registered last: pluggy calls it first
    people = crew(app)
    client, headers = app.test_client(), people["editor"].headers
    url = f"/api/v1/projects/{people['project'].slug}/content/scenes"
    caplog.set_level(logging.ERROR, "aladdin.plugins")
    created = client.post(url, json={"content": {"title": "Harbour at dawn"}}, headers=headers)
    assert created.status_code == 201, created.json
    doc = f"{url}/{created.json['id']}"
    assert client.get(url, headers=headers).json["total"] == 1  # stored once: no retry, no duplicate
    assert client.patch(doc, json={"content": {"title": "Harbour at dusk"}}, headers=headers).status_code == 200
    assert client.delete(doc, headers=people["owner"].headers).status_code == 204
    assert client.get(doc, headers=headers).status_code == 404
    # Every other after-hook and event sink ran: the recorder, the realtime plugin, the team's log.
    assert recorder.writes == ["create", "update", "delete"]
    assert realtime_calls["writes"] == ["create", "update", "delete"]
    assert {"content.created", "content.updated", "content.deleted"} <= set(realtime_calls["events"])
    assert {"content.created", "content.updated", "content.deleted"} <= set(activity(client, people))
    # Logged once per failure, by plugin name, with its traceback; counted per plugin.
    lines = failure_lines(caplog, "shots")
    assert len(lines) == 3 and all(r.exc_info and "aladdin_after_content_write" in r.getMessage() for r in lines)
    assert app.extensions["aladdin"].plugin_failures.counts() == {"shots": 3}
    health = client.get("/healthz").json
    assert health["plugins"] == {"failures": {"shots": 3}}
    assert set(health["checks"]) == {"database", "redis", "worker"}  # failures alone never degrade


def test_an_event_sink_raising_on_delete_still_answers_204(hook_app, realtime_calls, caplog):
    recorder = Recorder()
    app = hook_app(recorder, RaisingOnDelete())
    people = crew(app)
    client = app.test_client()
    caplog.set_level(logging.ERROR, "aladdin.plugins")
    content = app.extensions["aladdin"].content
    scene = content.create(people["project"], "scenes", {"content": {"title": "Pier"}}, people["owner"])
    url = f"/api/v1/projects/{people['project'].slug}/content/scenes/{scene['_id']}"
    assert client.delete(url, headers=people["owner"].headers).status_code == 204
    assert client.get(url, headers=people["owner"].headers).status_code == 404
    assert recorder.events[-1] == "content.deleted" and realtime_calls["events"][-1] == "content.deleted"
    assert "content.deleted" in activity(client, people)
    [line] = failure_lines(caplog, "shots")
    assert "aladdin_event on content.deleted" in line.getMessage()
    assert client.get("/healthz").json["plugins"]["failures"] == {"shots": 1}


def test_a_failing_preset_hook_leaves_presets_and_exports_working(hook_app, tmp_path, caplog):
    from tests.integration.test_export_helpers import add_scene
    from tests.media import make_scene

    class BrokenPresets:
        __name__ = "shots"

        @hookimpl
        def aladdin_export_presets(self):
            raise ValueError("preset registry unreachable")

    class GoodPresets:
        __name__ = "festival"

        @hookimpl
        def aladdin_export_presets(self):
            return [{"id": "festival-proxy", "resolution": "640x360", "videoBitrate": "800k",
                     "audioBitrate": "64k", "videoCodec": "libx264", "fps": 24, "container": "mp4"}]

    caplog.set_level(logging.ERROR, "aladdin.plugins")
    app = hook_app(GoodPresets(), BrokenPresets())
    people = crew(app)
    client = app.test_client()
    listed = client.get("/api/v1/export/presets", headers=people["owner"].headers)
    assert listed.status_code == 200, listed.json
    ids = {p["id"] for p in listed.json["items"]}
    assert {"mp4-good", "festival-proxy"} <= ids
    add_scene(app, people["project"], people["owner"], make_scene(tmp_path / "one.mp4", 160, 90, 0.5, 25), 1)
    started = client.post(f"/api/v1/projects/{people['project'].slug}/exports", json={"preset": "mp4-good"},
                          headers=people["owner"].headers)
    assert started.status_code == 202, started.json
    assert failure_lines(caplog, "shots")
    assert app.extensions["aladdin"].plugin_failures.counts()["shots"] >= 2  # start-up, the list, the export


def test_a_bad_preset_is_one_warning_at_start_up_naming_its_plugin(hook_app, caplog):
    class OddPreset:
        __name__ = "shots"

        @hookimpl
        def aladdin_export_presets(self):
            return [{"id": "odd", "resolution": "641x360", "videoBitrate": "800k", "audioBitrate": "64k",
                     "videoCodec": "libx264", "fps": 24, "container": "mp4"}]

    caplog.set_level(logging.WARNING, "aladdin.export")
    app = hook_app(OddPreset())
    [line] = [r.getMessage() for r in caplog.records if r.name == "aladdin.export"]
    assert line.startswith("plugin 'shots': export preset left out: ") and "ALADDIN_DISABLED_PLUGINS=shots" in line
    people = crew(app)
    listed = app.test_client().get("/api/v1/export/presets", headers=people["owner"].headers)
    assert listed.status_code == 200 and "odd" not in {p["id"] for p in listed.json["items"]}


def test_call_each_runs_every_implementation_inside_the_wrappers():
    from core.plugins import DEFAULT_PLUGINS, PluginFailures, call_each, create_plugin_manager, plugin_name

    seen = []

    class Wrapper:
        __name__ = "wrapper"

        @hookimpl(wrapper=True)
        def aladdin_event(self, event):
            seen.append("around")
            return (yield)

    class Fine:
        __name__ = "fine"

        @hookimpl(trylast=True)
        def aladdin_event(self, event):
            seen.append("fine")
            return "heard"

    class Broken:
        __name__ = "broken"

        @hookimpl(tryfirst=True)
        def aladdin_event(self, event):
            seen.append("broken")
            raise RuntimeError("sink down")

    pm = create_plugin_manager([plugin_name(p) for p in DEFAULT_PLUGINS], load_entry_points=False,
                               extra=(Wrapper(), Fine(), Broken()))
    failures = PluginFailures()
    answers = call_each(pm, "aladdin_event", failures, app=None, event=None)
    assert answers == [("fine", "heard")]
    assert seen.index("broken") < seen.index("fine")  # pluggy's order: tryfirst first
    assert seen.count("around") == len([n for n in seen if n != "around"])  # each call wrapped
    assert failures.counts() == {"broken": 1}


# --- start-up: collisions and problems refused in one line each ---------------------------


def blueprint_plugin(name: str, rule: str, *, blueprint: str | None = None, methods=("GET",)):
    """A plugin serving ``rule`` from a plain Flask blueprint (``@public``, like the issue's)."""
    from core.web import public

    class RoutePlugin:
        __name__ = name

        @hookimpl
        def aladdin_blueprints(self, app):
            bp = Blueprint(blueprint or f"{name}_routes", __name__)

            @bp.route(rule, methods=list(methods))
            @public
            def view(**kwargs):
                return {"items": []}

            return [bp]

    return RoutePlugin()


def startup_error(hook_app, *plugins) -> list[str]:
    with pytest.raises(PluginStartupError) as info:
        hook_app(*plugins)
    lines = str(info.value).splitlines()
    assert lines == [str(p) for p in info.value.problems] and "Traceback" not in str(info.value)
    return lines


def test_a_route_shadowing_the_core_list_is_refused_naming_both(hook_app):
    [line] = startup_error(hook_app, blueprint_plugin("shots", "/api/v1/projects/<pid>/content/scenes"))
    assert line.startswith("plugin 'shots' (") and __file__ in line  # where the view is defined
    assert ("route GET /api/v1/projects/<pid>/content/scenes collides with core's GET "
            "/api/v1/projects/<pid>/content/<collection>") in line
    assert "ALADDIN_DISABLED_PLUGINS=shots" in line


def test_a_route_duplicating_another_plugins_is_refused_naming_both(hook_app):
    lines = startup_error(hook_app, blueprint_plugin("shots", "/api/v1/shots", methods=("GET", "POST")),
                          blueprint_plugin("takes", "/api/v1/shots"))
    assert len(lines) == 1 and lines[0].startswith("plugin 'takes'")
    assert "route GET /api/v1/shots collides with plugin 'shots''s GET /api/v1/shots" in lines[0]
    # A different method on the same path is no collision; neither is the built-ins' own set.
    hook_app(blueprint_plugin("shots", "/api/v1/shots"), blueprint_plugin("takes", "/api/v1/shots", methods=("PUT",)))


def test_a_blueprint_name_clash_is_refused_naming_both(hook_app):
    [line] = startup_error(hook_app, blueprint_plugin("shots", "/api/v1/shots", blueprint="projects"))
    assert "plugin 'shots'" in line and "blueprint name 'projects' is already taken by core's" in line
    [line] = startup_error(hook_app, blueprint_plugin("shots", "/api/v1/shots", blueprint="board"),
                           blueprint_plugin("takes", "/api/v1/takes", blueprint="board"))
    assert line.startswith("plugin 'takes'") and "blueprint name 'board' is already taken by plugin 'shots''s" in line


def test_a_duplicate_content_type_is_refused_naming_both(hook_app):
    class Shots:
        __name__ = "shots"

        @hookimpl
        def aladdin_content_types(self):
            return [ContentType("shots", "Shot", fields={"number": ma.fields.Integer()})]

    class Takes:
        __name__ = "takes"

        @hookimpl
        def aladdin_content_types(self):
            return [ContentType("shots", "Shot"), ContentType("scenes")]

    lines = startup_error(hook_app, Shots(), Takes())
    assert "plugin 'takes': content type 'shots' is already declared by plugin 'shots'" in lines[0]
    assert "plugin 'takes': content type 'scenes' is already declared by plugin 'film'" in lines[1]


def test_a_misspelt_hook_is_one_line_with_the_nearest_name(hook_app):
    class Typo:
        __name__ = "shots"

        @hookimpl
        def aladdin_contnet_types(self):  # sic
            return []

    with pytest.raises(PluginHookError) as info:
        hook_app(Typo())
    [problem] = info.value.problems
    assert str(problem).startswith(f"plugin 'shots' ({__file__}:")
    assert "unknown hook 'aladdin_contnet_types' (did you mean 'aladdin_content_types'?)" in str(problem)


def test_a_plugin_policy_syntax_error_names_the_plugin_file_and_line(hook_app, tmp_path):
    policy = tmp_path / "shots.polar"
    policy.write_text('# shots\npermitted(actor: User, "shots:view", _r) if\n    actor.id = ;\n')

    class Policy:
        __name__ = "shots"

        @hookimpl
        def aladdin_policy_files(self):
            return [policy]

    [line] = startup_error(hook_app, Policy())
    assert line.startswith(f"plugin 'shots' ({policy}:3): policy does not load")


def test_a_raising_startup_hook_is_one_line(hook_app):
    class Startup:
        __name__ = "shots"

        @hookimpl
        def aladdin_startup(self, app):
            raise ValueError("SHOTS_BUCKET is not set")

    [line] = startup_error(hook_app, Startup())
    assert line.startswith(f"plugin 'shots' ({__file__}:")
    assert "aladdin_startup raised ValueError: SHOTS_BUCKET is not set" in line


# --- the command line: serve refuses, plugins list and policy check still run -------------


@pytest.fixture
def installed(tmp_path, monkeypatch, redis_server):
    """``installed(name, source)``: a plugin module on sys.path, listed as an ``aladdin.plugins``
    entry point; the environment is a test installation (documents, Redis, data dir)."""
    eps = []
    settings = make_settings(tmp_path, redis_server)
    env = {"ALADDIN_MONGODB_URI": settings.mongodb_uri, "ALADDIN_REDIS_URL": redis_server,
           "ALADDIN_DATA_DIR": str(tmp_path / "data"), "ALADDIN_SECRET_KEY": settings.secret_key,
           "ALADDIN_PLATFORM_DB": settings.platform_db}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ALADDIN_DISABLED_PLUGINS", raising=False)
    monkeypatch.delenv("ALADDIN_POLICY_DIR", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(core.cli.context, "_app", None)
    monkeypatch.setattr(core.cli.context, "debug", False)

    def entry_points(**params):
        return importlib.metadata.EntryPoints(eps if params.get("group") == ENTRY_POINT_GROUP else ())

    monkeypatch.setattr(plugins_mod.importlib.metadata, "entry_points", entry_points)
    modules = []

    def install(name: str, source: str):
        module = f"{name}_plugin_{uuid.uuid4().hex[:8]}"
        path = tmp_path / f"{module}.py"
        path.write_text(textwrap.dedent(source))
        eps.append(importlib.metadata.EntryPoint(name=name, value=module, group=ENTRY_POINT_GROUP))
        modules.append(module)
        return path

    yield install
    for module in modules:
        sys.modules.pop(module, None)
    app = core.cli.context._app
    if app is not None:
        app.extensions["aladdin"].close()


SHADOWING = """
    from flask import Blueprint

    from core.hookspecs import hookimpl
    from core.web import public


    @hookimpl
    def aladdin_blueprints(app):
        bp = Blueprint("shots", __name__)

        @bp.route("/api/v1/projects/<pid>/content/scenes")
        @public
        def scenes(pid):
            return {"items": []}

        return [bp]
"""


def invoke(*args: str):
    return CliRunner().invoke(core.cli.cli, list(args))


def test_serve_refuses_a_route_collision_in_one_line_and_plugins_list_marks_it(installed):
    path = installed("shots", SHADOWING)
    served = invoke("serve", "--port", "0")
    assert served.exit_code == 1 and served.stdout == ""
    [line] = served.stderr.splitlines()
    assert line.startswith(f"error: plugin 'shots' ({path}:12): route GET /api/v1/projects/<pid>/content/scenes "
                           "collides with core's GET /api/v1/projects/<pid>/content/<collection>")
    checked = invoke("policy", "check")  # the rules are checked, and the plugin named
    assert checked.exit_code == 1 and "load cleanly" in checked.stdout and checked.stderr.splitlines() == [line]
    listed = invoke("plugins", "list")
    assert listed.exit_code == 1
    assert "film 0.1.0 (built-in, plugins.film)" in listed.stdout and "\nshots " in listed.stdout
    assert [row for row in listed.stdout.splitlines() if row.startswith("shots ")][0].endswith("BROKEN")
    assert listed.stderr.splitlines()[0] == line and "1 plugin problem" in listed.stderr


def test_a_misspelt_hook_does_not_stop_plugins_list_or_policy_check(installed):
    path = installed("shots", """
        from core.hookspecs import hookimpl


        @hookimpl
        def aladdin_contnet_types():
            return []
    """)
    listed = invoke("plugins", "list")
    assert listed.exit_code == 1 and "team 0.1.0 (built-in, plugins.team)" in listed.stdout
    assert "shots (BROKEN, not loaded)" in listed.stdout
    line = f"error: plugin 'shots' ({path}:5): unknown hook 'aladdin_contnet_types' (did you mean 'aladdin_content_types'?)"
    assert listed.stderr.startswith(line)
    checked = invoke("policy", "check")
    assert checked.exit_code == 1 and "load cleanly" in checked.stdout and "team.polar" in checked.stdout
    assert checked.stderr.startswith(line) and len(checked.stderr.splitlines()) == 1
    served = invoke("serve", "--port", "0")
    assert served.exit_code == 1 and served.stderr.startswith(line) and len(served.stderr.splitlines()) == 1


def test_an_import_error_is_one_line_and_the_traceback_comes_with_debug(installed):
    path = installed("shots", """
        import json

        SETTINGS = json.loads("{not json")
    """)
    listed = invoke("plugins", "list")
    assert listed.exit_code == 1 and "realtime 0.1.0" in listed.stdout
    [line, summary] = listed.stderr.splitlines()
    assert line.startswith(f"error: plugin 'shots' ({path}:4): failed to import (entry point ")
    assert "JSONDecodeError" in line and "ALADDIN_DISABLED_PLUGINS=shots" in line and "plugin problem" in summary
    debug = invoke("--debug", "plugins", "list")
    assert "Traceback (most recent call last)" in debug.stderr and line in debug.stderr


def test_policy_check_names_a_plugins_broken_policy(installed, tmp_path):
    policy = tmp_path / "shots.polar"
    policy.write_text('permitted(actor: User, "shots:view", _r) if\n    actor.id = ;\n')
    installed("shots", f"""
        from core.hookspecs import hookimpl


        @hookimpl
        def aladdin_policy_files():
            return [{str(policy)!r}]
    """)
    checked = invoke("policy", "check")
    assert checked.exit_code == 1
    assert f"{policy}:2" in checked.stderr and "plugin 'shots'" in checked.stderr
    served = invoke("serve", "--port", "0")
    [line] = served.stderr.splitlines()
    assert served.exit_code == 1 and line.startswith(f"error: plugin 'shots' ({policy}:2): policy does not load")


def test_plugins_list_shows_the_installations_failure_counts(installed, hook_app):
    installed("recorder", """
        from core.hookspecs import hookimpl


        @hookimpl
        def aladdin_event(event):
            raise RuntimeError("boom")
    """)
    app = core.cli.context.get_app()  # the installation from the environment, with the plugin
    with app.app_context():
        people = crew(app)
        app.extensions["aladdin"].content.create(people["project"], "scenes", {"content": {}}, people["owner"])
    listed = invoke("plugins", "list")
    assert listed.exit_code == 0, listed.stderr
    rows = listed.stdout.splitlines()
    recorder = rows.index(next(row for row in rows if row.startswith("recorder ")))
    failures = rows[recorder + 2]
    assert failures.startswith("    failures: ") and int(failures.split()[1]) >= 4  # project, members, content


RAISING_POLICY_FILES = """
    from core.hookspecs import hookimpl


    @hookimpl
    def aladdin_policy_files():
        raise FileNotFoundError("policies/shots.polar is missing from the wheel")
"""


def test_a_raising_policy_files_hook_is_one_line_and_the_tools_still_run(installed):
    path = installed("shots", RAISING_POLICY_FILES)
    line = (f"error: plugin 'shots' ({path}:7): aladdin_policy_files raised FileNotFoundError: policies/shots.polar "
            "is missing from the wheel; fix the plugin, or start without it: ALADDIN_DISABLED_PLUGINS=shots")
    served = invoke("serve", "--port", "0")
    assert served.exit_code == 1 and served.stdout == "" and served.stderr.splitlines() == [line]
    checked = invoke("policy", "check")  # everyone else's rules are still checked
    assert checked.exit_code == 1 and "load cleanly" in checked.stdout and "team.polar" in checked.stdout
    assert checked.stderr.splitlines() == [line]
    listed = invoke("plugins", "list")
    assert listed.exit_code == 1 and "export 0.1.0 (built-in, plugins.export)" in listed.stdout
    assert [row for row in listed.stdout.splitlines() if row.startswith("shots ")][0].endswith("BROKEN")
    assert listed.stderr.splitlines()[0] == line
    assert "Traceback" not in served.stderr + checked.stderr + listed.stderr
    debug = invoke("--debug", "plugins", "list")
    assert line in debug.stderr and "Traceback (most recent call last)" in debug.stderr
    assert 'raise FileNotFoundError("policies/shots.polar is missing from the wheel")' in debug.stderr


DUPLICATE_MIGRATIONS = """
    import types

    from core.hookspecs import hookimpl


    def index_numbers(app, db):
        db["shots"].create_index("content.number")


    def renumber(app, db):
        db["shots"].update_many({}, {"$inc": {"content.number": 1}})


    FIRST = types.SimpleNamespace(NAME="m0001_shots", SCOPE="project", upgrade=index_numbers)
    SECOND = types.SimpleNamespace(NAME="m0001_shots", SCOPE="project", upgrade=renumber)


    @hookimpl
    def aladdin_migrations():
        return [FIRST, SECOND]
"""


def test_a_migration_named_twice_is_one_line_and_the_tools_still_run(installed):
    path = installed("shots", DUPLICATE_MIGRATIONS)
    line = (f"error: plugin 'shots' ({path}:11): migration 'm0001_shots' is given twice (its second definition "
            "is here); give each migration a name of its own (an applied one keeps its name), or start without "
            "it: ALADDIN_DISABLED_PLUGINS=shots")
    for command in (("serve", "--port", "0"), ("migrate",)):
        refused = invoke(*command)
        assert refused.exit_code == 1 and refused.stdout == "" and refused.stderr.splitlines() == [line], command
    listed = invoke("plugins", "list")
    assert listed.exit_code == 1 and "clone 0.1.0 (built-in, plugins.clone)" in listed.stdout
    assert [row for row in listed.stdout.splitlines() if row.startswith("shots ")][0].endswith("BROKEN")
    assert listed.stderr.splitlines()[0] == line
    checked = invoke("policy", "check")
    assert checked.exit_code == 1 and "load cleanly" in checked.stdout and checked.stderr.splitlines() == [line]
    assert "Traceback" not in listed.stderr + checked.stderr


def test_a_raising_or_badly_named_migration_is_one_line(hook_app):
    class Raising:
        __name__ = "shots"

        @hookimpl
        def aladdin_migrations(self):
            raise ImportError("cannot import name 'm0002_takes'")

    [line] = startup_error(hook_app, Raising())
    assert line.startswith(f"plugin 'shots' ({__file__}:")
    assert "aladdin_migrations raised ImportError: cannot import name 'm0002_takes'" in line

    def upgrade(app, db):
        pass

    class BadlyNamed:
        __name__ = "takes"

        @hookimpl
        def aladdin_migrations(self):
            import types

            return [types.SimpleNamespace(NAME="add takes index", SCOPE="project", upgrade=upgrade),
                    types.SimpleNamespace(NAME="m0002_takes", SCOPE="projects", upgrade=upgrade)]

    lines = startup_error(hook_app, BadlyNamed())
    assert lines[0].startswith(f"plugin 'takes' ({__file__}:")
    assert "migration name 'add takes index' is not mNNNN_words; name it like m0001_add_shot_index" in lines[0]
    assert "migration 'm0002_takes' needs SCOPE 'platform' or 'project' and upgrade(app, db)" in lines[1]


def test_a_raising_relationship_types_hook_leaves_the_others_types_and_is_counted(hook_app, caplog):
    class Raising:
        __name__ = "shots"

        @hookimpl
        def aladdin_relationship_types(self):
            raise KeyError("SHOT_OF")

    class Takes:
        __name__ = "takes"

        @hookimpl
        def aladdin_relationship_types(self):
            return ["TAKE_OF"]

    caplog.set_level(logging.ERROR, "aladdin.plugins")
    app = hook_app(Raising(), Takes())  # starts: the whitelist is a contribution the product works without
    allowed = app.extensions["aladdin"].graph.allowed_types
    assert "TAKE_OF" in allowed and "APPEARS_IN" in allowed
    [line] = failure_lines(caplog, "shots")
    assert "aladdin_relationship_types" in line.getMessage()
    # Counted before the app had its Redis, and still visible where operators look.
    assert app.test_client().get("/healthz").json["plugins"]["failures"] == {"shots": 1}


def test_a_raising_clone_hook_is_named_and_the_clone_never_half_right(hook_app, caplog):
    """A plugin's failing ``aladdin_clone_references`` is left out and named in the clone's
    warnings (its fields keep naming the source); a failing ``aladdin_clone_drop_fields`` stops
    the clone, named, with nothing written (a copy must not carry what the plugin leaves behind)."""

    class References:
        __name__ = "shots"

        @hookimpl
        def aladdin_clone_references(self, content_type):
            raise AttributeError("'ContentType' object has no attribute 'shot_fields'")

    class Rival:
        __name__ = "rivals"

        @hookimpl
        def aladdin_clone_references(self, content_type):
            return [("content.nemesisId", "characters")] if content_type.name == "characters" else []

    caplog.set_level(logging.ERROR, "aladdin.clone")
    app = hook_app(References(), Rival())
    people = crew(app)
    client, owner = app.test_client(), people["owner"]
    content, project = app.extensions["aladdin"].content, people["project"]
    villain = content.create(project, "characters", {"content": {"name": "Vex"}}, owner)
    hero = content.create(project, "characters", {"content": {"name": "Ada", "nemesisId": str(villain["_id"])}},
                          owner)
    url = f"/api/v1/projects/{project.slug}/clone"
    body = {"targetProjectId": project.slug, "contentType": "characters", "documentId": str(hero["_id"])}
    r = client.post(url, json=body, headers=owner.headers)
    assert r.status_code == 201, r.json
    assert r.json["clonedCount"] == 2  # the clone went on: Ada and the villain her content names
    assert any(w.startswith("plugin 'shots' failed in aladdin_clone_references for characters") for w in r.json["warnings"])
    assert any("shots" in rec.getMessage() and rec.exc_info for rec in caplog.records)
    assert app.extensions["aladdin"].plugin_failures.counts()["shots"] >= 1

    class Drops:
        __name__ = "drops"

        @hookimpl
        def aladdin_clone_drop_fields(self, content_type):
            raise RuntimeError("review service unreachable")

    app = hook_app(Drops())
    people = crew(app)
    client, owner, project = app.test_client(), people["owner"], people["project"]
    scene = app.extensions["aladdin"].content.create(project, "scenes", {"content": {"title": "Pier"}}, owner)
    db = app.extensions["aladdin"].db.project(project.slug)
    for dry_run in (True, False):
        r = client.post(f"/api/v1/projects/{project.slug}/clone", headers=owner.headers, json={
            "targetProjectId": project.slug, "contentType": "scenes", "documentId": str(scene["_id"]), "dryRun": dry_run})
        assert r.status_code == 500, r.json
        assert r.json["message"].startswith("plugin 'drops' failed in aladdin_clone_drop_fields for scenes")
        assert "nothing was cloned" in r.json["message"] and "Traceback" not in r.json["message"]
    assert db["scenes"].count_documents({}) == 1
    # The rest of the product still works.
    assert client.get(f"/api/v1/projects/{project.slug}/content/scenes", headers=owner.headers).json["total"] == 1
