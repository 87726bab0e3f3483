"""What ``serve`` does before it answers: bind the port (one clear error when taken) and bring
the schema up to date (embedded stores) or refuse to start (a MongoDB server with pending migrations)."""

from __future__ import annotations

import errno
import queue
import socket
import sys
import threading

import click
from werkzeug.serving import ThreadedWSGIServer

IDLE_THREAD_SECONDS = 30.0  # how long a server thread waits for its next connection before ending


def listen_or_exit(app, host: str, port: int):
    """Werkzeug's threaded server for ``app`` on ``host:port``; a taken port is one error line
    and exit 1. Bound here: Werkzeug's own bind prints two lines of its own and exits (handed a
    bound socket, ``make_server`` binds nothing), and ``run_simple`` would add its warning."""
    from werkzeug.serving import select_address_family

    try:
        listener = socket.create_server((host, port), family=select_address_family(host, port))
    except OSError as exc:
        taken = exc.errno == errno.EADDRINUSE
        reason = "address already in use" if taken else (exc.strerror or str(exc))
        hint = " (another server running? choose --port)" if taken else ""
        click.echo(f"error: cannot listen on {host}:{port}: {reason}{hint}", err=True)
        sys.exit(1)
    # Nagle off, inherited by every accepted connection: a Socket.IO event carrying bytes (a Yjs
    # update) is written as two small websocket frames, header then attachment, and with Nagle
    # the second waited for the client's delayed ACK (40 ms on Linux) before leaving: every
    # keystroke reached the other editors ~45 ms late (bench.yjs). gunicorn sets the same.
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with listener:  # the server keeps a duplicate of the socket
        return ThreadReusingWSGIServer(host, port, app, fd=listener.fileno())


class ThreadReusingWSGIServer(ThreadedWSGIServer):
    """Werkzeug's threaded server (``make_server(threaded=True)``), whose threads wait a while for
    the next connection after finishing one instead of ending.

    Why: a connection waited for its thread to be created and started before a byte of its request
    was read -- about a tenth of a plain WebSocket's connect to synced (``bench.yjs``, where a page
    reload is a new connection), and the same on every REST request of a new connection. No
    connection ever waits for another's thread: when none is idle, a new one starts, as before;
    an idle one ends after ``IDLE_THREAD_SECONDS``, and all of them when the server closes."""

    def __init__(self, *args, **kwargs):
        self._idle: list[queue.SimpleQueue] = []  # the waiting threads' inboxes, latest last
        self._idle_lock = threading.Lock()
        self._closing = False
        super().__init__(*args, **kwargs)
        self._closing = False  # the constructor's ``server_close`` closed only a socket it opened itself

    def process_request(self, request, client_address) -> None:
        with self._idle_lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            threading.Thread(target=self._serve_connections, args=(request, client_address), daemon=True).start()
        else:
            inbox.put((request, client_address))

    def _serve_connections(self, request, client_address) -> None:
        inbox: queue.SimpleQueue = queue.SimpleQueue()
        while True:
            self.process_request_thread(request, client_address)  # handles errors, closes the request
            with self._idle_lock:
                if self._closing:
                    return
                self._idle.append(inbox)
            try:
                work = inbox.get(timeout=IDLE_THREAD_SECONDS)
            except queue.Empty:
                with self._idle_lock:
                    if inbox in self._idle:  # nobody took it meanwhile: this thread ends
                        self._idle.remove(inbox)
                        return
                work = inbox.get()  # taken just now: its connection is on the way
            if work is None:  # the server closed
                return
            request, client_address = work

    def server_close(self) -> None:
        with self._idle_lock:
            self._closing, idle, self._idle = True, self._idle, []
        for inbox in idle:
            inbox.put(None)
        super().server_close()


def migrate_at_start(app, apply: bool) -> None:
    """Embedded stores (a first run) migrate themselves; a MongoDB server is migrated by its
    operator (``aladdin migrate`` or ``serve --migrate``), so pending migrations refuse to start."""
    from .migrations_runner import migrate, status

    refuse_beside_legacy_data(app)
    pending = [row for row in status(app) if not row["applied"]]
    if not pending:
        return
    if not (apply or app.extensions["aladdin"].settings.embedded_mongo):
        names = ", ".join(sorted({f"{row['migration']} on {row['database']}" for row in pending}))
        click.echo(f"error: {len(pending)} pending migration{'s' if len(pending) != 1 else ''} ({names}); "
                   f"run `aladdin migrate` first (or start with `serve --migrate`)", err=True)
        sys.exit(1)
    for name, database in migrate(app):
        click.echo(f"migrated: applied {name} to {database}")


def refuse_beside_legacy_data(app) -> None:
    """An installation made before the document server keeps its data in litemongo files: an
    empty new store beside them would look like lost data, so serve names the one-time import."""
    from .store_import import has_legacy_data, legacy_path

    settings = app.extensions["aladdin"].settings
    if not settings.embedded_mongo or not has_legacy_data(settings.data_dir):
        return
    platform = app.extensions["aladdin"].db.platform()
    if any(platform[name].estimated_document_count() for name in ("users", "projects")):
        return
    click.echo(f"error: {legacy_path(settings.data_dir)} holds data of the old embedded store (litemongo) "
               f"and the document server is empty; copy it once with `aladdin store import-litemongo`, "
               f"then start again", err=True)
    sys.exit(1)
