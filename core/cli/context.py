"""What every command shares: the one app a command line run builds, and how output and
errors look (tables or JSON, policy problems with file and line, the demo's tokens)."""

from __future__ import annotations

import functools
import logging
import sys

import click

_app = None
#: ``aladdin --debug``: start-up problems print their tracebacks too.
debug = False
log = logging.getLogger("aladdin.cli")


def get_app():
    """The app for this command, built once from the environment (commands share it)."""
    global _app
    if _app is None:
        from ..app import create_app
        from ..authz import PolicyError
        from ..plugin_problems import PluginStartupError

        try:
            _app = create_app()
        except PluginStartupError as exc:  # PluginLoadError and misspelt hooks too
            report_plugin_problems(exc.problems)
            sys.exit(1)
        except PolicyError as exc:  # an admin's file that does not load: one line, as `policy check` says it
            exit_on_policy_problems([admin_load_problem(exc)])
    return _app


def admin_load_problem(exc: Exception) -> str:
    """A policy file that does not load, as ``policy check`` prints it (file:line (origin), ...)."""
    from ..authz import PolicyError, policy_origins
    from ..authz.problems import load_problem
    from ..settings import Settings

    try:
        origins = policy_origins((), Settings.from_env().policy_dir)
    except PolicyError:
        origins = {}
    return str(load_problem(str(exc), origins))


def report_plugin_problems(problems: list, label: str = "error") -> None:
    """One line per plugin problem (plugin, file:line, what to do); the traceback goes to the
    log, and to stderr with ``--debug``."""
    for problem in problems:
        click.echo(f"{label}: {problem}", err=True)
        if problem.traceback:
            log.debug("%s: %s\n%s", label, problem, problem.traceback)
            if debug:
                click.echo(problem.traceback.rstrip(), err=True)


def with_app(fn):
    """Run the command inside the app context; user errors print cleanly and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from ..errors import AladdinError

        app = get_app()
        with app.app_context():
            try:
                return fn(app, *args, **kwargs)
            except AladdinError as exc:
                raise click.ClickException(exc.describe())

    return wrapper



def print_rows(rows: list[dict], as_json: bool, columns: list[tuple[str, str]], empty: str) -> None:
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



def exit_on_policy_problems(problems: list[str]) -> None:
    """Print each policy problem (file and line) and exit 1; nothing when there are none."""
    for problem in problems:
        click.echo(f"policy error: {problem}", err=True)
    if problems:
        sys.exit(1)



def print_demo(info: dict) -> None:
    from ..demo import demo_lines

    click.echo("\n".join(demo_lines(info)))

