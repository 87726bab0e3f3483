"""The API docs pages' scripts and styles, served by the app itself from pinned PyPI packages
(``flask-swagger-ui`` ships Swagger UI's dist, ``flask-openapi3-redoc`` ReDoc's standalone
bundle), so ``/api/v1/docs`` and ``/api/v1/redoc`` work offline and never load a CDN."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from flask import Blueprint, abort, send_from_directory

from ..web import public

PREFIX = "/api/v1/docs-assets"
SWAGGER_UI_URL = f"{PREFIX}/swagger-ui/"
REDOC_URL = f"{PREFIX}/redoc/redoc.standalone.js"
#: (package, folder inside it) of each set of assets; only files found there are served.
SOURCES = {"swagger-ui": ("flask_swagger_ui", "dist"), "redoc": ("flask_openapi3_redoc", "templates/redoc/js")}


def asset_dir(name: str) -> Path:
    """The folder of one package's assets, found without importing the package (its
    ``__init__`` pulls in a framework the files do not need)."""
    package, folder = SOURCES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the API docs need the {package!r} package; pip install the project again")
    return Path(next(iter(spec.submodule_search_locations))) / folder


def create_blueprint() -> Blueprint:
    bp = Blueprint("docs_assets", __name__, url_prefix=PREFIX)

    @bp.route("/<name>/<path:filename>")
    @public
    def asset(name: str, filename: str):
        if name not in SOURCES or not filename.endswith((".js", ".css", ".png", ".html")):
            abort(404)
        # send_from_directory refuses paths that leave the folder; the assets never change
        # within a pinned version, so browsers may keep them for a day.
        return send_from_directory(asset_dir(name), filename, max_age=86400)

    return bp
