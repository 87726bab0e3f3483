"""``store import-litemongo``: the one-time move of an installation made before the document server."""

from __future__ import annotations

from pathlib import Path

import click

from .context import with_app
from .group import cli


@cli.group("store")
def store_group():
    """The installation's document store."""


@store_group.command("import-litemongo")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@with_app
def import_litemongo_command(app, path):
    """Copy the litemongo data under PATH (default: $ALADDIN_DATA_DIR/mongo) into the document
    server, once: every database, collection and index, each count verified. The old files are
    kept; remove them yourself when you are satisfied."""
    from ..store_import import ImportRefused, import_litemongo, legacy_path

    ext = app.extensions["aladdin"]
    path = path or legacy_path(ext.settings.data_dir)
    total = 0
    try:
        for database, collection, count in import_litemongo(path, ext.db.client):
            click.echo(f"copied {count:>8}  {database}.{collection}")
            total += count
    except ImportRefused as exc:
        raise click.ClickException(str(exc))
    click.echo(f"{total} documents copied and counted; the old files stay at {path} until you remove them")
