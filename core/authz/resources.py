"""What policies see: the actor (``User``), ``Project`` and ``Content`` with every field of the document.

A field a document does not have reads as :data:`MISSING`, which equals nothing and is below
every value (as MongoDB sorts it), so ``doc.x = 1`` is false, ``doc.x != 1`` and ``doc.x < 3``
are true, and ``not doc.x >= 3`` means the same as ``doc.x < 3`` (which is what Polar's partial
evaluation turns it into when a list's filter is compiled)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

from bson import ObjectId
from polar import Variable


class _Missing:
    """The value of a field the document does not have: ``!=`` anything, below every value."""

    __slots__ = ()

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    def __lt__(self, other):
        return True

    __le__ = __lt__

    def __gt__(self, other):
        return False

    __ge__ = __gt__

    def __hash__(self):
        return 0

    def __bool__(self):
        return False

    def __iter__(self):  # `"x" in doc.content.tags` is false when there are no tags
        return iter(())

    def __getattr__(self, name: str):  # `doc.content.meta.rating` when there is no `meta`
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __repr__(self):
        return "MISSING"


MISSING = _Missing()


class Fields:
    """A document's sub-object (``doc.content``) as attributes; absent keys read as ``MISSING``."""

    __slots__ = ("_data",)

    def __init__(self, data: dict):
        self._data = data

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return policy_value(self._data.get(name, MISSING))

    def __eq__(self, other):
        return isinstance(other, Fields) and other._data == self._data

    def __hash__(self):
        return id(self)

    def __repr__(self):
        return f"Fields({self._data!r})"


def policy_value(value: Any) -> Any:
    """A stored value as Polar compares it: objects as :class:`Fields`, ids as strings."""
    if isinstance(value, dict):
        return Fields(value)
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [policy_value(v) for v in value]
    return value


_PLAIN = (str, int, float, bool, type(None), list, dict)


def user_attributes(user: Any) -> dict:
    """The authenticated user's own fields a rule may test (``actor.name``, a plugin's
    ``actor.department``): its stored document, or its public plain attributes."""
    if hasattr(user, "to_mongo"):
        data = dict(user.to_mongo())
    else:
        data = {k: v for k, v in vars(user).items() if not k.startswith("_")} if hasattr(user, "__dict__") else {}
    return {k: v for k, v in data.items() if not k.startswith("_") and k not in ("id", "email")
            and isinstance(v, _PLAIN)}


class User:
    """The user as policies see it: ``id``, ``email``, ``role_in(project)`` and every other field
    of the authenticated user (``attributes``; a field it lacks reads as :data:`MISSING`)."""

    def __init__(self, id: str, email: str, role_lookup: Callable[[str, str], str | None],
                 attributes: dict | None = None):
        self.id = id
        self.email = email
        self._role_lookup = role_lookup
        self._roles: dict[str, str | None] = {}
        self._attributes = dict(attributes or {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return policy_value(self._attributes.get(name, MISSING))

    @functools.cached_property
    def facts(self) -> str:
        """Everything about the actor a rule can test besides its role (a cache key part; an
        actor's fields are fixed when it is built, so the key once)."""
        return repr((self.id, self.email, sorted(self._attributes.items())))

    def role_in(self, project: "Project") -> str | None:
        # One lookup per project per request, however many rules ask.
        if project.id not in self._roles:
            self._roles[project.id] = self._role_lookup(self.id, project.id)
        return self._roles[project.id]


class ListReader(User):
    """The actor while a read rule is compiled for one project's list.

    The document is unknown then, so ``doc.project`` reaches ``role_in`` as a Polar variable;
    every document of the list belongs to the one project whose role is known, so that is the
    answer. This is what specialises a rule on actor, project and role before it is compiled."""

    def __init__(self, actor: User, project: "Project"):
        super().__init__(actor.id, actor.email, actor._role_lookup, actor._attributes)
        self._roles = actor._roles
        self._project = project

    def role_in(self, project) -> str | None:
        if not isinstance(project, Project):
            project = self._project
        return super().role_in(project)


#: ``policy check`` reads every actor attribute as a Polar variable named with this prefix.
ACTOR_VARIABLE = "aladdin_actor_"
#: What such a variable stands for once a clause is translated (any value gives the same shape).
SYMBOLIC_VALUE = "actor-attribute"


class SymbolicReader(ListReader):
    """Any actor with one role: ``actor.email``, ``actor.id`` and every other attribute are
    unknown, so Polar explores every branch a rule has for some actor (``policy check``)."""

    def __init__(self, role: str | None, project: "Project"):
        super().__init__(User("", "", lambda user_id, project_id: role), project)

    id = property(lambda self: Variable(ACTOR_VARIABLE + "id"), lambda self, value: None)
    email = property(lambda self: Variable(ACTOR_VARIABLE + "email"), lambda self, value: None)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return Variable(ACTOR_VARIABLE + name)


@dataclasses.dataclass
class Project:
    id: str
    slug: str = ""
    owner_id: str = ""


#: Names Polar uses for platform fields that are stored under another name.
STORED_NAMES = {"id": "_id", "created_by": "createdBy"}


class Content:
    """One content document: ``project``, ``collection``, ``id``, ``created_by``, ``content`` and
    every other top-level field under its JSON name (``doc.status``, ``doc.isClone``, ...)."""

    __slots__ = ("project", "collection", "id", "created_by", "content", "_document")

    def __init__(self, project: Project, collection: str, id: str = "", created_by: str | None = None,
                 document: dict | None = None):
        self.project = project
        self.collection = collection
        self.id = id
        self.created_by = created_by
        self._document = document or {}
        self.content = policy_value(self._document.get("content", MISSING))

    @classmethod
    def of(cls, project: Project, collection: str, document: dict | None) -> "Content":
        doc = document or {}
        return cls(project, collection, str(doc.get("_id", doc.get("id", ""))), doc.get("createdBy"), doc)

    @property
    def version(self):
        return self._document.get("version")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return policy_value(self._document.get(name, MISSING))

    def __repr__(self):
        return f"Content({self.collection}/{self.id})"
