"""``aladdin team invite|list|remove|transfer|outbox``: the team operations for operators."""

from __future__ import annotations

import dataclasses

import click

from core.cli import with_app
from core.models import Membership, User
from core.projects import find_project


@dataclasses.dataclass(frozen=True)
class Operator:
    """The actor of command-line changes: logs show ``operator``, not a user who did nothing."""

    id: str = "operator"
    email: str | None = None
    name: str = "an Aladdin operator"


OPERATOR = Operator()


def _member_by_email(project, email: str) -> Membership:
    user = User.by_email(email)
    member = Membership.objects(projectId=str(project.id), userId=str(user.id)).first() if user else None
    if member is None:
        raise click.ClickException(f"{email} is not a member of {project.slug}")
    return member


def build() -> click.Group:
    @click.group("team")
    def team():
        """Invitations, members and ownership of a project."""

    @team.command("invite")
    @click.argument("project")
    @click.argument("email")
    @click.argument("role", type=click.Choice(["editor", "collaborator", "viewer"]))
    @with_app
    def invite(app, project, email, role):
        """Invite EMAIL to PROJECT (slug or id) as ROLE; prints the one-time accept URL."""
        from . import invitations

        proj = find_project(project)
        from core.urls import public_base

        base = public_base(app)
        invitation, token, url, delivery = invitations.create(app, proj, email, role, OPERATOR, base_url=base)
        click.echo(f"invited {invitation.email} to {proj.slug} as {role} (invitation {invitation.id}, "
                   f"expires {invitation.to_json()['expiresAt']})")
        click.echo(f"delivery: {'delivered' if delivery.get('delivered') else 'NOT delivered'} "
                   f"via {delivery.get('channel', 'plugin')}" + (f" ({delivery['error']})" if delivery.get("error") else ""))
        click.echo(f"token (shown once): {token}")
        click.echo(url)

    @team.command("list")
    @click.argument("project")
    @with_app
    def list_(app, project):
        """Members of PROJECT with their roles, then its pending invitations."""
        from . import invitations, members

        proj = find_project(project)
        rows = members.listing(proj)
        click.echo(f"{len(rows)} members of {proj.slug}:")
        for row in rows:
            click.echo(f"  {row['role']:<12} {row['email'] or row['userId']:<32} "
                       f"added {row['addedAt']}  last active {row['lastActiveAt'] or '-'}")
        pending = invitations.listing(proj, "pending")
        click.echo(f"{len(pending)} pending invitations:")
        for inv in pending:
            click.echo(f"  {inv['role']:<12} {inv['email']:<32} expires {inv['expiresAt']}  id {inv['id']}")

    @team.command("remove")
    @click.argument("project")
    @click.argument("email")
    @with_app
    def remove(app, project, email):
        """Remove the member EMAIL from PROJECT (never the owner)."""
        from . import members

        proj = find_project(project)
        member = _member_by_email(proj, email)
        members.remove(app, proj, member.userId, OPERATOR)
        click.echo(f"removed {email} from {proj.slug}")

    @team.command("transfer")
    @click.argument("project")
    @click.argument("email")
    @with_app
    def transfer(app, project, email):
        """Make the member EMAIL the owner of PROJECT; the previous owner becomes editor."""
        from . import members

        proj = find_project(project)
        member = _member_by_email(proj, email)
        members.transfer(app, proj, member.userId, OPERATOR)
        click.echo(f"{email} now owns {proj.slug}; the previous owner is an editor")

    @team.command("outbox")
    @click.option("--project", default=None, help="Only messages of this project (slug or id).")
    @click.option("--limit", default=20, show_default=True, type=int)
    @with_app
    def outbox(app, project, limit):
        """Invitation messages recorded for delivery (newest first), with their accept links."""
        from .models import OutboxMessage

        qs = OutboxMessage.objects()
        if project:
            qs = qs.filter(projectId=str(find_project(project).id))
        for msg in qs.order_by("-createdAt", "-id").limit(max(1, limit)):
            click.echo(f"[{msg.createdAt:%Y-%m-%d %H:%M}] {msg.channel}/{msg.status} to {msg.to}: {msg.subject}")
            click.echo(f"    {msg.acceptUrl}")

    return team
