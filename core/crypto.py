"""AES-256-GCM field encryption with key ids, so keys can rotate without re-encrypting at once."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import mongoengine as me
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MARKER = "enc:v1:"


class DecryptionError(Exception):
    """A ciphertext was tampered with, or was written with a key this installation lacks.

    Not a ``ValueError``: MongoEngine turns a ValueError raised while loading a field into a
    generic ``InvalidDocumentError``, which would hide that the refusal was cryptographic."""


class KeyRing:
    """``ALADDIN_ENCRYPTION_KEY`` is ``kid:base64key[,kid:base64key...]`` or one bare base64 key;
    the first key encrypts, every key decrypts."""

    def __init__(self, spec: str):
        self.keys: dict[str, bytes] = {}
        self.current: str | None = None
        for part in [p.strip() for p in spec.split(",") if p.strip()]:
            kid, _, raw = part.rpartition(":")
            key = _decode_key(raw)
            kid = kid or hashlib.sha256(key).hexdigest()[:8]
            self.keys[kid] = key
            self.current = self.current or kid
        if not self.keys:
            raise ValueError("ALADDIN_ENCRYPTION_KEY holds no key")

    @classmethod
    def from_settings(cls, settings) -> "KeyRing":
        if settings.encryption_key:
            return cls(settings.encryption_key)
        if settings.production:
            raise RuntimeError(
                "ALADDIN_ENCRYPTION_KEY is required in production (ALADDIN_ENV=production): "
                "set it to a base64-encoded 32-byte key, e.g. "
                "python -c \"import os,base64;print(base64.b64encode(os.urandom(32)).decode())\"")
        # Development: a key derived from the persistent secret, so data survives restarts.
        derived = hashlib.sha256(("aladdin-dev-encryption:" + settings.secret_key).encode()).digest()
        return cls("dev:" + base64.b64encode(derived).decode())

    def encrypt(self, plaintext: str, associated: bytes = b"") -> str:
        nonce = os.urandom(12)
        ct = AESGCM(self.keys[self.current]).encrypt(nonce, plaintext.encode(), associated or None)
        return f"{MARKER}{self.current}:{base64.urlsafe_b64encode(nonce + ct).decode()}"

    def decrypt(self, token: str, associated: bytes = b"") -> str:
        if not isinstance(token, str) or not token.startswith(MARKER):
            raise DecryptionError("value is not an Aladdin ciphertext")
        kid, _, payload = token[len(MARKER):].partition(":")
        key = self.keys.get(kid)
        if key is None:
            raise DecryptionError(f"no key with id {kid!r} to decrypt this value")
        try:
            raw = base64.urlsafe_b64decode(payload.encode())
            return AESGCM(key).decrypt(raw[:12], raw[12:], associated or None).decode()
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError("ciphertext was tampered with or is corrupt") from exc

    def is_ciphertext(self, value: Any) -> bool:
        """True only for a value this ring can decrypt: a plaintext that merely starts with
        the marker (a client can send one) must still be encrypted, not stored as is."""
        if not isinstance(value, str) or not value.startswith(MARKER):
            return False
        try:
            self.decrypt(value)
        except DecryptionError:
            return False
        return True


def _decode_key(raw: str) -> bytes:
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ValueError("each ALADDIN_ENCRYPTION_KEY key must be base64 of exactly 32 bytes (AES-256)")
    return key


_keyring: KeyRing | None = None


def current_keyring() -> KeyRing:
    from flask import current_app, has_app_context

    if has_app_context():
        return current_app.extensions["aladdin"].keyring
    if _keyring is None:
        raise RuntimeError("no encryption key ring: use inside an app context")
    return _keyring


class EncryptedStringField(me.StringField):
    """A MongoEngine string stored as AES-256-GCM ciphertext; reading a tampered value raises."""

    def to_mongo(self, value: Any) -> Any:
        keyring = current_keyring()
        if value is None or keyring.is_ciphertext(value):
            return value
        return keyring.encrypt(str(value))

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(MARKER):
            return current_keyring().decrypt(value)
        return value

    def validate(self, value: Any) -> None:
        if value is not None and not isinstance(value, str):
            self.error("EncryptedStringField only accepts strings")

    def prepare_query_value(self, op, value):
        raise me.errors.OperationError("encrypted fields cannot be queried")


class ContentCodec:
    """Encrypts the ``sensitive_fields`` a content type declares, in place, on the way to the database."""

    def __init__(self, keyring: KeyRing):
        self.keyring = keyring

    def encrypt_document(self, ctype, document: dict) -> None:
        from .content import get_path, set_path

        for path in ctype.sensitive_fields:
            value = get_path(document, path)
            if value is not None and not self.keyring.is_ciphertext(value):
                import json

                set_path(document, path, self.keyring.encrypt(json.dumps(value)))

    def decrypt_document(self, ctype, document: dict) -> None:
        from .content import get_path, set_path

        for path in ctype.sensitive_fields:
            value = get_path(document, path)
            if isinstance(value, str) and value.startswith(MARKER):
                import json

                set_path(document, path, json.loads(self.keyring.decrypt(value)))
