"""The ``aladdin`` / ``python cli.py`` command line: a thin click layer over the core and plugins."""

from __future__ import annotations

import functools
import os
import signal
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
                raise click.ClickException(exc.describe())

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
@click.option("--migrate", "apply_migrations", is_flag=True,
              help="Apply pending migrations at start on a MongoDB server too (embedded stores always do).")
def serve(host, port, demo, no_worker, apply_migrations):
    """Serve the REST API and Socket.IO on one port (embedded mode also runs a worker)."""
    from . import __version__
    from .serving import listen_or_exit, migrate_at_start

    app = get_app()
    ext = app.extensions["aladdin"]
    # A read rule lists cannot apply would fail every list of its collection: refuse to start
    # instead, naming the rule (`policy check` says the same).
    _exit_on_policy_problems(ext.authz.check_reads(sorted(ext.content_types)))
    server = listen_or_exit(app, host, port)  # bound first: `--port 0` has its real port now
    supervisor = None
    # Process managers stop services with SIGTERM: leave through `finally` like Ctrl-C does, so
    # the worker and (for the last process of the installation) the embedded Redis stop too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        with app.app_context():
            migrate_at_start(app, apply_migrations)
        from .urls import public_base, record_server_url, server_url

        listen = server_url(host, server.port)
        record_server_url(ext.settings, listen)  # every process of the installation hands out this
        base = public_base(app)
        if demo:
            from .demo import seed_demo

            with app.app_context():
                _print_demo(seed_demo(app, base))
        if ext.settings.embedded_redis and not no_worker:
            from .jobs import WorkerSupervisor

            supervisor = ext.worker_process = WorkerSupervisor().start()
        # One line, and the honest one: this is Werkzeug's threaded server (Werkzeug's own
        # "development server" warning is not printed because its run_simple is not used).
        click.echo(f"Aladdin {__version__} serving {listen}  API docs: {base}/api/v1/docs  "
                   f"(built-in threaded server; for production see README, Deploying; Ctrl-C stops)")
        if base != listen:
            click.echo(f"public URL (ALADDIN_PUBLIC_URL): {base}")
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if supervisor is not None:
            supervisor.stop()
        ext.close()


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


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
@with_app
def users_list(app, as_json):
    """Every user with their live token count and project count."""
    from collections import Counter

    from .models import ApiToken, Membership, User

    tokens = Counter(str(t.user.id) for t in ApiToken.objects(revoked=False).only("user").no_dereference())
    projects_of = Counter(m.userId for m in Membership.objects.only("userId"))
    rows = [{**user.to_json(), "tokens": tokens[str(user.id)], "projects": projects_of[str(user.id)]}
            for user in User.objects.order_by("email")]
    _print_rows(rows, as_json, [("email", "EMAIL"), ("name", "NAME"), ("projects", "PROJECTS"),
                                ("tokens", "TOKENS"), ("id", "ID")], empty="no users yet; add one with `users create EMAIL`")


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


@projects.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
@with_app
def projects_list(app, as_json):
    """Every project with its owner and member count."""
    from collections import Counter

    from .models import Membership, Project, User

    members = Counter(m.projectId for m in Membership.objects.only("projectId"))
    emails = {str(u.id): u.email for u in User.objects.only("email")}
    rows = [{**project.to_json(), "owner": emails.get(project.ownerId, project.ownerId),
             "members": members[str(project.id)]} for project in Project.objects.order_by("slug")]
    _print_rows(rows, as_json, [("slug", "SLUG"), ("name", "NAME"), ("owner", "OWNER"), ("members", "MEMBERS"),
                                ("id", "ID")], empty="no projects yet; add one with `projects create NAME --owner EMAIL`")


def _print_rows(rows: list[dict], as_json: bool, columns: list[tuple[str, str]], empty: str) -> None:
    """A table with aligned columns (headers first), or the rows as JSON for scripts."""
    import json

    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo(empty)
        return
    cells = [[header for _, header in columns]] + [["" if row.get(key) is None else str(row[key]) for key, _ in columns]
                                                    for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


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
    from .content import is_sensitive
    from .plugins import create_plugin_manager
    from .settings import Settings

    settings = Settings.from_env()
    pm = create_plugin_manager(settings.disabled_plugins)
    content_types = {ctype.name: ctype for types in pm.hook.aladdin_content_types() for ctype in (types or ())}
    try:
        origins = policy_origins(plugin_policy_origins(pm), directory or settings.policy_dir)
        authz = Authorizer(origins, lambda user_id, project_id: None,
                           sensitive=functools.partial(is_sensitive, content_types))
        problems = authz.check_reads(sorted(content_types))
    except PolicyError as exc:
        problems = [str(exc)]
    _exit_on_policy_problems(problems)
    for path, origin in origins.items():
        click.echo(f"ok {path} ({origin})")
    click.echo(f"{len(origins)} policy files load cleanly; content:view rules compile for "
               f"{len(content_types)} collections")


def _exit_on_policy_problems(problems: list[str]) -> None:
    """Print each policy problem (file and line) and exit 1; nothing when there are none."""
    for problem in problems:
        click.echo(f"policy error: {problem}", err=True)
    if problems:
        sys.exit(1)


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
        rows = status(app)
        for row in rows:
            click.echo(f"{'applied' if row['applied'] else 'pending'}  {row['migration']}  {row['database']}")
        pending = sum(not row["applied"] for row in rows)
        click.echo(f"{pending} pending; run `aladdin migrate` to apply them" if pending else "all migrations applied")
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
    from .demo import demo_lines

    click.echo("\n".join(demo_lines(info)))


def _add_plugin_commands() -> None:
    """Plugins add commands through ``aladdin_cli_commands`` (built before any app)."""
    from .plugins import create_plugin_manager, plugin_cli_commands
    from .settings import PREFIX

    disabled = {p.strip() for p in os.environ.get(PREFIX + "DISABLED_PLUGINS", "").split(",") if p.strip()}
    try:
        pm = create_plugin_manager(disabled)
    except Exception as exc:  # still let operators run `plugins list` etc. to diagnose
        click.echo(f"warning: {exc}", err=True)
        return
    commands, errors = plugin_cli_commands(pm)
    for error in errors:
        click.echo(f"warning: {type(error).__name__}: {error}", err=True)
    for command in commands:
        cli.add_command(command)


def main() -> None:
    _add_plugin_commands()
    cli()
