"""The ``aladdin`` / ``python cli.py`` command line: a thin click layer over the core and plugins.

One module per family of commands (``serving``, ``accounts``, ``policies``, ``admin``, ``store``), all on
the group in ``group``; ``context`` holds what they share. Plugins add commands through the
``aladdin_cli_commands`` hook, and may use :func:`with_app` / :func:`get_app` from here."""

from __future__ import annotations

import os

import click

from . import accounts, admin, policies, serving, store  # noqa: F401  (each attaches its commands)
from .context import get_app, with_app
from .group import cli

__all__ = ["cli", "get_app", "main", "with_app"]


def _add_plugin_commands() -> None:
    """Plugins add commands through ``aladdin_cli_commands`` (built before any app)."""
    from ..plugins import create_plugin_manager, plugin_cli_commands
    from ..settings import PREFIX

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
