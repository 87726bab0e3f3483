"""The test kit plugin authors get (``core.testing``): clients bound to users, factories, the CLI
runner, plugins loaded by entry point, apps that close without waiting, and its pytest11 entry point."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import click
import pytest

from core.embedded_mongo import EmbeddedMongo
from core.embedded_redis import EmbeddedRedis
from core.hookspecs import hookimpl

ROOT = Path(__file__).resolve().parents[2]


class Greeter:
    """A plugin object with a CLI command, registered through the ``aladdin_plugins`` fixture."""

    @hookimpl
    def aladdin_cli_commands(self):
        @click.command("greet")
        @click.argument("email")
        def greet(email):
            from core.cli import with_app

            @with_app
            def run(app):
                from core.models import User

                click.echo(f"hello {User.objects(email=email).first().name}")
            run()
        return [greet]


@pytest.fixture
def aladdin_plugins():
    return (Greeter(),)


def test_client_as_user_sends_that_users_token(app, client, team):
    project = f"/api/v1/projects/{team['project'].slug}"
    assert client.get(project).status_code == 401
    assert client.as_user(team["viewer"]).get(project).json["slug"] == team["project"].slug
    assert client.as_user(team["outsider"]).get(project).status_code == 404
    assert client.as_user(team["viewer"].token).get(project).status_code == 200  # a bare token works too
    assert client.as_user(None).get(project).status_code == 401
    # A request's own header wins over the bound user's.
    as_outsider = client.as_user(team["outsider"])
    assert as_outsider.get(project, headers=team["owner"].headers).status_code == 200
    assert as_outsider.user is team["outsider"] and client.user is None


def test_as_user_issues_a_token_for_a_plain_user(app, client, team):
    from core.models import User

    plain = User.objects(email="editor@example.com").first()
    assert getattr(plain, "token", None) is None
    r = client.as_user(plain).get(f"/api/v1/projects/{team['project'].slug}")
    assert r.status_code == 200 and plain.token.startswith("ald_")


def test_factories_make_projects_members_and_content(app, client, actors):
    owner, writer = actors.user("ow@example.com", "Owner"), actors.user("wr@example.com")
    project = actors.project(owner, "Kit Film", "kit-film")
    actors.member(project, writer, "collaborator")
    scene = actors.content(project, "scenes", {"content": {"title": "Opening"}}, writer)
    assert scene["createdBy"] == str(writer.id) and isinstance(scene["id"], str)
    as_writer = client.as_user(writer)
    got = as_writer.get(f"/api/v1/projects/kit-film/content/scenes/{scene['id']}")
    assert got.status_code == 200 and got.json["content"] == {"title": "Opening"}
    by_owner = actors.content(project, "scenes", {"content": {"title": "Owner's"}})
    assert by_owner["createdBy"] == str(owner.id)
    # Collaborators edit only what they created: the membership's role is in force.
    refused = as_writer.patch(f"/api/v1/projects/kit-film/content/scenes/{by_owner['id']}",
                              json={"content": {"title": "x"}})
    assert refused.status_code == 403


def test_cli_runner_runs_core_and_plugin_commands_on_the_app(app, client, cli_runner):
    token = cli_runner.invoke(["users", "create", "cli@example.com", "--name", "Cleo"]).output.splitlines()[-1]
    assert client.as_user(token).get("/api/v1/projects").status_code == 200
    assert cli_runner.invoke(["greet", "cli@example.com"]).output == "hello Cleo\n"
    assert "No such command" in cli_runner.invoke(["nonsense"], code=2).output
    with pytest.raises(AssertionError, match="exited 2, not 0"):
        cli_runner.invoke(["nonsense"])
    # Commands reading only the environment see the app's installation.
    assert cli_runner.env["ALADDIN_PLATFORM_DB"] == app.extensions["aladdin"].settings.platform_db


def test_settings_env_builds_the_same_settings_again(tmp_path, redis_server):
    from core.settings import Settings
    from core.testing import make_settings, settings_env

    settings = make_settings(tmp_path, redis_server, disabled_plugins={"export"}, clone_async_threshold=3,
                             policy_dir=tmp_path / "rules")
    again = Settings.from_env(settings_env(settings))
    for field in ("data_dir", "mongodb_uri", "redis_url", "secret_key", "platform_db", "storage_url",
                  "disabled_plugins", "policy_dir"):
        assert getattr(again, field) == getattr(settings, field), field
    assert again.get("clone_async_threshold", 0) == 3


def test_make_app_builds_apps_on_their_own_data_dirs(app, make_app):
    other = make_app(plugins=())
    ext, other_ext = app.extensions["aladdin"], other.extensions["aladdin"]
    assert other_ext.settings.data_dir != ext.settings.data_dir
    assert other_ext.settings.platform_db != ext.settings.platform_db
    assert any(isinstance(p, Greeter) for p in ext.pm.get_plugins())  # aladdin_plugins, by default
    assert not any(isinstance(p, Greeter) for p in other_ext.pm.get_plugins())
    assert any(isinstance(p, Greeter) for p in make_app().extensions["aladdin"].pm.get_plugins())


def test_closing_a_fully_embedded_app_stops_its_servers(make_app):
    app = make_app(mongodb_uri="", redis_url=None)
    data_dir = app.extensions["aladdin"].settings.data_dir
    mongo, redis = EmbeddedMongo(data_dir), EmbeddedRedis(data_dir)
    assert mongo.pid() is not None and redis.pid() is not None
    app.extensions["aladdin"].close()
    # The last user left: both servers stopped with the close itself, nothing waits for exit.
    assert mongo.pid() is None and redis.pid() is None


def _write_plugin(root: Path, version: str = "1.2.3") -> Path:
    package = root / "kit_demo_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent("""
        from core.content import ContentType
        from core.hookspecs import hookimpl

        @hookimpl
        def aladdin_content_types():
            return [ContentType("kitnotes")]
    """))
    (root / "pyproject.toml").write_text(textwrap.dedent(f"""
        [project]
        name = "kit-demo-plugin"
        version = "{version}"

        [project.entry-points."aladdin.plugins"]
        kitdemo = "kit_demo_plugin"
    """))
    return root / "pyproject.toml"


def test_install_plugin_loads_it_by_its_entry_point(make_app, install_plugin, tmp_path):
    dist = install_plugin.from_pyproject(_write_plugin(tmp_path / "src-tree"))
    try:
        assert dist.version == "1.2.3"
        app = make_app(load_entry_points=True)
        ext = app.extensions["aladdin"]
        assert ext.pm.has_plugin("kitdemo") and "kitnotes" in ext.content_types
        from core.plugins import describe_plugins

        listed = {p["name"]: p for p in describe_plugins(ext.pm)}["kitdemo"]
        assert listed["version"] == "1.2.3" and listed["builtin"] is False
        assert not make_app().extensions["aladdin"].pm.has_plugin("kitdemo")  # entry points are opt-in
    finally:
        sys.modules.pop("kit_demo_plugin", None)


def test_install_plugin_by_name_and_value(make_app, install_plugin):
    install_plugin("greeter", "tests.integration.test_testing_kit:GREETER", version="0.3.0")
    pm = make_app(plugins=(), load_entry_points=True).extensions["aladdin"].pm
    assert pm.get_plugin("greeter") is GREETER
    from core.plugins import describe_plugins

    assert {p["name"]: p["version"] for p in describe_plugins(pm)}["greeter"] == "0.3.0"


GREETER = Greeter()


def test_the_pytest11_entry_point_names_the_kit():
    """pytest loads a ``pytest11`` plugin under the entry point's name. Named like the module, a
    ``pytest_plugins = ["core.testing"]`` beside it (as tests/conftest.py has) is a no-op; under
    any other name pytest would register the module twice and refuse to start."""
    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert entry_points["pytest11"] == {"core.testing": "core.testing"}
    assert "core" in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"][
        "include"][0]


def _aladdin_installed(install_plugin) -> Path:
    """A site directory where Aladdin looks installed to pytest: its pytest11 entry point, as declared."""
    (name, value), = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"].items()
    aladdin = install_plugin(name, value, distribution="aladdin", version="0.1.0", group="pytest11")
    return Path(aladdin.locate_file(""))


def _pytest(project: Path, tmp_path: Path, *args: str, pythonpath: list[Path] = ()) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (*pythonpath, ROOT))}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"--basetemp={tmp_path / 'basetemp'}", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600)


def test_an_installed_aladdin_gives_pytest_the_kit(install_plugin, tmp_path):
    """A project of its own with Aladdin "installed" (its pytest11 entry point on the path, as
    from pyproject.toml) uses the fixtures without declaring anything, and with the declaration too."""
    site = _aladdin_installed(install_plugin)
    project = tmp_path / "author"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_mine.py").write_text(textwrap.dedent("""
        def test_fixtures_come_from_the_entry_point(client, actors, request):
            assert request.config.pluginmanager.has_plugin("core.testing")
            user = actors.user("me@example.com")
            assert client.as_user(user).get("/api/v1/projects").status_code == 200
    """))
    done = _pytest(project, tmp_path, pythonpath=[site])
    assert done.returncode == 0, done.stdout + done.stderr
    (project / "conftest.py").write_text('pytest_plugins = ["core.testing"]\n')
    done = _pytest(project, tmp_path, pythonpath=[site])
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_example_plugin_suite_passes_with_the_kit(tmp_path):
    """examples/aladdin-storyboards/tests is a plugin author's suite (its own pytest settings); run
    here so the example and its tests stay in step with the kit."""
    done = _pytest(ROOT, tmp_path, "examples/aladdin-storyboards/tests")
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout


def _blocks(markdown: str, language: str) -> dict[str, str]:
    """The fenced ``language`` blocks of ``markdown`` that open with a ``# path`` comment, by path."""
    found = {}
    for block in re.findall(rf"```{language}\n(.*?)```", markdown, flags=re.S):
        first, _, rest = block.partition("\n")
        if first.startswith("# ") and "/" in first:
            found[first[2:].strip()] = rest
    return found


