"""``clone SOURCE COLLECTION ID --to TARGET``: the command-line clone, with a progress bar.

Without ``--as`` it is the platform's own clone (an operator at the server's shell): written as
:data:`~core.content.SYSTEM`, which no policy limits, and it says so. With ``--as EMAIL`` the
user's rules apply in full, as over HTTP: what they may read of the source, and each copy they
may create in the target."""

from __future__ import annotations

import json

import click

from core.cli import with_app


@click.command("clone")
@click.argument("source")
@click.argument("collection")
@click.argument("document_id")
@click.option("--to", "target", required=True, help="Target project (slug or id); may equal SOURCE.")
@click.option("--as", "as_email", default=None,
              help="Clone as this user, under their rules (default: as the system, no policy applies).")
@click.option("--shallow", is_flag=True, help="Copy only the document; references keep pointing at the source.")
@click.option("--no-media", is_flag=True, help="Do not copy media objects.")
@click.option("--no-relationships", is_flag=True, help="Do not recreate graph relationships.")
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@with_app
def clone_command(app, source, collection, document_id, target, as_email, shallow, no_media,
                  no_relationships, dry_run):
    """Clone DOCUMENT_ID of COLLECTION in project SOURCE (deep by default) into --to TARGET."""
    from core.content import SYSTEM
    from core.models import User
    from core.projects import find_project

    from .executor import check_before_writing
    from .plan import CloneOptions
    from .planner import Planner
    from .tasks import job_tracker, new_record, run_recorded

    ext = app.extensions["aladdin"]
    src, dst = find_project(source), find_project(target)
    if as_email:
        user = User.objects(email=as_email.strip().lower()).first()
        if user is None:
            raise click.ClickException(f"no user {as_email}")
        ext.authz.authorize(user, "content:view", src)
        ext.authz.authorize(user, "content:create", dst)
        click.echo(f"cloning as {user.email}: their read and create rules apply", err=True)
    else:
        user = SYSTEM
        click.echo("cloning as SYSTEM: no policy applies, copies are created by nobody "
                   "(--as EMAIL clones under a user's rules)", err=True)
    options = CloneOptions(collection=collection, document_id=document_id, deep=not shallow,
                           include_media=not no_media, include_relationships=not no_relationships)
    if dry_run:
        plan = Planner(app, src, dst, user, options).plan()
        check_before_writing(app, plan, user, dry_run=True)
        click.echo(json.dumps(plan.summary(), indent=2, default=str))
        return
    with click.progressbar(length=1000, label=f"cloning {collection}/{document_id}") as bar:
        state = {"shown": 0}

        def progress(value: float, stage: str) -> None:
            step = int(value * 1000) - state["shown"]
            if step > 0:
                bar.update(step)
                state["shown"] += step

        # Planning and writing move the bar; a job record gives the events a real job id.
        record = new_record(src, dst, user, options, status="processing")
        tracker = job_tracker(app, record, src, dst, user, options, planning=True, also=progress)
        result = run_recorded(app, record, src, dst, user, options, tracker)
    click.echo(f"cloned {result['clonedCount']} documents, {len(result['media'])} media objects, "
               f"{result['relationships']} relationships into {dst.slug}")
    click.echo(f"new root {collection}/{result['newRootId']} (job {result['jobId']})")
    for warning in result["warnings"]:
        click.echo(f"warning: {warning}")
    for entry in result["dangling"]:
        click.echo(f"dangling: {entry['collection']}/{entry['documentId']} {entry['path']} -> {entry['references']}")
