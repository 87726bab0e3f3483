"""``/studio`` and its assets. The page may run only scripts from this origin and talk only to
it (its Socket.IO connection included); images may also come from a storage origin, since
posters and contact sheets are signed storage URLs (S3 hands out its own host)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, request, send_from_directory, url_for

from werkzeug.security import safe_join

from core.web import public

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PAGE = HERE / "pages" / "studio.html"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
       "img-src 'self' data: https: http:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@lru_cache(maxsize=None)
def asset_version(name: str) -> str:
    """A digest of an asset, put in its URL: the browser may keep it a year, and a new build is a new URL."""
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:16]


def create_blueprint() -> Blueprint:
    bp = Blueprint("studio", __name__)

    @bp.route("/studio")
    @public
    def studio():
        root = request.script_root + "/"
        html = (PAGE.read_text(encoding="utf-8")
                .replace("{{root}}", root)
                .replace("{{script}}", url_for("studio.asset", filename="studio.js", v=asset_version("studio.js")))
                .replace("{{style}}", url_for("studio.asset", filename="studio.css", v=asset_version("studio.css"))))
        response = Response(html, mimetype="text/html")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.route("/studio/assets/<path:filename>")
    @public
    def asset(filename):
        path = safe_join(str(STATIC), filename)
        versioned = path is not None and Path(path).is_file() and request.args.get("v") == asset_version(filename)
        return send_from_directory(STATIC, filename, max_age=31536000 if versioned else 0)

    return bp
