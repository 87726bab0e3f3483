"""The y-websocket wire format: each WebSocket message is one frame, a varUint message type first.

``0`` sync (the y-protocols sync message follows: the same bytes ``/collab``'s ``yjs`` event
carries), ``1`` awareness (a varUint8Array holding the bare awareness update ``/collab``'s
``awareness`` event carries), ``2`` auth (``0`` permission denied, then a varString reason), ``3``
query awareness. lib0's encodings: a varUint is 7 bits a byte, lowest first, the high bit set
on every byte but the last; a varUint8Array is its length as a varUint, then the bytes."""

from __future__ import annotations

from pycrdt import YSyncMessageType

from ..yjs import EMPTY_UPDATE

SYNC, AWARENESS, AUTH, QUERY_AWARENESS = 0, 1, 2, 3
PERMISSION_DENIED = 0
STEP1 = YSyncMessageType.SYNC_STEP1
STEP1_OF_NOTHING = bytes([SYNC, STEP1, 1, 0])   # a sync step 1 from an empty Y.Doc (state vector: no clients)
NOTHING = tuple(bytes([SYNC, kind, len(EMPTY_UPDATE)]) + EMPTY_UPDATE  # an update of no changes
                for kind in (YSyncMessageType.SYNC_STEP2, YSyncMessageType.SYNC_UPDATE))


class Malformed(ValueError):
    """A frame that does not decode."""


def var_uint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def read_var_uint(data: bytes, offset: int = 0) -> tuple[int, int]:
    """The varUint at ``offset`` and the offset after it."""
    value, shift = 0, 0
    while True:
        if offset >= len(data) or shift > 49:
            raise Malformed("truncated varUint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, offset
        shift += 7


def awareness_frame(update: bytes) -> bytes:
    return bytes([AWARENESS]) + var_uint(len(update)) + update


def awareness_update(frame: bytes) -> bytes:
    """The bare awareness update inside an awareness frame."""
    length, start = read_var_uint(frame, 1)
    if start + length != len(frame):
        raise Malformed("awareness frame length does not match")
    return bytes(frame[start:])


def permission_denied(reason: str) -> bytes:
    """y-protocols' auth message: stock clients report ``reason`` (y-websocket logs it)."""
    text = reason.encode("utf-8")
    return bytes([AUTH, PERMISSION_DENIED]) + var_uint(len(text)) + text
