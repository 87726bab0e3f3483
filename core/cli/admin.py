"""``plugins list``, ``migrate`` and ``demo``: looking after an installation."""

from __future__ import annotations

import click

from .context import print_demo, with_app
from .group import cli


@cli.group("plugins")
def plugins_group():
    """Installed plugins."""


@plugins_group.command("list")
def plugins_list():
    """Each plugin's name, version and hooks."""
    from ..plugins import create_plugin_manager, describe_plugins
    from ..settings import Settings

    pm = create_plugin_manager(Settings.from_env().disabled_plugins)
    for info in describe_plugins(pm):
        kind = "built-in" if info["builtin"] else "third-party"
        click.echo(f"{info['name']} {info['version']} ({kind}, {info['module']})")
        click.echo("    hooks: " + ", ".join(info["hooks"]))


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


