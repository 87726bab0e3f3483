"""Every hook in core/hookspecs.py, exercised through a test plugin registered with ``create_app``."""

from __future__ import annotations

import contextlib

import click
import marshmallow as ma
import pytest
from click.testing import CliRunner
from flask import Blueprint as FlaskBlueprint
from flask import jsonify
from flask_smorest import Blueprint

import core.plugins as plugins_mod
from core.app import create_app
from core.content import ContentType
from core.errors import AuthenticationFailed, WriteRefused
from core.graph import InvalidRelationshipType, NodeRef, Relationship
from core.hookspecs import hookimpl
from core.models import User
from core.projects import add_member, create_project
from tests.conftest import Actors, make_settings


@pytest.fixture
def hook_app(tmp_path, redis_server):
    """``hook_app(*plugins, **settings)``: a fresh app (in context) with test plugins registered."""
    stack = contextlib.ExitStack()
    apps = []

    def build(*plugins, **overrides):
        app = create_app(make_settings(tmp_path, redis_server, **overrides), plugins=plugins,
                         load_entry_points=False)
        app.testing = True
        stack.enter_context(app.app_context())
        apps.append(app)
        return app

    yield build
    stack.close()
    for app in apps:
        app.extensions["aladdin"].db.close()


def has_route(app, rule: str) -> bool:
    """Whether a (concurrently written) built-in plugin serves ``rule`` yet."""
    return any(r.rule == rule for r in app.url_map.iter_rules())


def crew(app):
    """An owner, an editor, a viewer and an outsider around project ``hook-film``."""
    actors = Actors(app)
    owner = actors.user("owner@example.com")
    project = create_project(app, owner, "Hook Film", "hook-film")
    people = {"owner": owner, "project": project, "outsider": actors.user("outsider@example.com")}
    for role in ("editor", "viewer"):
        people[role] = actors.user(f"{role}@example.com")
        add_member(app, project, people[role], role, owner)
    return people


def characters_url(project, doc_id: str = "") -> str:
    return f"/api/v1/projects/{project.slug}/content/characters" + (f"/{doc_id}" if doc_id else "")


# --- start-up hooks ------------------------------------------------------------------------


class PropsPlugin:
    __name__ = "props-plugin"

    @hookimpl
    def aladdin_content_types(self):
        return [ContentType("props", "Prop", fields={"weightKg": ma.fields.Float()},
                            indexes=(("weightKg",),))]


def test_aladdin_content_types_adds_a_collection(hook_app):
    app = hook_app(PropsPlugin())
    people = crew(app)
    client, project = app.test_client(), people["project"]
    assert app.extensions["aladdin"].content_types["props"].title == "Prop"
    url = f"/api/v1/projects/{project.slug}/content/props"
    r = client.post(url, json={"weightKg": 2.5, "content": {"name": "lantern"}}, headers=people["editor"].headers)
    assert r.status_code == 201, r.json
    assert r.json["weightKg"] == 2.5 and r.json["createdBy"] == str(people["editor"].id)
    assert client.post(url, json={"weightKg": "heavy"}, headers=people["editor"].headers).status_code == 422
    listed = client.get(url, headers=people["viewer"].headers).json
    assert [d["content"]["name"] for d in listed["items"]] == ["lantern"]
    # The project's database was indexed for the plugin's type when the project was created.
    index_keys = [list(i["key"]) for i in app.extensions["aladdin"].db.project(project.slug)["props"].list_indexes()]
    assert ["weightKg"] in index_keys


def test_aladdin_content_types_duplicate_name_is_refused(hook_app):
    class Clash:
        __name__ = "clash"

        @hookimpl
        def aladdin_content_types(self):
            return [ContentType("characters")]

    with pytest.raises(RuntimeError, match="characters"):
        hook_app(Clash())


class RoutesPlugin:
    __name__ = "routes-plugin"

    def __init__(self):
        self.apps = []

    @hookimpl
    def aladdin_blueprints(self, app):
        self.apps.append(app)
        api_bp = Blueprint("hooktest", __name__, url_prefix="/api/v1/hooktest", description="Hook test")

        @api_bp.route("/ping")
        def ping():
            """Who is asking."""
            from flask import g

            return {"pong": True, "user": g.user.email}

        plain = FlaskBlueprint("hooktest_plain", __name__)

        @plain.route("/hooktest-plain")
        def plain_view():
            return jsonify(plain=True)

        return [api_bp, plain]