def test_the_docs_worked_example_passes(install_plugin, tmp_path):
    """docs/plugin_hooks.md's plugin (``my_plugin``) and its "Testing your plugin" tests, as written."""
    docs = (ROOT / "docs" / "plugin_hooks.md").read_text()
    files = _blocks(docs, "python")
    assert {"my_plugin/__init__.py", "tests/conftest.py", "tests/test_props.py"} <= set(files)
    project = tmp_path / "my-plugin"
    for path, text in files.items():
        if path.startswith(("my_plugin/", "tests/")):
            (project / path).parent.mkdir(parents=True, exist_ok=True)
            (project / path).write_text(text)
    entry_points = re.search(r"```toml\n(\[project\.entry-points\.\"aladdin\.plugins\"\].*?)```", docs, re.S).group(1)
    (project / "pyproject.toml").write_text(f'[project]\nname = "my-plugin"\nversion = "1.0.0"\n\n{entry_points}'
                                            '\n[tool.pytest.ini_options]\npythonpath = ["."]\n')
    done = _pytest(project, tmp_path, pythonpath=[_aladdin_installed(install_plugin)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_an_installed_plugin_leaves_with_its_test(tmp_path):
    import importlib.metadata

    from core.plugins import ENTRY_POINT_GROUP
    from core.testing import PluginInstaller

    def names():
        return {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}

    installer = PluginInstaller(tmp_path)
    installer("passing-through", "json", distribution="passing-through", version="9.9")
    assert "passing-through" in names() and importlib.metadata.version("passing-through") == "9.9"
    installer.undo()
    assert "passing-through" not in names()
