"""The ``aladdin`` / ``python cli.py`` command line: a thin click layer over the core and plugins.

One module per family of commands (``serving``, ``accounts``, ``policies``, ``admin``, ``store``), all on
the group in ``group``; ``context`` holds what they share. Plugins add commands through the
``aladdin_cli_commands`` hook, and may use :func:`with_app` / :func:`get_app` from here."""

from __future__ import annotations

import os
import sys

import click

from . import accounts, admin, context, policies, serving, store  # noqa: F401  (each attaches its commands)
from .context import get_app, with_app
from .group import cli

__all__ = ["cli", "get_app", "main", "with_app"]


def _add_plugin_commands() -> None:
    """Plugins add commands through ``aladdin_cli_commands`` (built before any app)."""
    from ..plugins import create_plugin_manager, plugin_cli_commands
    from ..settings import PREFIX

    disabled = {p.strip() for p in os.environ.get(PREFIX + "DISABLED_PLUGINS", "").split(",") if p.strip()}
    # Broken plugins are left out here; the command that needs them (serve, any app command, `plugins
    # list`, `policy check`) says what is wrong, once. The command line itself always starts.
    pm = create_plugin_manager(disabled, problems=[])
    commands, errors = plugin_cli_commands(pm)
    context.debug = "--debug" in sys.argv[1:]
    context.report_plugin_problems([problem for error in errors for problem in error.problems], "warning")
    for command in commands:
        cli.add_command(command)


def main() -> None:
    from ..settings import SettingsError

    try:
        _add_plugin_commands()
        cli()
    except SettingsError as exc:  # any command: a setting that cannot work is one line, not a traceback
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
