"""``policy check`` and ``policy explain``: what admins use to trust their rules."""

from __future__ import annotations

import functools
import sys

import click

from .context import exit_on_policy_problems, report_plugin_problems, with_app
from .group import cli


@cli.group()
def policy():
    """Oso policies: check files, explain decisions."""


@policy.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def policy_check(directory):
    """Load the default, plugin and admin policy files and compile every read rule for lists;
    exit 1 naming the file and line of each problem."""
    from ..app import check_plugins, policy_problem
    from ..authz import Authorizer, PolicyError, policy_origins
    from ..authz.problems import load_problem
    from ..content import is_sensitive
    from ..plugins import create_plugin_manager
    from ..settings import Settings

    settings = Settings.from_env()
    plugin_problems: list = []  # a broken plugin is named and left out; the others' rules are checked
    pm = create_plugin_manager(settings.disabled_plugins, problems=plugin_problems)
    content_types, plugin_policies = check_plugins(settings, pm, plugin_problems)
    origins = {}
    try:
        origins = policy_origins(plugin_policies, directory or settings.policy_dir)
        authz = Authorizer(origins, lambda user_id, project_id: None,
                           sensitive=functools.partial(is_sensitive, content_types))
        problems = authz.check_reads(sorted(content_types))
    except PolicyError as exc:
        named = policy_problem(exc, origins)
        problem = load_problem(str(exc), origins)
        problems = [str(problem) if named is None
                    else f"{named.where}: {problem.why} (plugin {named.plugin!r}; {named.hint})"]
    report_plugin_problems(plugin_problems)
    exit_on_policy_problems(problems)
    for path, origin in origins.items():
        click.echo(f"ok {path} ({origin})")
    click.echo(f"{len(origins)} policy files load cleanly; content:view rules compile for "
               f"{len(content_types)} collections")
    if plugin_problems:
        sys.exit(1)  # the files load, but the app would not start



@policy.command("explain")
@click.argument("email")
@click.argument("action")
@click.argument("target")
@with_app
def policy_explain(app, email, action, target):
    """Why EMAIL may or may not ACTION on TARGET (PROJECT or PROJECT/COLLECTION/ID)."""
    from ..authz import PERMISSIONS
    from ..models import User
    from ..content import SYSTEM
    from ..projects import find_project

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


