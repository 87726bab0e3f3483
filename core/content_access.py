"""Who may write which content: the permissions each write asks, checked against the document.

The content service inherits this, so every writer (REST, socket handlers, plugins acting for a
user) gets the same answer from one place; :data:`SYSTEM` is the platform's own reads and
writes, which no policy limits."""

from __future__ import annotations

from .authz import READ
from .errors import Forbidden

#: The collection whose documents own a stored file: writing them needs ``media:*`` too.
MEDIA = "media"
#: What each write asks of the acting user (beyond viewing the document it changes) ...
WRITE_ACTIONS = {"create": ("content:create",), "update": ("content:edit",), "delete": ("content:delete",)}
#: ... and what it asks besides when the document is media.
MEDIA_ACTIONS = {"create": ("media:upload",), "update": (), "delete": ("media:delete",)}


class _System:
    """The platform itself as reader or writer: no policy applies (see ``ContentService``).

    Writes made for nobody in particular (migrations, imports, the platform's own bookkeeping)
    pass it as their actor, so skipping authorization is always explicit."""

    def __repr__(self):
        return "SYSTEM"


SYSTEM = _System()


def acting(user):
    """``user``, refusing ``None``: a write is made for someone, or explicitly for :data:`SYSTEM`."""
    if user is None:
        raise TypeError("pass the acting user, or core.content.SYSTEM for the platform's own writes")
    return user


def actor_id(user) -> str | None:
    """The user id a write records (``createdBy``, events, job records): ``None`` for :data:`SYSTEM`."""
    return None if user is None or user is SYSTEM else str(user.id)


def write_actions(collection: str, action: str) -> tuple[str, ...]:
    """The permissions a ``create``, ``update`` or ``delete`` in ``collection`` needs."""
    return WRITE_ACTIONS[action] + (MEDIA_ACTIONS[action] if collection == MEDIA else ())


class WriteAuthorization:
    """The authorization half of ``ContentService`` (which provides ``get``, ``content_type``
    and ``_ext``)."""

    def authorize_create(self, project, collection: str, user) -> None:
        """Raise unless ``user`` may create documents of ``collection`` in ``project``: an outsider
        gets NotFound, a member without ``content:create`` (or ``media:upload``) Forbidden.
        Callers with work to do before ``create`` (storing an upload) ask this first."""
        self.content_type(collection)
        if acting(user) is SYSTEM:
            return
        for permission in write_actions(collection, "create"):
            self._ext.authz.authorize(user, permission, project)

    def writable(self, project, collection: str, doc_id: str, user, action: str = "update") -> dict:
        """The stored document ``user`` may ``update`` or ``delete``: the one "load the visible
        document, authorize the change" step of every writer. An outsider gets NotFound
        ("project not found"), a document the user may not view NotFound like a missing one,
        a visible one the user may not change Forbidden."""
        if acting(user) is SYSTEM:
            return self.get(project, collection, doc_id, reader=SYSTEM)
        self.content_type(collection)
        self._ext.authz.authorize(user, READ, project)  # outsiders: the project, not the document, is missing
        document = self.get(project, collection, doc_id, reader=user)
        self.authorize_write(user, project, collection, document, action)
        return document

    def authorize_write(self, user, project, collection: str, document: dict, action: str = "update") -> None:
        """Raise unless ``user`` may ``action`` this ``document``, one already in hand (a plugin
        changing something that belongs to it, as a relationship from it; a ``create``'s new
        document): Forbidden, or NotFound when ``user`` may not view the stored document it changes.
        A ``create`` is asked of the document as it will be stored (``denied(_, "content:create",
        doc) if doc.collection = "characters" ...`` holds); there is no stored document to hide."""
        if acting(user) is SYSTEM:
            return
        if action == "create":
            refused = self.refused_creates(user, project, collection, [document])
            if refused:
                role = self._ext.authz.role(user, project)
                raise Forbidden(f"your role ({role}) does not allow {refused[0][1]} of this document")
            return
        for permission in write_actions(collection, action):
            self._ext.authz.authorize(user, permission, project, collection, document)

    def refused_creates(self, user, project, collection: str, documents: list[dict]) -> list[tuple[dict, str]]:
        """The ``documents`` (as they will be stored) ``user`` may not create in ``project``, each
        with the permission refused (``content:create``, or ``media:upload`` for media): the one
        create check, for one document (:meth:`create`) or a bulk writer's thousands (a clone's
        copies; the rule is compiled once per collection, see ``Authorizer.allowed_documents``).
        An outsider gets NotFound; :data:`SYSTEM` is refused nothing."""
        if acting(user) is SYSTEM or not documents:
            return []
        self.content_type(collection)
        refused: dict[int, tuple[dict, str]] = {}
        for permission in write_actions(collection, "create"):
            answers = self._ext.authz.allowed_documents(user, permission, project, collection, documents)
            for i, allowed in enumerate(answers):
                if not allowed and i not in refused:
                    refused[i] = (documents[i], permission)
        return [refused[i] for i in sorted(refused)]

    def may_write(self, user, project, collection: str, document: dict, action: str = "update") -> bool:
        """:meth:`authorize_write` as a boolean (NotFound still raises)."""
        try:
            self.authorize_write(user, project, collection, document, action)
        except Forbidden:
            return False
        return True
