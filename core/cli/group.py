"""The root ``aladdin`` command group; the command modules attach to it."""

from __future__ import annotations

import click

from . import context


@click.group()
@click.version_option(package_name="aladdin")
@click.option("--debug", is_flag=True, help="Print the traceback of each start-up problem (one line each otherwise).")
def cli(debug):
    """Aladdin: collaborative film-production content. Settings come from ALADDIN_* variables."""
    context.debug = debug
