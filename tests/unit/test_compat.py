"""Every third-party internal kept in ``core/compat`` still behaves as its module says, on the installed version.

A failure names the library, its version and the internal: read that compat module's docstring,
then use a public API the new version offers or adapt the one module."""

from __future__ import annotations

import socket
import uuid
from importlib.metadata import version

import mongoengine as me
import mongomock
import pytest
import redis
from bson import ObjectId
from flask import Flask, jsonify
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from core.compat import flask_limiter as limiter_internals
from core.compat.mongoengine import PerCallDatabaseDocument, collection_of, from_son, is_new
from core.compat.mongomock import matches
from core.compat.redis import subscription_socket
from core.ratelimit import create_limiter

MODULES = {"flask-limiter": "flask_limiter", "mongoengine": "mongoengine", "mongomock": "mongomock",
           "redis": "redis", "pluggy": "pluggy", "python-socketio": "socketio",
           "python-engineio": "engineio", "simple-websocket": "simple_websocket"}


def changed(library: str, internal: str, what: str) -> str:
    return (f"{library} {version(library)} changed the internal {internal}: {what} "
            f"(see core/compat/{MODULES[library]}.py)")


# --- Flask-Limiter ------------------------------------------------------------------------------

def _limited_app() -> tuple[Flask, Limiter]:
    app = Flask(f"compat-{uuid.uuid4().hex[:6]}")
    limiter = Limiter(get_remote_address, storage_uri="memory://", headers_enabled=True)
    limiter_internals.init_app_without_hooks(app, limiter)
    return app, limiter


def test_flask_limiter_internals_exist():
    assert limiter_internals.missing() == [], changed("flask-limiter", ", ".join(limiter_internals.missing()),
                                                       "gone, so core.ratelimit falls back to ungated hooks")
    manager = Limiter(get_remote_address, storage_uri="memory://").limit_manager
    for owner, name in ((manager, "_default_limits"), (manager, "_application_limits"),
                        (manager, "_blueprint_limits"), (Limiter(get_remote_address), "_meta_limits"),
                        (Limiter(get_remote_address), "_in_memory_fallback_enabled")):
        assert hasattr(owner, name), changed("flask-limiter", f"{type(owner).__name__}.{name}",
                                             "gone, so the limit check runs on every request")


def test_flask_limiter_init_app_registers_no_hooks_for_a_listed_limiter():
    app, _limiter = _limited_app()
    hooks = [*app.before_request_funcs.get(None, ()), *app.after_request_funcs.get(None, ()),
             *app.teardown_request_funcs.get(None, ())]
    assert hooks == [], changed("flask-limiter", "Limiter.init_app",
                                "registers its request hooks although the limiter is already listed "
                                "in app.extensions['limiter'] (they would run twice)")


def test_flask_limiter_hooks_check_inject_and_release():
    app = Flask(f"compat-{uuid.uuid4().hex[:6]}")
    limiter = create_limiter(app, "memory://")  # the gated hooks, as every Aladdin app has them
    seen = {}

    @app.after_request  # runs before the limiter's own after_request (Flask runs them in reverse)
    def after(response):
        seen["touched"] = limiter_internals.touched()
        return response

    @app.route("/free")
    def free():
        return jsonify(ok=True)

    @app.route("/limited")
    @limiter.limit("1/minute")
    def limited():
        return jsonify(ok=True)

    client = app.test_client()
    assert not limiter_internals.has_middleware_limits(limiter), changed(
        "flask-limiter", "LimitManager limit lists", "not empty on a limiter that declares no limits")
    assert client.get("/free").status_code == 200 and seen["touched"] is False, changed(
        "flask-limiter", "_limiter_request_context", "set on a request no limit concerns")
    first = client.get("/limited")
    assert seen["touched"] is True, changed("flask-limiter", "_limiter_request_context",
                                            "no longer kept on the request context")
    assert first.headers.get("X-RateLimit-Limit") == "1", changed(
        "flask-limiter", "Limiter.__inject_headers", "no longer adds X-RateLimit-* headers")
    assert client.get("/limited").status_code == 429


