"""``/api/v1/files/{token}``: downloads of local storage through signed, expiring URLs."""

from __future__ import annotations

from flask import send_file
from flask_smorest import Blueprint

from ..web import public
from ..errors import AladdinError
from ..storage import LocalStorage, SignedUrlError, content_disposition, served_type
from . import ext


def create_blueprint() -> Blueprint:
    bp = Blueprint("files", __name__, url_prefix="/api/v1/files", description="Signed downloads")

    @bp.route("/<token>")
    @bp.doc(security=[])
    @bp.alt_response(403, description="tampered or expired URL")
    @public
    def download(token):
        """A file behind a signed URL (the URL is the credential; it expires)."""
        storage = ext().storage
        if not isinstance(storage, LocalStorage):
            raise AladdinError("not found", status=404)
        try:
            signed = storage.read_token(token)
            path = storage.path_for(signed.key)
        except SignedUrlError as exc:
            raise AladdinError("this download link has expired" if exc.expired else "invalid download link",
                               status=403)
        except ValueError:
            raise AladdinError("invalid download link", status=403)
        if not path.is_file():
            raise AladdinError("file not found", status=404)
        filename = signed.filename or path.name
        # The type stored at upload (sniffed from the bytes), never the name's; always an
        # attachment, and active content (HTML, SVG, XML, JS) only as neutral bytes.
        response = send_file(path, mimetype=served_type(signed.content_type, filename),
                             conditional=True, max_age=0)
        response.headers["Content-Disposition"] = content_disposition(filename)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return bp
