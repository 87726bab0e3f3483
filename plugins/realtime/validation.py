"""Shape and size checks for Socket.IO payloads, so bad input gets an error ack instead of a 500."""

from __future__ import annotations

import re
from typing import Any

from core.compat.engineio import MAX_MESSAGE_BYTES, OVERSIZED, Oversized
from core.content import COLLECTION_RE
from core.models import is_object_id, is_slug

MAX_DEPTH = 32
MAX_PATCH_KEYS = 200
MAX_POSITION_BYTES = 4096
# Identifiers follow the core's rules (\Z-anchored: no trailing newline slips through).
OBJECT_ID_RE = re.compile(r"^[0-9a-f]{24}\Z")
STATUSES = ("active", "idle", "away")


class InvalidMessage(Exception):
    """A payload the server refuses; ``code`` goes to the client in the error ack."""

    def __init__(self, message: str, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.code = code


def payload_size(value: Any, _depth: int = 0) -> int:
    """An upper bound of the payload's wire size, refusing absurd nesting on the way."""
    if _depth > MAX_DEPTH:
        raise InvalidMessage("message nested too deeply")
    if isinstance(value, Oversized):  # stood in for on the wire (see core.compat.engineio)
        return value.size
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass")) + 2
    if isinstance(value, dict):
        return 2 + sum(payload_size(k, _depth + 1) + payload_size(v, _depth + 1) + 2 for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return 2 + sum(payload_size(v, _depth + 1) + 1 for v in value)
    return 8


def check_payload(data: Any, limit: int = MAX_MESSAGE_BYTES) -> dict:
    """The event's single argument must be an object no larger than ``limit`` bytes."""
    if not isinstance(data, dict):
        raise InvalidMessage("the event payload must be an object")
    size = data[OVERSIZED] if isinstance(data.get(OVERSIZED), int) else payload_size(data)
    if size > limit:
        raise InvalidMessage(f"message larger than {limit} bytes ({size})", code="too_large")
    return data


def project_ref(data: dict) -> str:
    value = data.get("projectId")
    if not (is_object_id(value) or is_slug(value)):
        raise InvalidMessage("projectId must be a project id or slug")
    return value


def collection_name(data: dict) -> str:
    value = data.get("collection")
    if not isinstance(value, str) or not COLLECTION_RE.match(value):
        raise InvalidMessage("collection must be a collection name")
    return value


def document_id(data: dict, key: str = "documentId") -> str:
    value = data.get(key)
    if not is_object_id(value):
        raise InvalidMessage(f"{key} must be a document id (24 hex characters)")
    return value


def base_version(data: dict) -> int:
    value = data.get("baseVersion")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidMessage("baseVersion must be a positive integer")
    return value


def patch(data: dict) -> dict:
    value = data.get("patch")
    if not isinstance(value, dict) or not value:
        raise InvalidMessage("patch must be a non-empty object of dotted field paths")
    if len(value) > MAX_PATCH_KEYS:
        raise InvalidMessage(f"patch may change at most {MAX_PATCH_KEYS} fields")
    if not all(isinstance(k, str) for k in value):
        raise InvalidMessage("patch keys must be strings")
    return value


def binary(data: dict, key: str = "message") -> bytes:
    value = data.get(key)
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
    elif isinstance(value, list) and len(value) <= MAX_MESSAGE_BYTES and all(
            isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in value):
        value = bytes(value)  # some clients send Uint8Array as a plain array
    else:
        raise InvalidMessage(f"{key} must be binary (a y-protocols frame)")
    if not value:
        raise InvalidMessage(f"{key} is empty")
    return value


def position(data: dict) -> Any:
    value = data.get("position")
    if value is None or isinstance(value, bool) or not isinstance(value, (dict, list, int, float, str)):
        raise InvalidMessage("position must be an object, array, number or string")
    if payload_size(value) > MAX_POSITION_BYTES:
        raise InvalidMessage(f"position larger than {MAX_POSITION_BYTES} bytes", code="too_large")
    return value


def status(data: dict) -> str | None:
    value = data.get("status")
    if value is None:
        return None
    if value not in STATUSES:
        raise InvalidMessage(f"status must be one of {', '.join(STATUSES)}")
    return value


def auth_token(auth: Any) -> str | None:
    if not isinstance(auth, dict):
        return None
    token = auth.get("token")
    if not isinstance(token, str) or not token or len(token) > 512:
        return None
    return token
