"""Passwords for people who sign in: argon2id hashes (argon2-cffi's defaults, the RFC 9106
recommendation), checked in constant work whether or not the account exists.

Why argon2 and not SHA-256 like API tokens: a token is 256 random bits, a password is what a
person remembers, so a stolen hash must be slow and memory-hard to guess from."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .errors import AladdinError

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; a cap keeps a megabyte "password" from costing CPU

_hasher = PasswordHasher()
# Verified when the email is unknown, so a wrong email costs what a wrong password costs and
# response times do not tell which accounts exist.
_DUMMY = _hasher.hash("not a password of anyone's")


def check_new_password(password: object, email: str | None = None) -> str:
    """``password`` if it may be set, else a 422 saying why."""
    if not isinstance(password, str) or not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise AladdinError(f"a password has {MIN_LENGTH} to {MAX_LENGTH} characters", status=422)
    if email and password.strip().lower() == email.strip().lower():
        raise AladdinError("a password must not be the account's email address", status=422)
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """``(matches, new_hash)``: ``new_hash`` is set when the stored hash used weaker parameters
    than today's and should be replaced (argon2's own ``check_needs_rehash``)."""
    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        return False, None
    try:
        _hasher.verify(stored_hash or _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    if not stored_hash:
        return False, None  # the dummy matched nothing real
    return True, (_hasher.hash(password) if _hasher.check_needs_rehash(stored_hash) else None)