def test_aladdin_blueprints_registers_routes_per_app(hook_app):
    plugin = RoutesPlugin()
    app = hook_app(plugin)
    second = hook_app(plugin)  # a second app in the same process gets its own blueprints
    assert plugin.apps == [app, second]
    with app.app_context():  # the fixture left `second` current; users belong to `app`
        people = crew(app)
    client = app.test_client()
    r = client.get("/api/v1/hooktest/ping", headers=people["viewer"].headers)
    assert r.status_code == 200 and r.json == {"pong": True, "user": "viewer@example.com"}
    assert client.get("/api/v1/hooktest/ping").status_code == 401  # plugin routes are authenticated too
    assert client.get("/hooktest-plain").json == {"plain": True}
    assert "/api/v1/hooktest/ping" in client.get("/api/v1/openapi.json").json["paths"]
    assert any(r.rule == "/api/v1/hooktest/ping" for r in second.url_map.iter_rules())


def test_aladdin_policy_files_load_after_defaults(hook_app, tmp_path):
    policy = tmp_path / "no_editor_create.polar"
    policy.write_text('denied(actor: User, "content:create", project: Project) if\n'
                      '    actor.role_in(project) = "editor";\n')

    class PolicyPlugin:
        __name__ = "policy-plugin"

        @hookimpl
        def aladdin_policy_files(self):
            return [policy]

    admin_dir = tmp_path / "admin"
    admin_dir.mkdir()
    (admin_dir / "site.polar").write_text("# an admin file\n")
    app = hook_app(PolicyPlugin(), policy_dir=admin_dir)
    files = [p.name for p in app.extensions["aladdin"].authz.files]
    # Core defaults first, then plugin files (built-ins' and ours) in plugin order, admin files last.
    assert files[:2] == ["roles.polar", "ownership.polar"] and files[-1] == "site.polar"
    assert "no_editor_create.polar" in files[2:-1]
    people = crew(app)
    client, url = app.test_client(), characters_url(people["project"])
    r = client.post(url, json={"content": {"name": "A"}}, headers=people["editor"].headers)
    assert r.status_code == 403 and "content:create" in r.json["message"]
    assert client.post(url, json={"content": {"name": "B"}}, headers=people["owner"].headers).status_code == 201
    assert client.get(url, headers=people["editor"].headers).json["total"] == 1


def test_aladdin_cli_commands_adds_a_command(monkeypatch):
    from core import cli as cli_mod

    @click.command("hook-hello")
    @click.argument("who")
    def hello(who):
        """Say hello (test plugin)."""
        click.echo(f"hello {who} from a plugin")

    class CliPlugin:
        __name__ = "cli-plugin"

        @hookimpl
        def aladdin_cli_commands(self):
            return [hello]

    real = plugins_mod.create_plugin_manager

    def with_plugin(disabled=(), **kwargs):
        return real(disabled, load_entry_points=False, extra=(CliPlugin(),))

    monkeypatch.setattr(plugins_mod, "create_plugin_manager", with_plugin)
    try:
        cli_mod._add_plugin_commands()
        result = CliRunner().invoke(cli_mod.cli, ["hook-hello", "Ada"])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "hello Ada from a plugin"
        assert "hook-hello" in CliRunner().invoke(cli_mod.cli, ["--help"]).output
    finally:
        cli_mod.cli.commands.pop("hook-hello", None)


def test_aladdin_socketio_registers_handlers(hook_app):
    seen = {}

    class SocketPlugin:
        __name__ = "socket-plugin"

        @hookimpl
        def aladdin_socketio(self, socketio, app):
            seen["socketio"], seen["app"] = socketio, app

            @socketio.on("ping", namespace="/hooktest")
            def ping(data):
                return {"pong": data["n"] + 1}

    app = hook_app(SocketPlugin())
    assert seen["app"] is app and seen["socketio"] is app.extensions["aladdin"].socketio
    # Flask-SocketIO's test client refuses a Redis message queue; the handler is what is under
    # test here, so this app's server gets an in-process manager before its first connection.
    import socketio as python_socketio

    server = seen["socketio"].server
    assert not server.manager_initialized
    server.manager = python_socketio.Manager()
    server.manager.set_server(server)
    client = seen["socketio"].test_client(app, namespace="/hooktest")
    assert client.is_connected("/hooktest")
    assert client.emit("ping", {"n": 41}, namespace="/hooktest", callback=True) == {"pong": 42}
    client.disconnect(namespace="/hooktest")


