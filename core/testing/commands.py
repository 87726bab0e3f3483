"""A click runner bound to one test app: ``aladdin`` commands (and the app's plugins' commands)
run against that app and its installation, as ``python cli.py ...`` would against a server's."""

from __future__ import annotations

from typing import Any, Sequence

import click
from click.testing import CliRunner, Result

from .stores import settings_env


class AppCliRunner(CliRunner):
    """Like Flask's ``app.test_cli_runner()``: :meth:`invoke` runs the ``aladdin`` group with the
    app's plugin commands added, inside ``app`` (what ``get_app()``/``with_app`` return) and with
    the app's ``ALADDIN_*`` environment (for commands that read only the environment)."""

    def __init__(self, app, **kwargs: Any):
        env = settings_env(app.extensions["aladdin"].settings)
        env.update(kwargs.pop("env", None) or {})
        super().__init__(env=env, **kwargs)
        self.app = app

    def command_group(self) -> click.Group:
        """A copy of the ``aladdin`` group holding the app's plugins' commands too (the shared
        group is left as it is, so apps with other plugins in the same process never mix)."""
        from ..cli import cli
        from ..plugins import plugin_cli_commands

        group = click.Group(name=cli.name, commands=dict(cli.commands), callback=cli.callback,
                            params=list(cli.params), help=cli.help)
        commands, errors = plugin_cli_commands(self.app.extensions["aladdin"].pm)
        if errors:
            raise errors[0]
        for command in commands:
            group.add_command(command)
        return group

    def invoke(self, args: Sequence[str] | str | None = None, cli: click.Command | None = None,
               *, code: int | None = 0, **kwargs: Any) -> Result:
        """Run ``aladdin <args>``; fails unless it exits with ``code`` (``None``: any code).

        Exceptions propagate (``catch_exceptions=False`` by default): a test sees the traceback
        of a crash rather than an exit code of 1."""
        from ..cli import context

        kwargs.setdefault("catch_exceptions", False)
        previous, context._app = context._app, self.app
        try:
            result = super().invoke(cli or self.command_group(), args, **kwargs)
        finally:
            context._app = previous
        if code is not None and result.exit_code != code:
            raise AssertionError(f"aladdin {args!r} exited {result.exit_code}, not {code}:\n{result.output}")
        return result
