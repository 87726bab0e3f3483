"""What plugin authors meet outside the hooks: a plugin whose ``aladdin_cli_commands`` raises is one
warning line naming it (the traceback with ``--debug``) while the rest of the CLI starts (in a real process, through an
installed entry point), and a plugin schema named like a core one is namespaced in the OpenAPI
document instead of silently colliding."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from core.app import create_app
from core.hookspecs import hookimpl
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]


def test_cli_starts_when_a_plugins_cli_commands_hook_raises(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "broken_cli_plugin.py").write_text(textwrap.dedent('''
        from core.hookspecs import hookimpl

        @hookimpl
        def aladdin_cli_commands():
            raise RuntimeError("boom from the broken plugin")
    '''))
    dist = site / "broken_cli_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-cli-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[aladdin.plugins]\nbroken_cli = broken_cli_plugin\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]),
           "ALADDIN_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "--help"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # One line: the plugin, where it raised, what it raised, what to do; no traceback.
    [line] = done.stderr.splitlines()
    assert line.startswith("warning: plugin 'broken_cli' (") and "broken_cli_plugin.py:6" in line
    assert "RuntimeError: boom from the broken plugin" in line and "ALADDIN_DISABLED_PLUGINS=broken_cli" in line
    for command in ("clone", "export", "users", "projects"):  # the other plugins' and the core's
        assert command in done.stdout, done.stdout
    debug = subprocess.run([sys.executable, str(ROOT / "cli.py"), "--debug", "--help"], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert debug.returncode == 0 and "Traceback (most recent call last)" in debug.stderr  # the original traceback


class ProjectSchema(ma.Schema):
    """A plugin's own schema that happens to share the core's name."""

    gauge = ma.fields.Integer()


class SchemaPlugin:
    __name__ = "schema-plugin"

    @hookimpl
    def aladdin_blueprints(self, app):
        bp = Blueprint("gauges", __name__, url_prefix="/api/v1/gauges")

        @bp.route("")
        class Gauges(MethodView):
            @bp.response(200, ProjectSchema)
            def get(self):
                return {"gauge": 1}

        return [bp]


def test_plugin_schema_named_like_a_core_one_is_namespaced(tmp_path, redis_server, recwarn):
    app = create_app(make_settings(tmp_path, redis_server), load_entry_points=False, plugins=(SchemaPlugin(),))
    app.testing = True
    with app.app_context():
        spec = app.test_client().get("/api/v1/openapi.json").json
    app.extensions["aladdin"].db.close()
    schemas = spec["components"]["schemas"]
    assert "id" in schemas["Project"]["properties"]          # the core's keeps its name
    plugin_name = f"{__name__.split('.')[0]}.Project"
    assert schemas[plugin_name]["properties"] == {"gauge": {"type": "integer"}}
    ref = spec["paths"]["/api/v1/gauges"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ref == {"$ref": f"#/components/schemas/{plugin_name}"}
    assert "Project1" not in schemas
    assert not [w for w in recwarn.list if "Multiple schemas" in str(w.message)]