def test_aladdin_startup_runs_once_when_the_app_is_ready(hook_app):
    calls = []

    class StartupPlugin:
        __name__ = "startup-plugin"

        @hookimpl
        def aladdin_startup(self, app):
            ext = app.extensions["aladdin"]
            # Called last: everything else is bound already.
            calls.append((app, ext.socketio is not None, ext.authz is not None, "characters" in ext.content_types))
            app.extensions["startup-plugin"] = {"ready": True}

    app = hook_app(StartupPlugin())
    assert calls == [(app, True, True, True)]
    assert app.extensions["startup-plugin"] == {"ready": True}


def test_aladdin_relationship_types_widens_the_graph_whitelist(hook_app):
    class GraphPlugin:
        __name__ = "graph-plugin"

        @hookimpl
        def aladdin_relationship_types(self):
            return ["FORESHADOWS"]

    plain = hook_app()
    app = hook_app(GraphPlugin())
    graph = app.extensions["aladdin"].graph
    assert "FORESHADOWS" in graph.allowed_types
    a, b = NodeRef("scenes", "s1"), NodeRef("scenes", "s2")
    assert graph.add_relationships("hook-film", [Relationship(a, b, "FORESHADOWS")]) == 1
    assert Relationship(a, b, "FORESHADOWS") in graph.relationships_of("hook-film", [a])
    with pytest.raises(InvalidRelationshipType):
        graph.add_relationships("hook-film", [Relationship(a, b, "NOT_WHITELISTED")])
    assert "FORESHADOWS" not in plain.extensions["aladdin"].graph.allowed_types


PRESET = {"id": "festival-dcp-proxy", "width": 1998, "height": 1080, "videoBitrate": "8000k",
          "audioBitrate": "192k", "videoCodec": "libx264", "fps": 24, "container": "mp4"}


class PresetPlugin:
    __name__ = "preset-plugin"

    @hookimpl
    def aladdin_export_presets(self):
        return [dict(PRESET)]


def test_aladdin_export_presets_lists_a_plugin_preset(hook_app):
    app = hook_app(PresetPlugin())
    presets = [p for found in app.extensions["aladdin"].pm.hook.aladdin_export_presets() for p in found or ()]
    assert PRESET in presets
    # Through HTTP when the export plugin serves its presets route (it is written concurrently;
    # until it exists the hook-level assertion above is the proof).
    if any(r.rule == "/api/v1/export/presets" for r in app.url_map.iter_rules()):
        user = Actors(app).user("exporter@example.com")
        r = app.test_client().get("/api/v1/export/presets", headers=user.headers)
        assert r.status_code == 200, r.json
        body = r.json
        items = body.get("items", body.get("presets", [])) if isinstance(body, dict) else body
        listed = {p.get("id"): p for p in items}
        assert PRESET["id"] in listed
        assert {k: listed[PRESET["id"]][k] for k in ("width", "height", "videoBitrate", "container")} == \
            {k: PRESET[k] for k in ("width", "height", "videoBitrate", "container")}


# --- requests ------------------------------------------------------------------------------


class HeaderAuth:
    """Authenticates by ``X-Test-User: <email>``, ahead of bearer tokens."""

    __name__ = "header-auth"

    def __init__(self):
        self.calls = 0

    @hookimpl
    def aladdin_authenticate(self, app, request):
        self.calls += 1
        email = request.headers.get("X-Test-User")
        if not email:
            return None
        user = User.objects(email=email).first()
        if user is None:
            raise AuthenticationFailed(f"unknown test user {email}")
        return user