def test_flask_limiter_blueprint_limits_switch_the_middleware_on():
    from flask import Blueprint

    app, limiter = _limited_app()
    bp = Blueprint("bp", __name__)
    limiter.limit("1/minute")(bp)
    assert limiter_internals.has_middleware_limits(limiter), changed(
        "flask-limiter", "LimitManager._blueprint_limits", "no longer holds blueprint limits")


# --- MongoEngine ---------------------------------------------------------------------------------

class CompatThing(me.Document):
    name = me.StringField()
    meta = {"collection": "compat_things"}


_ROUTE = {"alias": "compat-a"}


class CompatRouted(PerCallDatabaseDocument):
    name = me.StringField()
    meta = {"collection": "compat_routed", "indexes": ["name"]}

    @classmethod
    def database_alias(cls) -> str:
        return _ROUTE["alias"]


def test_mongoengine_from_son_builds_a_stored_document():
    oid = ObjectId()
    for name in ("_from_son", "_get_collection_name", "_get_collection", "_get_db"):
        assert hasattr(me.Document, name), changed("mongoengine", f"Document.{name}", "gone")
    thing = from_son(CompatThing, {"_id": oid, "name": "Anna"})
    assert (thing.id, thing.name) == (oid, "Anna"), changed("mongoengine", "Document._from_son",
                                                            "no longer maps stored fields")
    assert not is_new(thing) and is_new(CompatThing(name="Ben")), changed(
        "mongoengine", "Document._created", "no longer tells a loaded document from a new one")
    assert thing._get_changed_fields() == [], changed("mongoengine", "Document._from_son",
                                                      "marks a loaded document as changed")


@pytest.fixture
def two_databases():
    aliases = {"compat-a": f"compat_a_{uuid.uuid4().hex[:6]}", "compat-b": f"compat_b_{uuid.uuid4().hex[:6]}"}
    for alias, db in aliases.items():
        me.connect(db=db, alias=alias, host="mongodb://localhost", mongo_client_class=mongomock.MongoClient)
    yield aliases
    for alias in aliases:
        me.disconnect(alias)
    _ROUTE["alias"] = "compat-a"


def test_mongoengine_resolves_the_database_on_every_call(two_databases):
    CompatRouted(name="in a").save()
    _ROUTE["alias"] = "compat-b"
    assert CompatRouted.objects.count() == 0, changed(
        "mongoengine", "Document._get_collection", "cached on the class or bypassed by QuerySet")
    CompatRouted(name="in b").save()
    assert collection_of(CompatRouted).database.name == two_databases["compat-b"]
    assert "name_1" in collection_of(CompatRouted).index_information(), changed(
        "mongoengine", "Document.ensure_indexes", "no longer creates meta indexes through _get_collection")
    _ROUTE["alias"] = "compat-a"
    assert [d.name for d in CompatRouted.objects] == ["in a"], changed(
        "mongoengine", "Document._get_db/_get_collection", "not asked again for each query")


# --- mongomock -----------------------------------------------------------------------------------

OID = ObjectId()
DOC = {"_id": OID, "createdBy": "u1", "tags": ["a", "b"], "content": {"status": "approved", "rank": 3},
       "cast": [{"role": "lead", "id": "c1"}]}


@pytest.mark.parametrize("query, expected", [
    ({"content.status": "approved"}, True),
    ({"tags": "a"}, True),
    ({"_id": {"$in": [OID]}}, True),
    ({"_id": {"$in": []}}, False),
    ({"content.rank": {"$gte": 3, "$lt": 4}}, True),
    ({"content.missing": {"$ne": "x"}}, True),
    ({"content.status": {"$eq": "draft"}}, False),
    ({"$or": [{"createdBy": "u2"}, {"tags": {"$in": ["b"]}}]}, True),
    ({"$nor": [{"createdBy": "u1"}]}, False),
    ({"$and": [{"createdBy": "u1"}, {"content.rank": {"$gt": 5}}]}, False),
    ({"cast": {"$elemMatch": {"role": "lead", "id": "c1"}}}, True),
])
def test_mongomock_filter_applies_decides_like_mongodb(query, expected):
    assert matches(query, DOC) is expected, changed("mongomock", "filtering.filter_applies",
                                                    f"decides {query!r} differently")


