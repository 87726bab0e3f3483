"""``/api/v1/projects/{pid}/media[/{mediaId}]``: upload into storage, list, read, delete."""

from __future__ import annotations

from bson import ObjectId
from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint

from ..content import MEDIA as COLLECTION, serialize
from ..errors import AladdinError
from ..media import check_type, download_url, media_key, safe_filename
from . import authorized_project, content_project, delete_document, ext
from .schemas import ContentListSchema, ListArgsSchema, MediaSchema, MediaUploadSchema


def _with_url(doc: dict) -> dict:
    out = serialize(doc)
    out["downloadUrl"] = download_url(ext().app, doc["storageKey"], doc.get("filename"), doc.get("contentType"))
    return out


def create_blueprint() -> Blueprint:
    bp = Blueprint("media", __name__, url_prefix="/api/v1/projects/<pid>/media", description="Media files")

    @bp.route("")
    class MediaCollection(MethodView):
        @bp.arguments(ListArgsSchema, location="query")
        @bp.response(200, ContentListSchema)
        def get(self, args, pid):
            project = authorized_project(pid, "content:view")
            docs, total = ext().content.list(project, COLLECTION, reader=g.user, limit=args["limit"], offset=args["offset"])
            return {"items": [_with_url(d) for d in docs], "total": total,
                    "limit": args["limit"], "offset": args["offset"]}

        @bp.arguments(MediaUploadSchema, location="files")
        @bp.response(201, MediaSchema)
        @bp.alt_response(413, description="larger than the upload limit")
        @bp.alt_response(415, description="unsupported type, or content not matching the declared type")
        def post(self, files, pid):
            """Upload a file (multipart field ``file``); answers its id and a signed download URL."""
            project = content_project(pid)
            ext().content.authorize_create(project, COLLECTION, g.user)  # before anything is stored
            upload = request.files.get("file")
            if upload is None or not getattr(upload, "filename", None):
                raise AladdinError("send the file as multipart field 'file'", status=400)
            head = upload.stream.read(64)
            upload.stream.seek(0)
            content_type = check_type(upload.mimetype, upload.filename, head)
            media_id = ObjectId()
            filename = safe_filename(upload.filename)
            key = media_key(project.slug, media_id, filename)
            storage = ext().storage
            size = storage.put(key, upload.stream, content_type=content_type)
            if size == 0:
                storage.delete(key)
                raise AladdinError("the file is empty", status=400)
            data = {"_id": media_id, "filename": filename, "contentType": content_type, "size": size,
                    "storageKey": key, "content": {"title": filename, "kind": content_type.split("/")[0]}}
            try:
                doc = ext().content.create(project, COLLECTION, data, g.user)
            except Exception:
                storage.delete(key)  # no orphan object when the document cannot be written
                raise
            return _with_url(doc)

    @bp.route("/<media_id>")
    class MediaItem(MethodView):
        @bp.response(200, MediaSchema)
        def get(self, pid, media_id):
            project = authorized_project(pid, "content:view")
            return _with_url(ext().content.get(project, COLLECTION, media_id, reader=g.user))

        @bp.response(204)
        def delete(self, pid, media_id):
            """Delete the media document and then its file: the same rules, the same path as
            ``DELETE .../content/media/{id}`` (rules about the document decide, not the project alone)."""
            delete_document(pid, COLLECTION, media_id)
            return ""

    return bp