def test_aladdin_authenticate_plugs_in_ahead_of_bearer_tokens(hook_app):
    auth = HeaderAuth()
    app = hook_app(auth)
    people = crew(app)
    client, url = app.test_client(), characters_url(people["project"])
    r = client.get(url, headers={"X-Test-User": "viewer@example.com"})
    assert r.status_code == 200 and r.json["total"] == 0
    # firstresult: the header plugin answered, so the bearer check (which would 401) never ran.
    r = client.get(url, headers={"X-Test-User": "viewer@example.com", "Authorization": "Bearer nonsense"})
    assert r.status_code == 200
    created = client.post(url, json={"content": {"name": "X"}}, headers={"X-Test-User": "editor@example.com"})
    assert created.status_code == 201 and created.json["createdBy"] == str(people["editor"].id)
    # Without the header the plugin says None and the core's bearer tokens still work.
    assert client.get(url, headers=people["owner"].headers).status_code == 200
    assert client.get(url, headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert client.get(url).status_code == 401
    bad = client.get(url, headers={"X-Test-User": "ghost@example.com"})
    assert bad.status_code == 401 and "ghost@example.com" in bad.json["message"]
    assert auth.calls == 7


def test_aladdin_authenticate_firstresult_stops_at_first_answer(hook_app):
    class First:
        __name__ = "first-auth"
        called = 0

        @hookimpl(tryfirst=True)
        def aladdin_authenticate(self, app, request):
            self.called += 1
            return User.objects(email="owner@example.com").first()

    first, header = First(), HeaderAuth()
    app = hook_app(first, header)
    people = crew(app)
    r = app.test_client().get(characters_url(people["project"]), headers={"X-Test-User": "viewer@example.com"})
    assert r.status_code == 200
    assert first.called == 1 and header.calls == 0  # later implementations never ran
    from flask import request as flask_request

    with app.test_request_context("/api/v1/projects", headers={"X-Test-User": "viewer@example.com"}):
        assert app.extensions["aladdin"].pm.hook.aladdin_authenticate(app=app, request=flask_request).email == \
            "owner@example.com"


def test_aladdin_resolve_role_lets_a_plugin_grant_roles(hook_app):
    guests: set[str] = set()

    class GuestRoles:
        __name__ = "guest-roles"

        @hookimpl
        def aladdin_resolve_role(self, app, user_id, project_id):
            return "viewer" if user_id in guests else None  # None: ask the next (the core's memberships)

    app = hook_app(GuestRoles())
    people = crew(app)
    guest = Actors(app).user("guest@example.com")
    # Granted before any lookup (a role cache, such as the team plugin's, may remember answers).
    guests.add(str(guest.id))
    client, project = app.test_client(), people["project"]
    assert client.get(f"/api/v1/projects/{project.slug}", headers=people["outsider"].headers).status_code == 404
    assert client.get(f"/api/v1/projects/{project.slug}", headers=guest.headers).status_code == 200
    assert client.get(characters_url(project), headers=guest.headers).status_code == 200
    r = client.post(characters_url(project), json={"content": {}}, headers=guest.headers)
    assert r.status_code == 403 and "viewer" in r.json["message"]
    # Members the plugin does not know still get their membership role from the core.
    assert client.post(characters_url(project), json={"content": {}}, headers=people["editor"].headers).status_code == 201
    assert app.extensions["aladdin"].role_of(str(guest.id), str(project.id)) == "viewer"
    assert app.extensions["aladdin"].role_of(str(people["outsider"].id), str(project.id)) is None


# --- content lifecycle ---------------------------------------------------------------------


class Gatekeeper:
    """Stamps new characters with a slug; refuses a forbidden name, and deleting locked ones."""

    __name__ = "gatekeeper"

    def __init__(self):
        self.before = []
        self.after = []

    @hookimpl
    def aladdin_before_content_write(self, app, project, collection, action, document, previous, user):
        self.before.append((collection, action))
        if collection != "characters":
            return
        name = (document.get("content") or {}).get("name", "")
        if action in ("create", "update"):
            if name == "Voldemort":
                raise WriteRefused("that name must not be written", status=451)
            document.setdefault("content", {})["slug"] = name.lower().replace(" ", "-")
            document["content"]["stampedBy"] = user.email
        if action == "delete" and (previous or {}).get("content", {}).get("locked"):
            raise WriteRefused("locked characters cannot be deleted", status=423)

    @hookimpl
    def aladdin_after_content_write(self, app, project, collection, action, document, previous, user):
        self.after.append({"collection": collection, "action": action, "id": str(document["_id"]),
                           "version": document.get("version"),
                           "previousVersion": (previous or {}).get("version"), "user": user.email,
                           "project": project.slug})


def test_aladdin_before_content_write_mutates_the_document(hook_app):
    gate = Gatekeeper()
    app = hook_app(gate)
    people = crew(app)
    client, url, h = app.test_client(), characters_url(people["project"]), people["editor"].headers
    r = client.post(url, json={"content": {"name": "Ada Lovelace"}}, headers=h)
    assert r.status_code == 201
    assert r.json["content"] == {"name": "Ada Lovelace", "slug": "ada-lovelace", "stampedBy": "editor@example.com"}
    stored = client.get(url + "/" + r.json["id"], headers=h).json
    assert stored["content"]["slug"] == "ada-lovelace"
    r = client.patch(url + "/" + r.json["id"], json={"content": {"name": "Ada King"}}, headers=h)
    assert r.status_code == 200 and r.json["content"]["slug"] == "ada-king"


def test_aladdin_before_content_write_refusal_is_a_4xx_and_writes_nothing(hook_app):
    gate = Gatekeeper()
    app = hook_app(gate)
    people = crew(app)
    client, url, h = app.test_client(), characters_url(people["project"]), people["owner"].headers
    refused = client.post(url, json={"content": {"name": "Voldemort"}}, headers=h)
    assert refused.status_code == 451
    assert refused.json["message"] == "that name must not be written" and refused.json["code"] == 451
    assert client.get(url, headers=h).json["total"] == 0
    doc = client.post(url, json={"content": {"name": "Tom", "locked": True}}, headers=h).json
    r = client.patch(f"{url}/{doc['id']}", json={"content": {"name": "Voldemort"}}, headers=h)
    assert r.status_code == 451
    kept = client.get(f"{url}/{doc['id']}", headers=h).json
    assert kept["content"]["name"] == "Tom" and kept["version"] == 1
    r = client.delete(f"{url}/{doc['id']}", headers=h)
    assert r.status_code == 423 and "locked" in r.json["message"]
    assert client.get(f"{url}/{doc['id']}", headers=h).status_code == 200
    # The after hook only saw the one write that happened.
    assert [(a["action"], a["version"]) for a in gate.after] == [("create", 1)]
    assert gate.before == [("characters", "create"), ("characters", "create"),
                           ("characters", "update"), ("characters", "delete")]


def test_aladdin_after_content_write_sees_every_write(hook_app):
    gate = Gatekeeper()
    app = hook_app(gate)
    people = crew(app)
    client, url, h = app.test_client(), characters_url(people["project"]), people["editor"].headers
    doc = client.post(url, json={"content": {"name": "Ben"}}, headers=h).json
    client.patch(f"{url}/{doc['id']}", json={"content": {"age": 40}}, headers=h)
    assert client.delete(f"{url}/{doc['id']}", headers=h).status_code == 204
    assert gate.after == [
        {"collection": "characters", "action": "create", "id": doc["id"], "version": 1, "previousVersion": None,
         "user": "editor@example.com", "project": "hook-film"},
        {"collection": "characters", "action": "update", "id": doc["id"], "version": 2, "previousVersion": 1,
         "user": "editor@example.com", "project": "hook-film"},
        {"collection": "characters", "action": "delete", "id": doc["id"], "version": 2, "previousVersion": 2,
         "user": "editor@example.com", "project": "hook-film"},
    ]


def test_aladdin_before_project_delete_refusal_keeps_the_project(hook_app):
    calls = []

    class KeepArchived:
        __name__ = "keep-archived"

        @hookimpl
        def aladdin_before_project_delete(self, app, project, user):
            calls.append((project.slug, user.email))
            if "archive" in (project.description or "").lower():
                raise WriteRefused("archived projects are kept for the studio's records", status=409)

    app = hook_app(KeepArchived())
    people = crew(app)
    client, owner, project = app.test_client(), people["owner"], people["project"]
    client.post(characters_url(project), json={"content": {"name": "Kept"}}, headers=owner.headers)
    assert client.patch(f"/api/v1/projects/{project.slug}", json={"description": "Archive copy"},
                        headers=owner.headers).status_code == 200
    r = client.delete(f"/api/v1/projects/{project.slug}", headers=owner.headers)
    assert r.status_code == 409 and "archived" in r.json["message"]
    assert client.get(f"/api/v1/projects/{project.slug}", headers=owner.headers).status_code == 200
    assert client.get(characters_url(project), headers=owner.headers).json["total"] == 1
    assert "open_hook-film" in app.extensions["aladdin"].db.client.list_database_names()
    # Without the refusal the project goes.
    client.patch(f"/api/v1/projects/{project.slug}", json={"description": "live"}, headers=owner.headers)
    assert client.delete(f"/api/v1/projects/{project.slug}", headers=owner.headers).status_code in (200, 202, 204)
    assert client.get(f"/api/v1/projects/{project.slug}", headers=owner.headers).status_code == 404
    assert calls == [("hook-film", "owner@example.com")] * 2


# --- events --------------------------------------------------------------------------------


class EventSink:
    """A plugin recording every event it hears in ``events``."""

    __name__ = "sink"

    def __init__(self):
        self.events = []

    @hookimpl
    def aladdin_event(self, app, event):
        self.events.append(event)


def test_aladdin_event_receives_content_created_with_request_details(hook_app):
    sink = EventSink()
    events = sink.events
    app = hook_app(sink)
    people = crew(app)
    assert [e.name for e in events] == ["project.created", "member.added", "member.added"]
    events.clear()
    client = app.test_client()
    r = client.post(characters_url(people["project"]), json={"content": {"name": "Eve"}},
                    headers={**people["editor"].headers, "User-Agent": "storyboard-app/2.1",
                             "X-Forwarded-For": "203.0.113.7, 10.0.0.1"})
    assert r.status_code == 201
    created = [e for e in events if e.name == "content.created"]
    assert len(created) == 1
    event = created[0]
    assert event.actor_id == str(people["editor"].id)
    assert event.project_id == str(people["project"].id)
    assert (event.resource_type, event.resource_id) == ("characters", r.json["id"])
    # The client's own X-Forwarded-For is not believed: no proxies are trusted by default.
    assert event.ip == "127.0.0.1" and event.user_agent == "storyboard-app/2.1"
    assert event.details.get("version") == 1
    assert event.to_json()["name"] == "content.created"


def test_forwarded_for_is_believed_only_through_trusted_proxies(hook_app):
    sink = EventSink()
    events = sink.events
    app = hook_app(sink, trusted_proxies=2)
    people = crew(app)
    events.clear()
    r = app.test_client().post(characters_url(people["project"]), json={"content": {"name": "Eve"}},
                               headers={**people["editor"].headers,
                                        "X-Forwarded-For": "6.6.6.6, 203.0.113.7, 10.0.0.1"})
    assert r.status_code == 201
    # Two proxies appended the last two addresses; what the client wrote before them is ignored.
    assert [e.ip for e in events if e.name == "content.created"] == ["203.0.113.7"]


# --- clone (the clone plugin calls these) --------------------------------------------------


class CloneRules:
    __name__ = "clone-rules"

    def __init__(self):
        self.before = []

    @hookimpl
    def aladdin_clone_references(self, content_type):
        if content_type.name == "scenes":
            return [("content.mentorId", "characters"), "content.locationIds"]
        return []

    @hookimpl
    def aladdin_clone_drop_fields(self, content_type):
        return ["content.reviewNotes"] if content_type.name == "scenes" else []

    @hookimpl
    def aladdin_before_clone(self, app, source, target, plan, user):
        self.before.append((source, target, plan, user))
        if getattr(target, "slug", "").startswith("forbidden"):
            raise WriteRefused("clones into forbidden projects are refused", status=403)


def test_aladdin_clone_references_are_collected_per_type(hook_app):
    app = hook_app(CloneRules())
    hook = app.extensions["aladdin"].pm.hook
    scenes = app.extensions["aladdin"].content_types["scenes"]
    found = [p for extra in hook.aladdin_clone_references(content_type=scenes) for p in extra or ()]
    assert ("content.mentorId", "characters") in found and "content.locationIds" in found
    characters = app.extensions["aladdin"].content_types["characters"]
    assert ("content.mentorId", "characters") not in \
        [p for extra in hook.aladdin_clone_references(content_type=characters) for p in extra or ()]


def test_aladdin_clone_drop_fields_are_collected_per_type(hook_app):
    app = hook_app(CloneRules())
    hook = app.extensions["aladdin"].pm.hook
    scenes = app.extensions["aladdin"].content_types["scenes"]
    dropped = [p for extra in hook.aladdin_clone_drop_fields(content_type=scenes) for p in extra or ()]
    assert "content.reviewNotes" in dropped


def test_aladdin_before_clone_can_refuse(hook_app):
    rules = CloneRules()
    app = hook_app(rules)
    people = crew(app)
    hook = app.extensions["aladdin"].pm.hook
    source = people["project"]
    target = create_project(app, people["owner"], "Forbidden Copy", "forbidden-copy")
    with pytest.raises(WriteRefused) as info:
        hook.aladdin_before_clone(app=app, source=source, target=target, plan={"documents": 0},
                                  user=people["owner"])
    assert info.value.status == 403
    assert rules.before[-1][:2] == (source, target)
    ok = create_project(app, people["owner"], "Fine Copy", "fine-copy")
    assert hook.aladdin_before_clone(app=app, source=source, target=ok, plan={}, user=people["owner"]) == []


def test_clone_hooks_through_http(hook_app):
    """Through the clone plugin's route, when it exists: extra references are followed, dropped
    fields are gone from the copy, and a refusal in ``aladdin_before_clone`` copies nothing."""
    rules = CloneRules()
    app = hook_app(rules)
    if not has_route(app, "/api/v1/projects/<pid>/clone"):
        pytest.skip("the clone plugin serves no HTTP route yet; the hook-level tests above are the proof")
    people = crew(app)
    client, h, src = app.test_client(), people["owner"].headers, people["project"].slug
    mentor = client.post(f"/api/v1/projects/{src}/content/characters", json={"content": {"name": "Obi"}}, headers=h).json
    scene = client.post(f"/api/v1/projects/{src}/content/scenes",
                        json={"content": {"title": "Lesson", "mentorId": mentor["id"], "reviewNotes": "too long"}},
                        headers=h).json
    for slug in ("forbidden-copy", "fine-copy"):
        assert client.post("/api/v1/projects", json={"name": slug, "slug": slug}, headers=h).status_code == 201
    body = {"contentType": "scenes", "documentId": scene["id"]}
    refused = client.post(f"/api/v1/projects/{src}/clone", json={**body, "targetProjectId": "forbidden-copy"}, headers=h)
    assert refused.status_code == 403 and "forbidden" in refused.json["message"]
    for collection in ("scenes", "characters"):
        assert client.get(f"/api/v1/projects/forbidden-copy/content/{collection}", headers=h).json["total"] == 0
    done = client.post(f"/api/v1/projects/{src}/clone", json={**body, "targetProjectId": "fine-copy"}, headers=h)
    assert done.status_code == 201, done.json
    copy = client.get(f"/api/v1/projects/fine-copy/content/scenes/{done.json['newRootId']}", headers=h).json
    assert "reviewNotes" not in copy["content"] and copy["content"]["title"] == "Lesson"
    new_mentor = copy["content"]["mentorId"]
    assert new_mentor != mentor["id"]  # followed as a reference and rewritten to the copy's id
    copied = client.get(f"/api/v1/projects/fine-copy/content/characters/{new_mentor}", headers=h)
    assert copied.status_code == 200 and copied.json["content"]["name"] == "Obi"
    assert [r[1].slug for r in rules.before] == ["forbidden-copy", "fine-copy"]


# --- team (the team plugin calls this) -----------------------------------------------------


def test_aladdin_send_invitation_first_delivery_wins(hook_app):
    sent = []

    class Courier:
        __name__ = "courier"

        @hookimpl(tryfirst=True)
        def aladdin_send_invitation(self, app, invitation, accept_url):
            sent.append((invitation["email"], accept_url))
            return {"deliveredBy": "courier"}

    app = hook_app(Courier())
    invitation = {"email": "new@example.com", "role": "editor", "projectName": "Hook Film",
                  "invitedBy": "owner@example.com"}
    result = app.extensions["aladdin"].pm.hook.aladdin_send_invitation(
        app=app, invitation=invitation, accept_url="https://aladdin.test/api/v1/invitations/tok/accept")
    assert result == {"deliveredBy": "courier"}  # firstresult: one answer, not a list
    assert sent == [("new@example.com", "https://aladdin.test/api/v1/invitations/tok/accept")]
    # Through the team plugin's route, when it exists: our courier delivers, its default does not.
    if has_route(app, "/api/v1/projects/<pid>/team/invitations"):
        people = crew(app)
        r = app.test_client().post(f"/api/v1/projects/{people['project'].slug}/team/invitations",
                                   json={"email": "writer@example.com", "role": "editor"},
                                   headers=people["owner"].headers)
        assert r.status_code == 201, r.json
        assert r.json["delivery"] == {"delivered": True, "deliveredBy": "courier"}
        assert sent[-1] == ("writer@example.com", r.json["acceptUrl"])
