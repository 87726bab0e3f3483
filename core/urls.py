"""The base of every URL the product hands out: never the request's ``Host`` header.

``ALADDIN_PUBLIC_URL`` when set; else where ``serve`` really listens (``settings.server_url``
in the serving process, the ``server-url`` file it writes under the data dir for workers and
one-off commands of the same installation); else the default ``http://127.0.0.1:5000``."""

from __future__ import annotations

from pathlib import Path

DEFAULT_SERVER_URL = "http://127.0.0.1:5000"
SERVER_URL_FILE = "server-url"


def server_url(host: str, port: int) -> str:
    """The URL of ``serve --host H --port P``; a wildcard bind is reached through loopback."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host in ("::", "[::]"):
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def record_server_url(settings, url: str) -> None:
    """Called by ``serve``: this process and every other one of the installation use ``url``
    (with ``ALADDIN_PUBLIC_URL`` set they all use that instead, so nothing is recorded)."""
    settings.server_url = url
    if settings.public_url:
        return
    path = Path(settings.data_dir) / SERVER_URL_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(url + "\n")
    tmp.replace(path)


def public_base(app) -> str:
    """The scheme://host[:port] every handed-out URL starts with (no trailing slash)."""
    settings = app.extensions["aladdin"].settings
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if settings.server_url:
        return settings.server_url.rstrip("/")
    try:
        recorded = (Path(settings.data_dir) / SERVER_URL_FILE).read_text().strip()
    except OSError:
        recorded = ""
    return (recorded or DEFAULT_SERVER_URL).rstrip("/")
