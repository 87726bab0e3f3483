"""The realtime bus between processes: one typed message per kind, encoded and decoded here only.

Socket.IO rooms cannot carry what each process must do itself (apply an update to its Y.Doc
copy, filter an event per recipient, drop a revoked user's sockets), so those travel on one Redis
channel per installation. Every message names its ``origin`` (the sending server process, or
None from a process without sockets: the CLI, a worker); a process skips its own messages except
``Content``, which every server delivers to its own sockets, the sender's included."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any, ClassVar

from bson import json_util

DocKey = tuple  # (projectId, collection, documentId)


def bus_channel(settings) -> str:
    """The installation's Redis channel for the messages below."""
    return f"aladdin-realtime-{settings.platform_db}"


@dataclasses.dataclass(frozen=True)
class Message:
    kind: ClassVar[str] = ""
    origin: str | None = dataclasses.field(default=None, kw_only=True)


@dataclasses.dataclass(frozen=True)
class YjsUpdate(Message):
    """An update stored by ``origin``: the others apply it to their copy and pass it on. A server
    update (a write made elsewhere) carries the stored ``document``, so each process sends it
    only to sockets whose user may view the document as written."""
    kind: ClassVar[str] = "yjs"
    key: DocKey
    update: bytes
    version: int | None = None
    document: dict | None = None


@dataclasses.dataclass(frozen=True)
class Resync(Message):
    """Updates of ``key`` were stored while the bus could not relay them: catch up from storage."""
    kind: ClassVar[str] = "resync"
    key: DocKey


@dataclasses.dataclass(frozen=True)
class DocumentDeleted(Message):
    kind: ClassVar[str] = "ydelete"
    key: DocKey
    slug: str


@dataclasses.dataclass(frozen=True)
class Awareness(Message):
    kind: ClassVar[str] = "awareness"
    key: DocKey
    update: bytes


@dataclasses.dataclass(frozen=True)
class AwarenessQuery(Message):
    """Socket ``sid`` opened ``key`` on ``origin``: the others send it their sockets' states."""
    kind: ClassVar[str] = "awareness_query"
    key: DocKey
    sid: str


@dataclasses.dataclass(frozen=True)
class Content(Message):
    """A room event about ``document`` for the project's sockets whose user may view it (the
    ``redacted`` payload, if any, for the others); ``skip``: the sender's socket."""
    kind: ClassVar[str] = "content"
    project: str
    collection: str
    event: str
    data: Any
    document: dict
    skip: str | None = None
    redacted: Any = None


@dataclasses.dataclass(frozen=True)
class Kick(Message):
    """``user`` was removed from ``project``: its sockets leave the project's rooms."""
    kind: ClassVar[str] = "kick"
    project: str
    user: str


@dataclasses.dataclass(frozen=True)
class CredentialsChanged(Message):
    """``user``'s tokens or account changed: its sockets are re-checked."""
    kind: ClassVar[str] = "credentials"
    user: str


@dataclasses.dataclass(frozen=True)
class RolesChanged(Message):
    """A role or the ownership changed in ``project``: who may view what is decided again."""
    kind: ClassVar[str] = "roles"
    project: str


KINDS = {cls.kind: cls for cls in (YjsUpdate, Resync, DocumentDeleted, Awareness, AwarenessQuery, Content,
                                   Kick, CredentialsChanged, RolesChanged)}
_BYTES, _BSON = frozenset({"update"}), frozenset({"document"})


def encode(message: Message) -> str:
    """JSON text: bytes as base64, documents as MongoDB extended JSON (BSON types kept for the
    read filter), the key as a list."""
    body: dict[str, Any] = {"kind": message.kind}
    for field in dataclasses.fields(message):
        value = getattr(message, field.name)
        if value is not None and field.name in _BYTES:
            value = base64.b64encode(value).decode()
        elif value is not None and field.name in _BSON:
            value = json_util.dumps(value, default=str)
        elif field.name == "key":
            value = list(value)
        body[field.name] = value
    return json.dumps(body)


def decode(raw: bytes | str) -> Message:
    """The message ``encode`` made; ValueError for anything else."""
    body = json.loads(raw)
    cls = KINDS.get(body.pop("kind", None)) if isinstance(body, dict) else None
    if cls is None:
        raise ValueError("not a realtime bus message")
    for name in _BYTES & body.keys():
        body[name] = base64.b64decode(body[name]) if body[name] is not None else None
    for name in _BSON & body.keys():
        body[name] = json_util.loads(body[name]) if body[name] is not None else None
    if "key" in body:
        body["key"] = tuple(body["key"])
    return cls(**body)


def own(raw: bytes | str, origin: str) -> bool:
    """Did ``origin`` publish ``raw`` itself (a content event aside: every process delivers
    those)? Read from the head :func:`encode` writes (``{"kind": ..., "origin": ...``), not
    decoded: every process receives its own messages back, most of them awareness updates."""
    head = raw[:200] if isinstance(raw, bytes) else raw[:200].encode()
    return not head.startswith(b'{"kind": "content"') and f'", "origin": "{origin}", '.encode() in head


def publish(redis, settings, message: Message) -> int:
    """Put ``message`` on the installation's bus (raises what Redis raises); how many processes
    listen to it, this one included."""
    return redis.publish(bus_channel(settings), encode(message))


def send(app, message: Message) -> None:
    """:func:`publish` through ``app``'s Redis, from any process of the installation."""
    ext = app.extensions["aladdin"]
    publish(ext.jobs.redis, ext.settings, message)


def listening(redis, settings) -> int:
    """How many processes listen to the installation's bus now, this one included."""
    return sum(int(count) for _channel, count in redis.pubsub_numsub(bus_channel(settings)))


class Listeners:
    """Whether any other process listens to the bus, as last seen: a publish answers how many
    listen, a message from another process means one does, and the sweeper counts them.

    Why: a process alone (``aladdin serve``, an operator's first install) published every
    awareness update -- two per connection, every cursor move -- for nobody, and read each back.
    While it is alone, awareness updates are not published: they are live-only, and a process
    that starts later asks for the states as its sockets open a document (``AwarenessQuery``),
    a question that also tells this one it is no longer alone. Everything else is published
    always (a Yjs update is relayed to every process that may have loaded the document)."""

    def __init__(self):
        self.alone = False  # until a count says so, others may listen

    def skips(self, message: Message) -> bool:
        return self.alone and isinstance(message, Awareness)

    def counted(self, listening: int | None) -> None:
        if listening is not None:
            self.alone = listening == 1

    def heard(self) -> None:
        self.alone = False

