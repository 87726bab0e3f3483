"""The ``aladdin`` / ``python cli.py`` command line: a thin click layer over the core and plugins."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys

import click

_app = None


def get_app():
    """The app for this command, built once from the environment (commands share it)."""
    global _app
    if _app is None:
        from .app import create_app

        _app = create_app()
    return _app


def with_app(fn):
    """Run the command inside the app context; user errors print cleanly and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .errors import AladdinError

        app = get_app()
        with app.app_context():
            try:
                return fn(app, *args, **kwargs)
            except AladdinError as exc:
                raise click.ClickException(exc.message)

    return wrapper


@click.group()
@click.version_option(package_name="aladdin")
def cli():
    """Aladdin: collaborative film-production content. Settings come from ALADDIN_* variables."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Seed the demo project first (if missing) and print its tokens.")
@click.option("--no-worker", is_flag=True, help="Do not start an RQ worker beside the server.")
def serve(host, port, demo, no_worker):
    """Serve the REST API and Socket.IO on one port (embedded mode also runs a worker)."""
    app = get_app()
    ext = app.extensions["aladdin"]
    # A read rule lists cannot apply would fail every list of its collection: refuse to start
    # instead, naming the rule (`policy check` says the same).
    problems = ext.authz.check_reads(sorted(ext.content_types))
    if problems:
        for problem in problems:
            click.echo(f"policy error: {problem}", err=True)
        sys.exit(1)
    if port == 0:  # "any free port": choose it now, so every URL printed or handed out names it
        import socket

        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host.strip("[]"), 0))
            port = probe.getsockname()[1]
    from .urls import public_base, record_server_url, server_url

    listen = server_url(host, port)
    record_server_url(ext.settings, listen)
    base = public_base(app)
    if demo:
        from .demo import seed_demo

        with app.app_context():
            info = seed_demo(app, base)
        _print_demo(info)
    if ext.settings.embedded_redis and not no_worker:
        from .jobs import spawn_worker

        ext.worker_process = spawn_worker()
    click.echo(f"Aladdin {listen}  API docs: {base}/api/v1/docs  OpenAPI: {base}/api/v1/openapi.json")
    if base != listen:
        click.echo(f"public URL (ALADDIN_PUBLIC_URL): {base}")
    # Process managers stop services with SIGTERM: exit through `finally` (and atexit, which stops
    # the embedded Redis) instead of dying on the spot and orphaning the worker and Redis.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        ext.socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True, use_reloader=False)
    finally:
        if ext.worker_process:
            ext.worker_process.terminate()  # RQ's warm shutdown: the running job finishes first
            try:
                ext.worker_process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                ext.worker_process.kill()


@cli.command()
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
@click.option("--queue", "queues", multiple=True, help="Queue names (default: aladdin).")
def worker(burst, queues):
    """Run an RQ worker for exports, large clones and scheduled cleanups."""
    from .worker import run_worker

    run_worker(get_app(), list(queues) or None, burst=burst)


@cli.group()
def users():
    """Users and API tokens."""


@users.command("create")
@click.argument("email")
@click.option("--name", default=None)
@with_app
def users_create(app, email, name):
    """Create a user (or a new token for an existing one); prints the token alone on the last line."""
    from .models import ApiToken, User

    email = email.strip().lower()
    user = User.objects(email=email).first()
    if user is None:
        user = User(email=email, name=name or email.split("@")[0])
        try:
            user.validate()
        except Exception:
            raise click.BadParameter(f"{email!r} is not a valid email address")
        user.save()
        click.echo(f"created user {email} ({user.id})")
    else:
        click.echo(f"user {email} exists ({user.id}); issued a new token")
    token = ApiToken.issue(user)
    click.echo("API token (shown once):")
    click.echo(token)


@users.command("revoke-tokens")
@click.argument("email")
@click.option("--name", default=None, help="Only the tokens issued under this name.")
@with_app
def users_revoke_tokens(app, email, name):
    """Revoke EMAIL's API tokens; every running process refuses them on its next request."""
    from .models import ApiToken, User

    user = User.objects(email=email.strip().lower()).first()
    if user is None:
        raise click.ClickException(f"no user {email}")
    count = ApiToken.revoke(user, name)
    click.echo(f"revoked {count} token{'s' if count != 1 else ''} of {user.email}")


@cli.group()
def projects():
    """Projects and members."""


@projects.command("create")
@click.argument("name")
@click.option("--owner", "owner_email", required=True, help="Owner's email.")
@click.option("--slug", default=None)
@with_app
def projects_create(app, name, owner_email, slug):
    """Create a project owned by an existing user."""
    from .models import User
    from .projects import create_project

    owner = User.objects(email=owner_email.lower()).first()
    if owner is None:
        raise click.ClickException(f"no user {owner_email}; create it with `users create`")
    project = create_project(app, owner, name, slug)
    click.echo(f"created project {project.slug} ({project.id}) database {project.database_name}")


@projects.command("add-member")
@click.argument("project")
@click.argument("email")
@click.argument("role", type=click.Choice(["editor", "collaborator", "viewer"]))
@with_app
def projects_add_member(app, project, email, role):
    """Add an existing user to PROJECT (slug or id) with ROLE."""
    from .models import User
    from .projects import add_member, find_project

    user = User.objects(email=email.lower()).first()
    if user is None:
        raise click.ClickException(f"no user {email}")
    add_member(app, find_project(project), user, role)
    click.echo(f"{email} is now {role} of {project}")


@cli.group("plugins")
def plugins_group():
    """Installed plugins."""


