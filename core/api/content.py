"""``/api/v1/projects/{pid}/content/{collection}[/{id}]``: content CRUD with paging, filters, sort, versions."""

from __future__ import annotations

import marshmallow as ma
from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint

from ..content import PATCH_KEY_RE, check_content, serialize
from ..errors import AladdinError
from . import authorized_project_ref, content_project, delete_document, ext
from .schemas import ContentListSchema, ContentSchema, ContentWriteSchema, ListArgsSchema

RESERVED_ARGS = {"limit", "offset", "sort"}


def _content_type(collection: str):
    return ext().content.content_type(collection or "")  # a dict lookup: any string is safe


def _validated(ctype, body: dict, partial: bool) -> dict:
    body = {k: v for k, v in body.items() if k != "baseVersion"}
    for field in ctype.readonly_fields:
        if field in body:
            raise AladdinError(f"field {field!r} is set by the platform", status=422)
    try:
        return ctype.schema(partial=partial).load(body)
    except ma.ValidationError as exc:
        raise AladdinError("invalid document", status=422, errors=exc.messages)


def _filters(ctype, args: dict) -> dict:
    """Query parameters other than paging are equality filters on top-level or ``content.`` fields."""
    filters = {}
    for key, value in args.items():
        if key in RESERVED_ARGS:
            continue
        if not isinstance(value, str) or not PATCH_KEY_RE.match(key):
            raise AladdinError(f"invalid filter {key!r}", status=400)
        field = ctype.fields.get(key)
        if isinstance(field, ma.fields.Integer) or key in ("version", "cloneDepth"):
            try:
                value = int(value)
            except ValueError:
                raise AladdinError(f"filter {key!r} needs an integer", status=400)
        elif isinstance(field, ma.fields.Boolean) or key == "isClone":
            value = value.lower() in ("1", "true", "yes")
        filters[key] = value
    return filters


def _sort(spec: str | None) -> list | None:
    if not spec:
        return None
    out = []
    for part in spec.split(","):
        part = part.strip()
        direction = -1 if part.startswith("-") else 1
        name = part.lstrip("+-")
        if not PATCH_KEY_RE.match(name):
            raise AladdinError(f"invalid sort field {name!r}", status=400)
        out.append((name, direction))
    out.append(("_id", 1))
    return out


def _base_version(body: dict) -> int | None:
    header = request.headers.get("If-Match")
    if header:
        try:
            return int(header.strip().strip('"').removeprefix("W/").strip('"'))
        except ValueError:
            raise AladdinError("If-Match must carry the document version number", status=400)
    return body.get("baseVersion")


def create_blueprint() -> Blueprint:
    bp = Blueprint("content", __name__, url_prefix="/api/v1/projects/<pid>/content",
                   description="Project content (characters, scenes, locations, episodes, videos, media, ...)")

    @bp.route("/<collection>")
    class ContentCollection(MethodView):
        @bp.arguments(ListArgsSchema, location="query")
        @bp.response(200, ContentListSchema)
        def get(self, args, pid, collection):
            """List documents; any other query parameter is an equality filter (``status=completed``)."""
            project = authorized_project_ref(pid, "content:view")
            ctype = _content_type(collection)
            docs, total = ext().content.list(project, collection, reader=g.user, filters=_filters(ctype, request.args.to_dict()),
                                             sort=_sort(args.get("sort")), limit=args["limit"],
                                             offset=args["offset"])
            return {"items": docs, "total": total, "limit": args["limit"], "offset": args["offset"]}

        @bp.arguments(ContentWriteSchema)
        @bp.response(201, ContentSchema)
        @bp.alt_response(422, description="invalid document or refused by a plugin")
        def post(self, body, pid, collection):
            project = content_project(pid)
            ext().content.authorize_create(project, collection, g.user)  # refused before the body is read
            ctype = _content_type(collection)
            data = _validated(ctype, body, partial=False)
            return ext().content.create(project, collection, data, g.user)

    @bp.route("/<collection>/<doc_id>")
    class ContentItem(MethodView):
        @bp.response(200, ContentSchema)
        def get(self, pid, collection, doc_id):
            project = authorized_project_ref(pid, "content:view")
            _content_type(collection)
            doc = ext().content.get(project, collection, doc_id, reader=g.user)
            return doc, 200, {"ETag": f'"{doc.get("version", 1)}"'}

        @bp.arguments(ContentWriteSchema)
        @bp.response(200, ContentSchema)
        @bp.alt_response(409, description="baseVersion/If-Match is stale; body carries the current version and document")
        def patch(self, body, pid, collection, doc_id):
            """Update fields; ``content`` keys merge, other fields replace. Send the version you
            edited as ``If-Match`` or ``baseVersion`` to be refused (409) if someone changed it since."""
            project = content_project(pid)
            ctype = _content_type(collection)
            base_version = _base_version(body)
            data = _validated(ctype, body, partial=True)
            patch = {}
            check_content(data.get("content") or {})  # before flattening: "a.b" is a key here, not a path
            for key, value in data.items():
                if key == "content":
                    patch.update({f"content.{k}": v for k, v in value.items()})
                else:
                    patch[key] = value
            # The service loads the document the user may view and authorizes the edit on it.
            doc = ext().content.update(project, collection, doc_id, patch, g.user, base_version)
            return doc, 200, {"ETag": f'"{doc.get("version", 1)}"'}

        @bp.response(204)
        def delete(self, pid, collection, doc_id):
            _content_type(collection)
            delete_document(pid, collection, doc_id)  # media too: the same rules as DELETE .../media/{id}
            return ""

    return bp


__all__ = ["create_blueprint", "serialize"]
