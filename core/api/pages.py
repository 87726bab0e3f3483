"""The few pages people open from a message (a password-reset link; plugins add theirs, such as
the team plugin's invitation page): plain HTML files in ``core/pages``, no CDN, no build."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response

from ..web import public

PAGES = Path(__file__).resolve().parent.parent / "pages"


def page(path: Path) -> Response:
    """An HTML page that may run only its own inline script and call this origin."""
    response = Response(path.read_text(encoding="utf-8"), mimetype="text/html")
    response.headers["Content-Security-Policy"] = ("default-src 'none'; script-src 'unsafe-inline'; "
                                                   "style-src 'unsafe-inline'; connect-src 'self'; "
                                                   "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def create_blueprint() -> Blueprint:
    bp = Blueprint("pages", __name__)

    @bp.route("/reset-password")
    @public
    def reset_password():
        return page(PAGES / "reset-password.html")

    return bp
