"""Awareness ownership (issue 12 point 5) at the unit level: claims, takeovers, renewals, stamping."""

from __future__ import annotations

import uuid

import pytest
import redis
from pycrdt import Doc, Text

from plugins.realtime.awareness import AwarenessOwners, encode_awareness, relay_clock, stamp_state, update_clients
from plugins.realtime.awareness import parse_awareness

KEY = ("p" * 24, "scenes", "d" * 24)


@pytest.fixture
def pair(redis_server):
    client = redis.Redis.from_url(redis_server)
    prefix = "test-aw-" + uuid.uuid4().hex[:8]
    # Two server processes sharing one Redis.
    return AwarenessOwners(client, prefix, "proc-a"), AwarenessOwners(client, prefix, "proc-b")


def test_a_claim_holds_across_processes_until_released(pair):
    a, b = pair
    assert a.claim(KEY, "sid-1", "alice", [1, 2]) == set()
    assert a.claim(KEY, "sid-1", "alice", [1]) == set()           # its own: no round trip needed
    assert b.claim(KEY, "sid-9", "mallory", [1, 2, 3]) == {1, 2}  # another user, another process
    assert a.claim(KEY, "sid-2", "mallory", [1]) == {1}           # another user, same process
    assert a.release(KEY, "sid-1") == {1, 2}
    assert b.claim(KEY, "sid-9", "mallory", [1]) == set()


def test_the_same_user_takes_over_and_the_old_socket_then_removes_nothing(pair):
    a, b = pair
    assert a.claim(KEY, "old", "alice", [7]) == set()
    assert b.claim(KEY, "new", "alice", [7]) == set()
    assert a.release(KEY, "old") == set()   # not its any more: no removal is broadcast for it
    assert b.release(KEY, "new") == {7}


def test_renewal_forgets_claims_taken_over_and_releases_closed_sockets(pair):
    a, b = pair
    a.claim(KEY, "old", "alice", [7])
    a.claim(KEY, "gone", "bob", [8])
    b.claim(KEY, "new", "alice", [7])
    a.renew(lambda key, sid: sid != "gone")
    assert b.claim(KEY, "x", "carol", [8]) == set()  # released by the renewal
    assert b.claim(KEY, "x", "carol", [7]) == {7}    # still alice's (new), not retaken by the renewal
    assert a.release(KEY, "old") == set()


def test_identity_is_stamped_and_other_fields_stay():
    state = stamp_state({"user": {"name": "Boss", "color": "#f00"}, "userId": "x", "cursor": 3}, "u1", "Ann")
    assert state == {"user": {"name": "Ann", "color": "#f00", "id": "u1"}, "userId": "u1", "userName": "Ann",
                     "cursor": 3}
    assert stamp_state({"user": "Boss"}, "u1", "Ann")["user"] == {"id": "u1", "name": "Ann"}


def test_encoding_round_trips_and_update_clients_reads_the_writers():
    entries = [(5, 2, {"a": 1}), (6, 3, None)]
    assert parse_awareness(encode_awareness(entries)) == entries
    doc = Doc()
    doc.get("t", type=Text).insert(0, "hi")
    assert update_clients(doc.get_update()) == [doc.client_id]
    assert update_clients(b"\x00\x00") == []


def test_a_removed_ids_clock_outlives_the_document_on_every_process(pair):
    """The process that sees an id next (its document closed, or another process) knows the
    clock its removal went out with, so the client's unchanged re-announcement goes out above it."""
    a, b = pair
    a.admit(KEY, "old", "alice", [(41, 7, {"c": 1})], {})
    assert a.release(KEY, "old", {41: 7}) == {41}
    # The same user's client back (on another process, which never saw the id): above the removal.
    assert b.admit(KEY, "new", "alice", [(41, 7, {"c": 1})], {}) == ([(41, 8, {"c": 1})], set())
    assert b.admit(KEY, "new", "alice", [(42, 3, {"c": 2})], {}) == ([(42, 3, {"c": 2})], set())  # never seen
    # What this process holds wins when it is higher; the id is the socket's own now: no round trip.
    assert b.admit(KEY, "new", "alice", [(41, 8, {"c": 3})], {41: {"clock": 9}}) == ([(41, 10, {"c": 3})], set())
    assert relay_clock(7, 7) == 8 and relay_clock(7, 12) == 12 and relay_clock(0, 1) == 1