@plugins_group.command("list")
def plugins_list():
    """Each plugin's name, version and hooks."""
    from .plugins import create_plugin_manager, describe_plugins
    from .settings import Settings

    pm = create_plugin_manager(Settings.from_env().disabled_plugins)
    for info in describe_plugins(pm):
        kind = "built-in" if info["builtin"] else "third-party"
        click.echo(f"{info['name']} {info['version']} ({kind}, {info['module']})")
        click.echo("    hooks: " + ", ".join(info["hooks"]))


@cli.group()
def policy():
    """Oso policies: check files, explain decisions."""


@policy.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def policy_check(directory):
    """Load the default, plugin and admin policy files and compile every read rule for lists;
    exit 1 naming the file and line of each problem."""
    from .authz import Authorizer, PolicyError, plugin_policy_origins, policy_origins
    from .plugins import create_plugin_manager
    from .settings import Settings

    settings = Settings.from_env()
    pm = create_plugin_manager(settings.disabled_plugins)
    content_types = {ctype.name: ctype for types in pm.hook.aladdin_content_types() for ctype in (types or ())}

    def sensitive(collection, path):
        fields = content_types[collection].sensitive_fields if collection in content_types else ()
        return any(path == f or path.startswith(f + ".") or f.startswith(path + ".") for f in fields)

    try:
        origins = policy_origins(plugin_policy_origins(pm), directory or settings.policy_dir)
        authz = Authorizer(origins, lambda user_id, project_id: None, sensitive=sensitive)
        problems = authz.check_reads(sorted(content_types))
    except PolicyError as exc:
        click.echo(f"policy error: {exc}", err=True)
        sys.exit(1)
    for problem in problems:
        click.echo(f"policy error: {problem}", err=True)
    if problems:
        sys.exit(1)
    for path, origin in origins.items():
        click.echo(f"ok {path} ({origin})")
    click.echo(f"{len(origins)} policy files load cleanly; content:view rules compile for "
               f"{len(content_types)} collections")


@policy.command("explain")
@click.argument("email")
@click.argument("action")
@click.argument("target")
@with_app
def policy_explain(app, email, action, target):
    """Why EMAIL may or may not ACTION on TARGET (PROJECT or PROJECT/COLLECTION/ID)."""
    from .authz import PERMISSIONS
    from .models import User
    from .content import SYSTEM
    from .projects import find_project

    import re

    # Plugins' policies may define actions of their own (team:transfer, audit:view, ...).
    if not re.fullmatch(r"[a-z_]+:[a-z_]+", action):
        raise click.ClickException(f"action must look like 'area:verb', e.g. one of {', '.join(PERMISSIONS)}")
    if action not in PERMISSIONS:
        click.echo(f"note: {action!r} is not a core permission; a plugin or admin policy must define it")
    user = User.objects(email=email.lower()).first()
    if user is None:
        raise click.ClickException(f"no user {email}")
    parts = target.split("/")
    project = find_project(parts[0])
    collection = document = None
    if len(parts) == 3:
        collection = parts[1]
        document = app.extensions["aladdin"].content.get(project, collection, parts[2], reader=SYSTEM)
    elif len(parts) != 1:
        raise click.ClickException("TARGET is PROJECT or PROJECT/COLLECTION/ID")
    allowed, reason = app.extensions["aladdin"].authz.explain(user, action, project, collection, document)
    click.echo(("allowed: " if allowed else "denied: ") + reason)
    sys.exit(0 if allowed else 2)


@cli.command()
@click.option("--status", "show_status", is_flag=True, help="List migrations and where they are applied.")
@with_app
def migrate(app, show_status):
    """Apply pending migrations to the platform database and every project database."""
    from .migrations_runner import migrate as run, status

    if show_status:
        for row in status(app):
            click.echo(f"{'applied' if row['applied'] else 'pending'}  {row['migration']}  {row['database']}")
        return
    done = run(app)
    for name, database in done:
        click.echo(f"applied {name} to {database}")
    click.echo(f"{len(done)} migrations applied")


@cli.command()
@click.option("--base-url", default=None, help="Default: ALADDIN_PUBLIC_URL, else where serve listens.")
@with_app
def demo(app, base_url):
    """Seed two users and a demo project with content and three generated scene videos."""
    from .demo import seed_demo
    from .urls import public_base

    base_url = base_url or public_base(app)

    _print_demo(seed_demo(app, base_url))


def _print_demo(info: dict) -> None:
    click.echo(f"demo project {info['project']['slug']} ({info['project']['id']})")
    for user in info["users"]:
        click.echo(f"  {user['role']:<7} {user['email']:<24} token {user['token']}")
    click.echo(f"  try: curl -H 'Authorization: Bearer {info['users'][0]['token']}' "
               f"{info['baseUrl']}/api/v1/projects/{info['project']['slug']}/content/scenes")
    click.echo(f"  API docs: {info['baseUrl']}/api/v1/docs")


def _add_plugin_commands() -> None:
    """Plugins add commands through ``aladdin_cli_commands`` (built before any app)."""
    from .plugins import create_plugin_manager
    from .settings import PREFIX

    disabled = {p.strip() for p in os.environ.get(PREFIX + "DISABLED_PLUGINS", "").split(",") if p.strip()}
    try:
        pm = create_plugin_manager(disabled)
    except Exception as exc:  # still let operators run `plugins list` etc. to diagnose
        click.echo(f"warning: {exc}", err=True)
        return
    for commands in pm.hook.aladdin_cli_commands():
        for command in commands or ():
            cli.add_command(command)


def main() -> None:
    _add_plugin_commands()
    cli()
