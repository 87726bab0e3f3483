"""Platform documents: users, hashed API tokens, projects, memberships, job records."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import threading

import mongoengine as me
from flask import current_app
from mongoengine.connection import get_db

from .compat.mongoengine import PerCallDatabaseDocument, collection_name, collection_of

ROLES = ("owner", "editor", "collaborator", "viewer")
# The one slug rule (database names, storage folders, URLs): \Z, not $, which would also
# accept a trailing newline. A slug never looks like an object id (see ``is_object_id``).
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])\Z")
OBJECT_ID_RE = re.compile(r"^[0-9a-f]{24}\Z")


def is_object_id(value) -> bool:
    """Is ``value`` the string form of an object id (24 lowercase hex digits, nothing else)?"""
    return isinstance(value, str) and OBJECT_ID_RE.match(value) is not None


def is_slug(value) -> bool:
    """Is ``value`` a well-formed project slug (and so not an object id)?"""
    return isinstance(value, str) and SLUG_RE.match(value) is not None and "--" not in value \
        and not is_object_id(value)
TOKEN_PREFIX = "ald_"


def utcnow() -> dt.datetime:
    # Stored naive-UTC, as pymongo returns datetimes unless tz_aware is set.
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)  # BSON keeps milliseconds


def isoformat(value: dt.datetime | None) -> str | None:
    return value.replace(tzinfo=dt.timezone.utc).isoformat().replace("+00:00", "Z") if value else None


class AppDocument(PerCallDatabaseDocument):
    """A platform document, in the database of the app handling the call (``current_app``),
    so several apps in one process keep apart (see ``PerCallDatabaseDocument``)."""

    meta = {"abstract": True}

    @classmethod
    def database_alias(cls) -> str:
        return current_app.extensions["aladdin"].db.platform_alias


_handles = threading.local()
_MAX_HANDLES = 32  # per thread: a few platform collections of the few apps of one process


def hot_collection(model):
    """``collection_of(model)`` for per-request lookups, minus rebuilding the handle each time.

    Building a collection handle costs as much as a quarter of an indexed lookup on the embedded
    store. Handles are kept per thread (the old embedded store bound them to their thread) and
    per database alias, and dropped as soon as the alias's database object changes (disconnect,
    reconnect after a fork), so a stale connection is never reused."""
    alias = current_app.extensions["aladdin"].db.platform_alias
    name = collection_name(model)
    db = get_db(alias)
    cache = getattr(_handles, "cache", None)
    if cache is None:
        cache = _handles.cache = {}
    hit = cache.get((alias, name))
    if hit is not None and hit[0] is db:
        return hit[1]
    collection = collection_of(model)  # also makes sure the model's indexes exist
    if len(cache) >= _MAX_HANDLES:  # apps come and go (tests): don't keep their databases alive
        cache.clear()
    cache[(alias, name)] = (db, collection)
    return collection


def normalise_email(email: str | None) -> str | None:
    return email.strip().lower() if isinstance(email, str) else email


class User(AppDocument):
    email = me.EmailField(required=True, unique=True)
    name = me.StringField(max_length=200)
    createdAt = me.DateTimeField(default=utcnow)
    #: An argon2 hash (core/passwords.py); None for accounts that only use API tokens.
    passwordHash = me.StringField()
    meta = {"collection": "users", "indexes": []}

    def clean(self) -> None:
        self.email = normalise_email(self.email)

    @classmethod
    def by_email(cls, email: str) -> "User | None":
        """The user with ``email``, whatever its case: emails are stored normalised, so an exact
        match serves (and needs no regular expression, which the embedded server cannot take)."""
        return cls.objects(email=normalise_email(email)).first()

    def to_json(self) -> dict:
        return {"id": str(self.id), "email": self.email, "name": self.name,
                "createdAt": isoformat(self.createdAt)}


def hash_token(token: str) -> str:
    """Tokens are stored as SHA-256: high-entropy secrets need no slow KDF, and lookup stays O(1)."""
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(AppDocument):
    user = me.ReferenceField(User, required=True)
    #: The user's id as a string, which lookups by user match on: a stored ObjectId outside
    #: ``_id`` cannot be matched on the embedded document server (``core.nx_compat``).
    userId = me.StringField()
    tokenHash = me.StringField(required=True, unique=True)
    prefix = me.StringField()
    name = me.StringField(default="default")
    createdAt = me.DateTimeField(default=utcnow)
    lastUsedAt = me.DateTimeField()
    revoked = me.BooleanField(default=False)
    #: Only for tokens issued with a keyring (the demo users'): the token encrypted with the
    #: installation's key, bound to its hash, so ``serve --demo`` can show the same one again.
    sealed = me.StringField()
    #: Sign-in access tokens only (core/sessions.py): when it stops working, and its session.
    expiresAt = me.DateTimeField()
    sessionId = me.StringField()
    meta = {"collection": "api_tokens", "indexes": ["userId"]}

    def expired(self, now=None) -> bool:
        return self.expiresAt is not None and self.expiresAt <= (now or utcnow())

    def clean(self) -> None:
        if self.user is not None and getattr(self.user, "id", None) is not None:
            self.userId = str(self.user.id)

    @classmethod
    def issue(cls, user: User, name: str = "default", keyring=None, *, expires_at=None,
              session_id: str | None = None) -> str:
        """Create a token for ``user`` and return it; only its hash is kept (and, given a
        ``keyring``, its ciphertext: ``core.demo`` shows the demo users' tokens again).
        ``expires_at`` and ``session_id`` make it a sign-in access token (core/sessions.py)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = hash_token(token)
        sealed = keyring.encrypt(token, associated=digest.encode()) if keyring is not None else None
        cls(user=user, tokenHash=digest, prefix=token[:8], name=name, sealed=sealed, expiresAt=expires_at,
            sessionId=session_id).save()
        return token

    @classmethod
    def revoke(cls, user: User, name: str | None = None) -> int:
        """Revoke ``user``'s live tokens (those called ``name``, or all); returns how many.

        Document by document, not a bulk update: each save sends MongoEngine's ``post_save``
        signal, through which the authentication plugin drops the token from every process's
        cache, so the revocation holds on the very next request anywhere."""
        query = {"userId": str(user.id), "revoked": False}
        if name is not None:
            query["name"] = name
        count = 0
        for token in cls.objects(**query):
            token.revoked = True
            token.save()
            count += 1
        return count


class OneTimeToken(AppDocument):
    """A secret handed out once and kept as its hash, used up by a compare-and-set on ``used``."""

    tokenHash = me.StringField(required=True, unique=True)
    userId = me.StringField(required=True)
    createdAt = me.DateTimeField(default=utcnow)
    expiresAt = me.DateTimeField(required=True)
    used = me.BooleanField(default=False)
    meta = {"abstract": True}


class RefreshToken(OneTimeToken):
    """One refresh token of a sign-in session (core/sessions.py): used once, then replaced."""

    sessionId = me.StringField(required=True)
    revoked = me.BooleanField(default=False)
    meta = {"collection": "refresh_tokens", "indexes": ["sessionId", "userId"]}


class PasswordReset(OneTimeToken):
    """A password-reset link's token, valid once until ``expiresAt``."""

    meta = {"collection": "password_resets", "indexes": ["userId"]}


class Project(AppDocument):
    slug = me.StringField(required=True, unique=True, regex=SLUG_RE)
    name = me.StringField(required=True, max_length=200)
    description = me.StringField(max_length=5000, default="")
    ownerId = me.StringField(required=True)
    createdAt = me.DateTimeField(default=utcnow)
    updatedAt = me.DateTimeField(default=utcnow)
    settings = me.DictField()
    meta = {"collection": "projects"}

    @property
    def database_name(self) -> str:
        return "open_" + self.slug

    def to_json(self, role: str | None = None) -> dict:
        data = {"id": str(self.id), "slug": self.slug, "name": self.name,
                "description": self.description, "ownerId": self.ownerId,
                "database": self.database_name, "createdAt": isoformat(self.createdAt),
                "updatedAt": isoformat(self.updatedAt)}
        if role:
            data["role"] = role
        return data


class Membership(AppDocument):
    projectId = me.StringField(required=True)
    userId = me.StringField(required=True)
    role = me.StringField(required=True, choices=ROLES)
    addedAt = me.DateTimeField(default=utcnow)
    addedBy = me.StringField()
    lastActiveAt = me.DateTimeField()
    meta = {"collection": "members",
            "indexes": [{"fields": ["projectId", "userId"], "unique": True}, "userId"]}


class JobRecord(AppDocument):
    """A background job as users see it (clone, export, ...); RQ keeps only the mechanics."""

    kind = me.StringField(required=True)
    projectId = me.StringField(required=True)
    createdBy = me.StringField()
    status = me.StringField(default="queued", choices=("queued", "processing", "completed", "failed", "expired"))
    progress = me.FloatField(default=0)
    params = me.DictField()
    result = me.DictField()
    error = me.StringField()
    batchId = me.StringField()
    attempts = me.IntField(default=0)
    #: One entry per attempt that did not finish: {attempt, startedAt, progress, outcome, error}
    #: (outcome "error", or "abandoned" when its worker died), so a retried job's earlier progress stays readable.
    history = me.ListField(me.DictField())
    createdAt = me.DateTimeField(default=utcnow)
    startedAt = me.DateTimeField()
    completedAt = me.DateTimeField()
    meta = {"collection": "jobs", "indexes": [("projectId", "kind", "-createdAt"), "batchId"]}


class MigrationRecord(AppDocument):
    name = me.StringField(required=True)
    database = me.StringField(required=True)
    appliedAt = me.DateTimeField(default=utcnow)
    meta = {"collection": "migrations", "indexes": [{"fields": ["database", "name"], "unique": True}]}
