"""``serve`` (the web server, its worker and embedded Redis, stopped together) and ``worker``."""

from __future__ import annotations

import os
import signal
import sys

import click

from .context import exit_on_policy_problems, get_app, print_demo
from .group import cli


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Seed the demo project first (if missing) and print its tokens; "
                                            "pages on loopback origins may call it (ALADDIN_CORS_ORIGINS).")
@click.option("--no-worker", is_flag=True, help="Do not start an RQ worker beside the server.")
@click.option("--migrate", "apply_migrations", is_flag=True,
              help="Apply pending migrations at start on a MongoDB server too (embedded stores always do).")
def serve(host, port, demo, no_worker, apply_migrations):
    """Serve the REST API and Socket.IO on one port (embedded mode also runs a worker)."""
    from .. import __version__
    from ..serving import listen_or_exit, migrate_at_start

    if demo:
        # A page from a local dev server (Vite, a file server) may call the demo at once;
        # an operator's own ALADDIN_CORS_ORIGINS wins (core/cors.py).
        os.environ.setdefault("ALADDIN_CORS_ORIGINS", "loopback")
    app = get_app()
    ext = app.extensions["aladdin"]
    # A read rule lists cannot apply would fail every list of its collection: refuse to start
    # instead, naming the rule (`policy check` says the same).
    exit_on_policy_problems(ext.authz.check_reads(sorted(ext.content_types)))
    server = listen_or_exit(app, host, port)  # bound first: `--port 0` has its real port now
    supervisor = None
    # Process managers stop services with SIGTERM: leave through `finally` like Ctrl-C does, so
    # the worker and (for the last process of the installation) the embedded Redis stop too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        with app.app_context():
            migrate_at_start(app, apply_migrations)
        from ..urls import public_base, record_server_url, server_url

        listen = server_url(host, server.port)
        record_server_url(ext.settings, listen)  # every process of the installation hands out this
        base = public_base(app)
        if demo:
            from ..demo import seed_demo

            with app.app_context():
                print_demo(seed_demo(app, base))
        if ext.settings.embedded_redis and not no_worker:
            from ..jobs import WorkerSupervisor

            supervisor = ext.worker_process = WorkerSupervisor().start()
        # One line, and the honest one: this is Werkzeug's threaded server (Werkzeug's own
        # "development server" warning is not printed because its run_simple is not used).
        click.echo(f"Aladdin {__version__} serving {listen}  API docs: {base}/api/v1/docs  "
                   f"(built-in threaded server; for production see README, Deploying; Ctrl-C stops)")
        if base != listen:
            click.echo(f"public URL (ALADDIN_PUBLIC_URL): {base}")
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if supervisor is not None:
            supervisor.stop()
        ext.close()


@cli.command()
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
@click.option("--queue", "queues", multiple=True, help="Queue names (default: aladdin).")
def worker(burst, queues):
    """Run an RQ worker for exports, large clones and scheduled cleanups."""
    from ..worker import run_worker

    run_worker(get_app(), list(queues) or None, burst=burst)