# --- redis-py ------------------------------------------------------------------------------------

def test_redis_subscription_socket_is_the_live_connection(redis_server):
    client = redis.Redis.from_url(redis_server)
    pubsub = client.pubsub()
    try:
        pubsub.subscribe("compat-probe")
        assert pubsub.get_message(timeout=2.0)["type"] == "subscribe"
        first = subscription_socket(pubsub)
        assert isinstance(first, socket.socket), changed("redis", "Connection._sock",
                                                         "is no longer the connection's socket")
        pubsub.connection.disconnect()
        assert subscription_socket(pubsub) is None, changed("redis", "Connection._sock",
                                                            "kept after disconnect")
        assert pubsub.get_message(timeout=2.0)["type"] == "subscribe"  # reconnected, re-subscribed
        again = subscription_socket(pubsub)
        assert isinstance(again, socket.socket) and again is not first, changed(
            "redis", "Connection._sock", "the same object after a reconnect (near cache would miss it)")
    finally:
        pubsub.close()
        client.close()


# --- pluggy ---------------------------------------------------------------------------------------

def test_pluggy_calls_one_implementation_with_its_wrappers():
    import pluggy

    from core.compat.pluggy import call_implementations

    spec, impl = pluggy.HookspecMarker("compat"), pluggy.HookimplMarker("compat")

    class Spec:
        @spec
        def ask(self, x):
            """A hook."""

    class One:
        @impl
        def ask(self, x):
            return x + 1

    class Two:
        @impl
        def ask(self, x):
            raise RuntimeError("two fails")

    class Wrap:
        @impl(wrapper=True)
        def ask(self, x):
            return [answer * 10 for answer in (yield)]

    pm = pluggy.PluginManager("compat")
    pm.add_hookspecs(Spec)
    for plugin in (One(), Two(), Wrap()):
        pm.register(plugin)
    impls = pm.hook.ask.get_hookimpls()
    one = next(i for i in impls if isinstance(i.plugin, One))
    wrap = next(i for i in impls if isinstance(i.plugin, Wrap))
    try:
        assert call_implementations(pm, "ask", [one, wrap], {"x": 1}) == [20]
    except (AttributeError, TypeError) as exc:
        pytest.fail(changed("pluggy", "PluginManager._hookexec", f"{type(exc).__name__}: {exc}"))


# --- python-socketio --------------------------------------------------------------------------

