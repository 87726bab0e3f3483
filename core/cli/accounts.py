"""``users`` and ``projects``: accounts, tokens, projects and their members."""

from __future__ import annotations

import click

from .context import print_rows, with_app
from .group import cli


@cli.group()
def users():
    """Users and API tokens."""


@users.command("create")
@click.argument("email")
@click.option("--name", default=None)
@with_app
def users_create(app, email, name):
    """Create a user (or a new token for an existing one); prints the token alone on the last line."""
    from ..models import ApiToken, User

    email = email.strip().lower()
    user = User.objects(email=email).first()
    if user is None:
        user = User(email=email, name=name or email.split("@")[0])
        try:
            user.validate()
        except Exception:
            raise click.BadParameter(f"{email!r} is not a valid email address")
        user.save()
        click.echo(f"created user {email} ({user.id})")
    else:
        click.echo(f"user {email} exists ({user.id}); issued a new token")
    token = ApiToken.issue(user)
    click.echo("API token (shown once):")
    click.echo(token)


@users.command("set-password")
@click.argument("email")
@click.password_option(prompt="New password", help="Prompted (hidden, twice) when not given; '-' reads one line from stdin.")
@with_app
def users_set_password(app, email, password):
    """Set a user's sign-in password (POST /api/v1/auth/login); their sessions end."""
    import sys

    from ..errors import AladdinError
    from ..models import User
    from ..sessions import set_password

    user = User.by_email(email)
    if user is None:
        raise click.BadParameter(f"no user has the email {email!r}; create one with `users create`")
    if password == "-":
        password = sys.stdin.readline().rstrip("\n")
    try:
        set_password(user, password)
    except AladdinError as exc:
        raise click.BadParameter(str(exc), param_hint="password")
    click.echo(f"password set for {user.email}; their earlier sign-in sessions ended")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
@with_app
def users_list(app, as_json):
    """Every user with their live token count and project count."""
    from collections import Counter

    from ..models import ApiToken, Membership, User

    tokens = Counter(str(t.user.id) for t in ApiToken.objects(revoked=False).only("user").no_dereference())
    projects_of = Counter(m.userId for m in Membership.objects.only("userId"))
    rows = [{**user.to_json(), "tokens": tokens[str(user.id)], "projects": projects_of[str(user.id)]}
            for user in User.objects.order_by("email")]
    print_rows(rows, as_json, [("email", "EMAIL"), ("name", "NAME"), ("projects", "PROJECTS"),
                                ("tokens", "TOKENS"), ("id", "ID")], empty="no users yet; add one with `users create EMAIL`")


@users.command("revoke-tokens")
@click.argument("email")
@click.option("--name", default=None, help="Only the tokens issued under this name.")
@with_app
def users_revoke_tokens(app, email, name):
    """Revoke EMAIL's API tokens; every running process refuses them on its next request."""
    from ..models import ApiToken, User

    user = User.objects(email=email.strip().lower()).first()
    if user is None:
        raise click.ClickException(f"no user {email}")
    count = ApiToken.revoke(user, name)
    click.echo(f"revoked {count} token{'s' if count != 1 else ''} of {user.email}")


@cli.group()
def projects():
    """Projects and members."""


@projects.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array instead of a table.")
@with_app
def projects_list(app, as_json):
    """Every project with its owner and member count."""
    from collections import Counter

    from ..models import Membership, Project, User

    members = Counter(m.projectId for m in Membership.objects.only("projectId"))
    emails = {str(u.id): u.email for u in User.objects.only("email")}
    rows = [{**project.to_json(), "owner": emails.get(project.ownerId, project.ownerId),
             "members": members[str(project.id)]} for project in Project.objects.order_by("slug")]
    print_rows(rows, as_json, [("slug", "SLUG"), ("name", "NAME"), ("owner", "OWNER"), ("members", "MEMBERS"),
                                ("id", "ID")], empty="no projects yet; add one with `projects create NAME --owner EMAIL`")



@projects.command("create")
@click.argument("name")
@click.option("--owner", "owner_email", required=True, help="Owner's email.")
@click.option("--slug", default=None)
@with_app
def projects_create(app, name, owner_email, slug):
    """Create a project owned by an existing user."""
    from ..models import User
    from ..projects import create_project

    owner = User.objects(email=owner_email.lower()).first()
    if owner is None:
        raise click.ClickException(f"no user {owner_email}; create it with `users create`")
    project = create_project(app, owner, name, slug)
    click.echo(f"created project {project.slug} ({project.id}) database {project.database_name}")


@projects.command("add-member")
@click.argument("project")
@click.argument("email")
@click.argument("role", type=click.Choice(["editor", "collaborator", "viewer"]))
@with_app
def projects_add_member(app, project, email, role):
    """Add an existing user to PROJECT (slug or id) with ROLE."""
    from ..models import User
    from ..projects import add_member, find_project

    user = User.objects(email=email.lower()).first()
    if user is None:
        raise click.ClickException(f"no user {email}")
    add_member(app, find_project(project), user, role)
    click.echo(f"{email} is now {role} of {project}")


