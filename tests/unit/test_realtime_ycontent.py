"""The content <-> Y.Doc mapping: seeding, writes made elsewhere as minimal Yjs changes."""

from __future__ import annotations

from pycrdt import Doc, Map, Text

from plugins.realtime.ycontent import apply_write, rebase_text, seed, text_diff, to_python


def content(doc: Doc) -> dict:
    return {k: to_python(v) for k, v in doc.get("content", type=Map).items()}


def test_seed_maps_strings_to_texts_and_keeps_json_values():
    doc = Doc()
    stored = {"title": "Storm", "beats": [1, "two", {"k": "v"}], "meta": {"mood": "dark", "n": 3},
              "ok": True, "none": None, "bad key": "x", "secret": "s"}
    seed(doc, stored, skip=lambda name: name == "secret")
    ymap = doc.get("content", type=Map)
    assert isinstance(ymap["title"], Text) and isinstance(ymap["meta"]["mood"], Text)
    assert content(doc) == {k: v for k, v in stored.items() if k not in ("bad key", "secret")}


def test_text_rebase_keeps_live_typing_elsewhere():
    assert text_diff("Hello world", "Hi world") == (1, 4, "i")
    # The write changed the start; live typing at the end survives.
    assert rebase_text("Hello world", "Hello world!!", "Hi world") == (1, 4, "i")
    # Live typing before the write's range shifts it.
    assert rebase_text("abc def", ">> abc def", "abc DEF") == (7, 3, "DEF")
    # Same range: the write wins it.
    assert rebase_text("abc", "aXc", "aYc") == (1, 1, "Y")


def test_apply_write_is_minimal_and_merges_with_concurrent_typing():
    server, client = Doc(), Doc()
    seed(server, {"title": "Hello world", "n": 1}, skip=lambda n: False)
    client.apply_update(server.get_update())
    # The client types at the end meanwhile; the server applies a REST write of the start.
    sv = client.get_state()
    client.get("content", type=Map)["title"].insert(len("Hello world"), "!!")
    typed = client.get_update(sv)
    update = apply_write(server, {"title": "Hello world", "n": 1}, {"title": "Hi world", "n": 2, "new": "x"},
                         skip=lambda n: False)
    assert update is not None
    client.apply_update(update)
    server.apply_update(typed)
    assert content(client) == content(server) == {"title": "Hi world!!", "n": 2, "new": "x"}
    # Nothing to do: no update.
    assert apply_write(server, {"n": 2}, {"n": 2}, skip=lambda n: False) is None


def test_apply_write_leaves_fields_the_write_did_not_change():
    doc = Doc()
    seed(doc, {"title": "A", "body": "draft"}, skip=lambda n: False)
    doc.get("content", type=Map)["body"].insert(5, " (live)")
    apply_write(doc, {"title": "A", "body": "draft"}, {"title": "B", "body": "draft"}, skip=lambda n: False)
    assert content(doc) == {"title": "B", "body": "draft (live)"}
    apply_write(doc, {"title": "B", "tags": [1, 2, 3]}, {"tags": [1, 9, 3]}, skip=lambda n: False)
    assert content(doc) == {"body": "draft (live)", "tags": [1, 9, 3]}
