"""``cli.py export PROJECT --preset P [--scenes a,b] [--wait]`` and ``cli.py exports cleanup``."""
from __future__ import annotations

import threading
import time

import click


def _owner_or(app, project, email: str | None):
    from core.models import User

    if email:
        user = User.objects(email=email.strip().lower()).first()
        if user is None:
            raise click.ClickException(f"no user {email}")
        return user
    user = User.objects(id=project.ownerId).first()
    if user is None:
        raise click.ClickException("the project's owner no longer exists; pass --as EMAIL")
    return user


def _workers_listening(app, queue_name: str) -> int:
    from rq import Worker

    ext = app.extensions["aladdin"]
    return Worker.count(queue=ext.jobs.queue(queue_name))


@click.command("export")
@click.argument("project")
@click.option("--preset", "preset_id", required=True, help="Preset id (see GET /api/v1/export/presets).")
@click.option("--scenes", default=None, help="Comma-separated video ids (default: every completed scene).")
@click.option("--output", "output_filename", default=None, help="Output file name (sanitised).")
@click.option("--as", "as_email", default=None, help="Record the export as this user (default: the owner).")
@click.option("--wait", is_flag=True, help="Show a progress bar until the export finishes.")
def export_command(project, preset_id, scenes, output_filename, as_email, wait):
    """Queue an export of PROJECT (slug or id); with --wait, follow it and print where it is."""
    from core.cli import get_app
    from core.errors import AladdinError
    from core.models import JobRecord
    from core.projects import find_project

    from . import service, tasks

    app = get_app()
    with app.app_context():
        try:
            proj = find_project(project)
            user = _owner_or(app, proj, as_email)
            include = [s.strip() for s in scenes.split(",") if s.strip()] if scenes else None
            record = service.queue_export(app, proj, user, preset_id=preset_id,
                                          output_filename=output_filename, include_scenes=include)
        except AladdinError as exc:
            raise click.ClickException(exc.message)
        job_id = str(record.id)
        click.echo(f"queued export {job_id} ({preset_id}, {len(record.params['sceneIds'])} scenes)")
        if not wait:
            click.echo(f"status: GET /api/v1/projects/{proj.slug}/exports/{job_id}")
            return
        runner = None
        if _workers_listening(app, service.queue_name(app)) == 0:
            # No worker would pick it up: take the job off the queue and render it here.
            from rq.job import Job

            Job.fetch(service.rq_job_id(job_id), connection=app.extensions["aladdin"].jobs.redis).delete()
            click.echo("no worker is running; rendering in this process")
            errors: list[BaseException] = []

            def run() -> None:
                with app.app_context():
                    try:
                        tasks.run_export(app, job_id)
                    except BaseException as exc:  # reported from the record below
                        errors.append(exc)

            runner = threading.Thread(target=run, daemon=True)
            runner.start()
        with click.progressbar(length=100, label="exporting", show_percent=True) as bar:
            shown = 0
            while True:
                record = JobRecord.objects(id=job_id).first()
                record = service.reconcile(app, record)
                pct = int(record.progress or 0)
                if pct > shown:
                    bar.update(pct - shown)
                    shown = pct
                if record.status in service.TERMINAL:
                    break
                time.sleep(0.5)
            if record.status == "completed" and shown < 100:
                bar.update(100 - shown)
        if runner is not None:
            runner.join(timeout=5)
        if record.status != "completed":
            raise click.ClickException(f"export {job_id} {record.status}: {record.error}")
        info = service.job_json(app, record)
        click.echo(f"completed: {record.result['downloadName']} ({record.result['size']} bytes, "
                   f"{record.result['duration']:.2f} s)")
        click.echo(f"storage key: {record.result['storageKey']}")
        storage = app.extensions["aladdin"].storage
        if hasattr(storage, "path_for"):
            click.echo(f"file: {storage.path_for(record.result['storageKey'])}")
        click.echo(f"download: {info['downloadUrl']}")
        if info.get("scenesRendered") is not None:
            click.echo(f"scenes: {info['scenesRendered']} rendered, {info['scenesReused']} reused "
                       f"(segments: {info['segmentsRendered']} rendered, {info['segmentsReused']} reused)")
        for label, key, url in (("poster", "posterKey", "posterUrl"),
                                ("contact sheet", "contactSheetKey", "contactSheetUrl")):
            if record.result.get(key):
                where = storage.path_for(record.result[key]) if hasattr(storage, "path_for") else record.result[key]
                click.echo(f"{label}: {info[url]} ({where})")


@click.group("exports")
def exports_group():
    """Export maintenance."""


@exports_group.command("cleanup")
@click.option("--days", type=float, default=None, help="Retention in days (default: EXPORT_RETENTION_DAYS, 7).")
def exports_cleanup(days):
    """Delete exports older than the retention from storage and mark them expired."""
    from core.cli import get_app

    from .cleanup import expire_exports

    app = get_app()
    with app.app_context():
        count = expire_exports(app, days=days)
    click.echo(f"expired {count} exports")


def commands() -> list:
    return [export_command, exports_group]
