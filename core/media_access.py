"""Files follow their documents: a media document is hidden from a reader when every document
that uses it is hidden from that reader.

A document uses a file through a reference field its content type declares as naming media
(``reference_fields=(("content.mediaId", "media"),)`` on videos). A rule hiding a draft video
therefore hides its file on every surface at once (the media list and GET, download URLs,
clones, exports), because they all read through ``Authorizer.read_filter``, which adds
:meth:`MediaInheritance.filter` to the media rules' own filter. A file also used by a document
the reader may view stays visible: the reader reaches it through that document anyway. A file
no document uses is decided by the media rules alone."""

from __future__ import annotations

from bson import ObjectId

from .authz.filters import IdNotIn
from .content_access import MEDIA
from .dotted import get_path


class MediaInheritance:
    """The :class:`~core.authz.authorizer.Inheritance` of one app: media from their users."""

    def __init__(self, app):
        self.app = app

    @property
    def _ext(self):
        return self.app.extensions["aladdin"]

    def users(self) -> list[tuple[str, str]]:
        """``(collection, field path)`` of every declared reference to media (not from media)."""
        out = []
        for name, ctype in self._ext.content_types.items():
            for item in ctype.reference_fields:
                if not isinstance(item, str) and item[1] == MEDIA and name != MEDIA:
                    out.append((name, item[0]))
        return out

    def filter(self, actor, project, collection: str, only: list | None = None) -> IdNotIn | None:
        """The files whose every user ``actor`` may not view, left out (``_id`` not in them); None
        when no rule hides a user (the common case costs no query). ``only`` (ids) limits the
        question to those files: a single read asks about one file, not the whole project."""
        if collection != MEDIA:
            return None
        authz = self._ext.authz
        users = [(name, path, authz.own_read_filter(actor, project, name)) for name, path in self.users()]
        restricted = [(name, path, rf) for name, path, rf in users if not rf.everything]
        if not restricted:
            return None
        db = self._ext.db.project(project.slug)
        if only is not None:
            hidden = self._hidden_among(db, users, _ids(only))
        else:
            hidden = set()
            for name, path, rf in restricted:
                hidden |= _referenced(db[name], path, {} if rf.nothing else {"$nor": [rf.query]})
            if hidden:
                named = _stored_forms(hidden)
                for name, path, rf in users:  # a file some visible document uses stays visible
                    hidden -= _referenced(db[name], path, rf.combine({path: {"$in": named}}))
        return IdNotIn(frozenset(hidden)) if hidden else None

    @staticmethod
    def _hidden_among(db, users: list, ids: set[ObjectId]) -> set[ObjectId]:
        """Which of ``ids`` are hidden: their users found through the field's index, each matched
        against its collection's filter in hand (one indexed query per using collection)."""
        hidden: set[ObjectId] = set()
        shown: set[ObjectId] = set()
        named = _stored_forms(ids)
        for name, path, rf in users:
            for doc in db[name].find({path: {"$in": named}}):
                (shown if rf.matches(doc) else hidden).update(_ids(_values(doc, path)))
        return (hidden - shown) & ids

    def hidden_by(self, actor, project, collection: str, document: dict) -> list[tuple[str, dict]]:
        """The documents using ``document`` (a media document) that ``actor`` may not view."""
        if collection != MEDIA or document.get("_id") is None:
            return []
        authz = self._ext.authz
        db = self._ext.db.project(project.slug)
        named = _stored_forms({document["_id"]})
        out = []
        for name, path in self.users():
            rf = authz.own_read_filter(actor, project, name)
            out += [(name, doc) for doc in db[name].find({path: {"$in": named}}) if not rf.matches(doc)]
        return out


def _referenced(collection, path: str, query: dict) -> set[ObjectId]:
    """The media ids at ``path`` of the documents matching ``query``. Read with ``find`` and a
    projection rather than ``distinct``: the embedded server's ``distinct`` drops part of an
    ``$and`` query, and this must be exact on every backend."""
    values = []
    for doc in collection.find(query, {path: 1}):
        values += _values(doc, path)
    return _ids(values)


def _values(doc: dict, path: str) -> list:
    value = get_path(doc, path)
    return value if isinstance(value, list) else [value]


def _ids(values) -> set[ObjectId]:
    """The media ids among stored reference values (strings of 24 hex digits or ObjectIds)."""
    out = set()
    for value in values:
        if isinstance(value, ObjectId):
            out.add(value)
        elif isinstance(value, str) and len(value) == 24 and ObjectId.is_valid(value):
            out.add(ObjectId(value))
    return out


def _stored_forms(ids: set[ObjectId]) -> list:
    """Each id as a reference field may store it: the hex string (as the API writes) or an ObjectId."""
    return [form for oid in sorted(ids) for form in (str(oid), oid)]
