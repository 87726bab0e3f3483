"""``plugins list``, ``migrate`` and ``demo``: looking after an installation."""

from __future__ import annotations

import sys

import click

from .context import print_demo, report_plugin_problems, with_app
from .group import cli


@cli.group("plugins")
def plugins_group():
    """Installed plugins."""


@plugins_group.command("list")
def plugins_list():
    """Each plugin's name, version, hooks, contained failures and start-up problems; exit 1 when
    a plugin would stop the app from starting (the others are still listed)."""
    from ..app import check_plugins
    from ..plugins import create_plugin_manager, describe_plugins
    from ..settings import Settings

    settings = Settings.from_env()
    problems: list = []
    pm = create_plugin_manager(settings.disabled_plugins, problems=problems)
    check_plugins(settings, pm, problems)
    failures = installation_failures(settings)
    by_plugin: dict[str, list] = {}
    for problem in problems:
        by_plugin.setdefault(problem.plugin, []).append(problem)
    listed = describe_plugins(pm)
    for info in listed:
        kind = "built-in" if info["builtin"] else "third-party"
        broken = " BROKEN" if info["name"] in by_plugin else ""
        click.echo(f"{info['name']} {info['version']} ({kind}, {info['module']}){broken}")
        click.echo("    hooks: " + ", ".join(info["hooks"]))
        if failures.get(info["name"]):
            click.echo(f"    failures: {failures[info['name']]} (hook exceptions contained; see the log)")
    names = {info["name"] for info in listed}
    for name in sorted(set(by_plugin) - names):
        click.echo(f"{name} (BROKEN, not loaded)")
    if problems:
        report_plugin_problems(problems)
        click.echo(f"{len(problems)} plugin problem{'s' if len(problems) != 1 else ''}: the app will not "
                   f"start until each is fixed or its plugin disabled", err=True)
        sys.exit(1)


def installation_failures(settings) -> dict[str, int]:
    """Plugin failure counts of the installation's processes, from its Redis if one is running
    (a listing never starts the embedded server just to read them)."""
    import redis

    from ..embedded_redis import EmbeddedRedis
    from ..plugins import PluginFailures, failures_key

    if settings.redis_url:
        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    else:
        embedded = EmbeddedRedis(settings.data_dir)
        if embedded.pid() is None:
            return {}
        client = redis.Redis(unix_socket_path=str(embedded.socket), socket_connect_timeout=2, socket_timeout=2)
    try:
        return PluginFailures(client, failures_key(settings.platform_db)).counts()
    finally:
        client.close()


@cli.command()
@click.option("--status", "show_status", is_flag=True, help="List migrations and where they are applied.")
@with_app
def migrate(app, show_status):
    """Apply pending migrations to the platform database and every project database."""
    from ..migrations_runner import migrate as run, status

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
    from ..demo import seed_demo
    from ..urls import public_base

    base_url = base_url or public_base(app)

    print_demo(seed_demo(app, base_url))