def test_socketio_packets_with_attachments_are_queued_whole():
    """Threads emitting binary events to one socket, through ``_send_packet`` and through the
    manager's room emit: each event's header is followed by its own attachment in the socket's
    queue (without the compat lock they interleave)."""
    import threading
    import time

    import socketio

    from core.compat.socketio import send_packets_whole

    server = socketio.Server(async_mode="threading")
    queued: list = []

    class SlowQueue:
        def send(self, eio_sid, data):
            queued.append(data)
            time.sleep(0.001)  # widen the window another thread's packet could fall into

        def send_packet(self, eio_sid, eio_pkt):  # the manager's room emits come this way
            self.send(eio_sid, eio_pkt.data)

        def generate_id(self):
            return "sid"

    server.eio = SlowQueue()
    send_packets_whole(server)
    try:
        packet = socketio.packet.Packet(socketio.packet.EVENT, data=["yjs", {"message": b"x" * 8}], namespace="/collab")
        assert isinstance(packet.encode(), list)
    except (AttributeError, TypeError) as exc:
        pytest.fail(changed("python-socketio", "Server._send_packet / Packet.encode", f"{type(exc).__name__}: {exc}"))

    sid = server.manager.connect("eio", "/collab")

    def emit(n: int) -> None:
        for i in range(20):
            server._send_packet("eio", socketio.packet.Packet(
                socketio.packet.EVENT, data=["yjs", {"n": n, "message": bytes([n, i])}], namespace="/collab"))

    def room_emit(n: int) -> None:
        for i in range(20):
            server.manager.emit("yjs", {"n": n, "message": bytes([n, i])}, namespace="/collab", to=sid)

    threads = [threading.Thread(target=emit, args=(n,)) for n in range(2)]
    threads += [threading.Thread(target=room_emit, args=(n,)) for n in range(2, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(queued) == 4 * 20 * 2
    for header, attachment in zip(queued[::2], queued[1::2]):
        assert isinstance(header, str) and isinstance(attachment, bytes), (header, attachment)
        assert f'"n":{attachment[0]}' in header.replace(" ", ""), (header, attachment)


# --- simple-websocket ---------------------------------------------------------------------------

def test_simple_websocket_answers_deflate_offers_through_its_module_name():
    """``decline_compression`` replaces the class simple-websocket's server instantiates, by
    name, when it accepts an upgrade; it must still look it up there."""
    import inspect

    import simple_websocket.ws as ws

    source = inspect.getsource(ws.Base._handle_events)
    assert hasattr(ws, "PerMessageDeflate") and "PerMessageDeflate()" in source, changed(
        "simple-websocket", "simple_websocket.ws.PerMessageDeflate in Base._handle_events",
        "no longer built there, so websockets may deflate every frame again")


def test_socketio_client_messages_are_decoded_in_arrival_order():
    """python-engineio's threaded client starts a thread per received message; with
    ``in_arrival_order`` a message is decoded on the thread that read it, so an attachment can
    never be decoded before its header."""
    import threading

    import socketio

    from core.compat.socketio import in_arrival_order
    from tests.waiting import wait_for

    client = socketio.Client(reconnection=False)
    ran_on: list = []
    here = threading.get_ident()
    try:
        client.eio.on("message", lambda data: ran_on.append(threading.get_ident()))
        client.eio._trigger_event("message", '2["x"]', run_async=True)
    except (AttributeError, TypeError) as exc:
        pytest.fail(changed("python-engineio", "Client._trigger_event(..., run_async=...)", f"{type(exc).__name__}: {exc}"))
    wait_for(lambda: ran_on, message="the library's own message thread")
    assert ran_on[0] != here  # still a thread per message: the compat is still needed
    in_arrival_order(client)
    in_arrival_order(client)  # idempotent
    client.eio._trigger_event("message", '2["y"]', run_async=True)
    assert ran_on[1:] == [here]  # decoded before the call returned, on the reading thread


# --- python-engineio --------------------------------------------------------------------------

def test_engineio_messages_over_the_limit_become_stand_ins_the_handler_refuses():
    """What a WebSocket read over the limit turns into, decoded by the real engine.io and
    Socket.IO parsers: the same event (namespace, ack id, attachments) with the size only."""
    import engineio
    import socketio

    from core.compat.engineio import OVERSIZED, Oversized, answer_oversized, stand_in

    server = socketio.Server(async_mode="threading")
    try:
        websocket = server.eio._async["websocket"]
        assert callable(getattr(websocket, "wait"))
    except (AttributeError, KeyError, TypeError) as exc:
        pytest.fail(changed("python-engineio", "Server._async['websocket'].wait", f"{type(exc).__name__}: {exc}"))
    answer_oversized(server.eio, 100)
    assert server.eio._async["websocket"] is not websocket and server.eio.max_http_buffer_size == 100
    assert engineio.Server(async_mode="threading")._async["websocket"] is websocket  # other servers untouched

    assert stand_in("4" + "x" * 50, 100) == "4" + "x" * 50                   # within the limit: itself
    text = '42/collab,17["cursor_move",{"position":"' + "x" * 200 + '"}]'
    packet = socketio.packet.Packet(encoded_packet=engineio.packet.Packet(encoded_packet=stand_in(text, 100)).data)
    assert (packet.packet_type, packet.namespace, packet.id) == (socketio.packet.EVENT, "/collab", 17)
    assert packet.data == ["cursor_move", {OVERSIZED: len(text)}]
    attachment = engineio.packet.Packet(encoded_packet=stand_in(b"\x00" * 300, 100)).data
    assert isinstance(attachment, Oversized) and attachment.size == 300 and attachment == b""
    assert stand_in("4" + "0" * 300, 100) == "4" + "0" * 300  # not an event: engine.io closes as before