def test_echoes_are_not_news_and_claim_nothing(pair):
    """Stock y-websocket clients send back every awareness change they receive. An echo of a
    departed client's state, or of the user's other socket's state, goes nowhere and takes no id;
    an echoed removal of an id nobody holds removes nothing; another user's id is refused."""
    a, b = pair
    meta = {7: {"clock": 3}}
    assert a.admit(KEY, "ann", "alice", [(7, 3, {"c": 1})], {}) == ([(7, 3, {"c": 1})], set())
    # Bob echoes Alice's state while she is there: refused (dropped); after she left: ignored.
    assert b.admit(KEY, "bob", "bob", [(7, 3, {"c": 1})], meta) == ([], {7})
    assert a.release(KEY, "ann", {7: 3}) == {7}
    assert b.admit(KEY, "bob", "bob", [(7, 3, {"c": 1}), (7, 3, None)], meta) == ([], set())
    assert b.admit(KEY, "bob", "bob", [(9, 1, {"mine": True})], {}) == ([(9, 1, {"mine": True})], set())
    # Alice's two tabs: the second echoes the first's state (nothing new: no takeover, no relay) ...
    assert a.admit(KEY, "tab1", "alice", [(5, 2, {"t": 1})], {}) == ([(5, 2, {"t": 1})], set())
    assert a.admit(KEY, "tab2", "alice", [(5, 2, {"t": 1})], {5: {"clock": 2}}) == ([], set())
    assert a.release(KEY, "tab2") == set()
    # ... while a newer state of it is the client itself on a new connection: it takes the id over.
    assert b.admit(KEY, "tab3", "alice", [(5, 3, {"t": 2})], {5: {"clock": 2}}) == ([(5, 3, {"t": 2})], set())
    assert a.release(KEY, "tab1") == set()
    # A page reloaded at once gets its previous client's state with the others' and sends it back
    # after its own first announcement: that client has left, it stays gone.
    assert a.admit(KEY, "page1", "alice", [(21, 4, {"p": 1})], {}) == ([(21, 4, {"p": 1})], set())
    assert a.release(KEY, "page1", {21: 4}) == {21}
    # (a new client's first state, clock 0, goes out at 1: stock peers ignore clock 0 for an id they do not know)
    assert a.admit(KEY, "page2", "alice", [(22, 0, {"p": 2})], {}) == ([(22, 1, {"p": 2})], set())
    assert a.admit(KEY, "page2", "alice", [(21, 4, {"p": 1})], {21: {"clock": 4}}) == ([], set())
    # A removal keeps the peers' clock: they take one at an equal clock, never one below theirs.
    assert b.admit(KEY, "tab3", "alice", [(5, 1, None)], {5: {"clock": 3}}) == ([(5, 3, None)], set())


def test_the_process_that_released_an_id_drops_another_users_echo_of_it_by_itself(pair, monkeypatch):
    """A page opened just before a client left gets that client's state and sends it back after
    its removal: on the process that released the id, that echo needs no round trip to Redis."""
    a, _b = pair
    a.admit(KEY, "ann", "alice", [(31, 2, {"c": 1})], {})
    assert a.release(KEY, "ann", {31: 2}) == {31}
    meta = {31: {"clock": 2}}
    with monkeypatch.context() as m:
        m.setattr(a, "_scripts", lambda calls: pytest.fail(f"a round trip to Redis: {calls}"))
        assert a.admit(KEY, "bob", "bob", [(31, 2, {"c": 1})], meta) == ([], set())
    # The same user's client back with the same Y.Doc still asks Redis, and reappears at once.
    assert a.admit(KEY, "ann2", "alice", [(31, 2, {"c": 1})], meta) == ([(31, 3, {"c": 1})], set())


def test_scripts_lost_by_a_restarted_redis_are_loaded_again(pair):
    a, _b = pair
    a.redis.script_flush()
    assert a.admit(KEY, "s", "alice", [(11, 1, {"c": 1})], {}) == ([(11, 1, {"c": 1})], set())
    a.redis.script_flush()
    assert a.release(KEY, "s", {11: 1}) == {11}


def test_an_echo_is_what_the_servers_copy_holds_already():
    """What a plain WebSocket's stock provider sends back is left out before the event."""
    from pycrdt import Awareness

    from plugins.realtime.awareness import echoed

    copy = Awareness(Doc())
    copy.apply_awareness_update(encode_awareness([(5, 3, {"c": 1}), (6, 2, {"c": 2})]), "test")
    copy.apply_awareness_update(encode_awareness([(6, 2, None)]), "test")   # 6 has left
    assert echoed(copy, set(), encode_awareness([(5, 3, {"c": 1}), (6, 2, None)]))
    assert echoed(copy, set(), encode_awareness([(5, 2, {"c": 0})]))        # older still
    assert not echoed(copy, {5}, encode_awareness([(5, 3, {"c": 1})]))       # the socket's own id
    assert not echoed(copy, set(), encode_awareness([(5, 4, {"c": 1})]))     # newer: news
    assert not echoed(copy, set(), encode_awareness([(6, 2, {"c": 2})]))     # a departed client's state, as the
    assert echoed(copy, {9}, encode_awareness([(6, 2, {"c": 2})]))           # first announcement only: after it, an echo
    assert not echoed(copy, set(), encode_awareness([(5, 3, None)]))         # removing a live state
    assert not echoed(copy, set(), encode_awareness([(7, 0, {"c": 3})]))     # never seen
    assert not echoed(copy, set(), b"\x01\x05")                              # malformed: answered
    assert not echoed(copy, set(), encode_awareness([]))
