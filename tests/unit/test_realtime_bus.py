"""The realtime bus's typed messages (issue 21, point 9): every kind survives the wire, BSON
values in a document stay BSON (the read filter of each process decides on them), and anything
else on the channel is refused rather than half-read."""

from __future__ import annotations

import datetime

import pytest
from bson import ObjectId

from plugins.realtime import bus

KEY = ("p1", "scenes", "d1")
DOCUMENT = {"_id": ObjectId(), "createdAt": datetime.datetime(2026, 1, 2, 3, 4, 5), "content": {"title": "x"}}
MESSAGES = [
    bus.YjsUpdate(KEY, b"\x00\x01\xff", origin="proc"),
    bus.YjsUpdate(KEY, b"\x01", 7, DOCUMENT),
    bus.Resync(KEY, origin="proc"),
    bus.DocumentDeleted(KEY, "film"),
    bus.Awareness(KEY, b"\x01\x02"),
    bus.AwarenessQuery(KEY, "sid-1", origin="proc"),
    bus.Content("p1", "scenes", "content_change", {"documentId": "d1"}, DOCUMENT, skip="sid-2",
                redacted={"documentId": None}),
    bus.Kick("p1", "u1"),
    bus.CredentialsChanged("u1", origin="proc"),
    bus.RolesChanged("p1"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.kind)
def test_every_kind_round_trips(message):
    assert bus.decode(bus.encode(message)) == message


def test_every_kind_is_covered():
    assert {m.kind for m in MESSAGES} == set(bus.KINDS)


def test_a_document_keeps_its_bson_types():
    decoded = bus.decode(bus.encode(MESSAGES[1]))
    assert isinstance(decoded.document["_id"], ObjectId)
    assert decoded.document["createdAt"] == DOCUMENT["createdAt"]


@pytest.mark.parametrize("raw", ['{"t": "yjs", "k": ["a"]}', '[]', '{"kind": "nope"}'])
def test_anything_else_is_refused(raw):
    with pytest.raises(ValueError):
        bus.decode(raw)


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.kind)
def test_a_process_knows_its_own_messages_without_decoding_them(message):
    """Every process receives what it published; all but content events (every process delivers
    those to its own sockets) are left out from their head, as ``_on_bus`` would after decoding."""
    import dataclasses

    raw = bus.encode(dataclasses.replace(message, origin="proc-1")).encode()
    assert bus.own(raw, "proc-1") is (message.kind != "content")
    assert bus.own(raw.decode(), "proc-1") is (message.kind != "content")
    assert not bus.own(raw, "proc-2") and not bus.own(raw, "proc")
