"""The root ``aladdin`` command group; the command modules attach to it."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="aladdin")
def cli():
    """Aladdin: collaborative film-production content. Settings come from ALADDIN_* variables."""
