"""Yjs over a plain WebSocket (``/collab/yjs/<projectId>/<collection>/<documentId>``): y-websocket's
protocol, spoken here by a real WebSocket client (wsproto's, the engine simple-websocket wraps)
with a pycrdt document, against two real ``cli.py serve`` processes of one installation.

The connection is a ``/collab`` socket to the rest of the realtime plugin, so what holds for
Socket.IO holds here: typing reaches peers on either transport and process and is saved, the
handshake is refused over HTTP like a REST request, a refused frame is answered (never a silent
drop, never a dead connection), and losing the document closes the connection with a code stock
y-websocket does not reconnect on."""

from __future__ import annotations

import collections
import json
import queue
import re
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid

import pytest
import requests
from pycrdt import Decoder, Doc, Map, create_sync_message, create_update_message, handle_sync_message
from wsproto import ConnectionType, WSConnection
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Message, Ping, RejectConnection,
                            Request)
from wsproto.utilities import LocalProtocolError

from tests.e2e.realtime_support import (JS_DIR, Collab, awareness_update, close_all, installed, npm_ready,
                                        opened, serving_pair, write_read_rules)
from tests.waiting import TIMEOUT, wait_for

SYNC, AWARENESS, AUTH = 0, 1, 2


@pytest.fixture(scope="module")
def installation(tmp_path_factory, redis_server):
    # Viewers never see scenes; only the owner sees a document whose content.secret is true.
    policies = write_read_rules(tmp_path_factory.mktemp("plain-ws-policies"))
    # A presence grace no machine's reconnect outlasts (the reload test); nothing here waits it out.
    yield from installed(tmp_path_factory, redis_server, "realtime-plain-ws", ALADDIN_POLICY_DIR=str(policies),
                         ALADDIN_REALTIME_AUTOSAVE_IDLE_SECONDS="0.3", ALADDIN_REALTIME_PRESENCE_GRACE_SECONDS="60")


@pytest.fixture(scope="module")
def servers(installation):
    yield from serving_pair(installation)


@pytest.fixture
def clients():
    opened: list = []
    yield opened
    close_all(opened)


def path(installation, doc_id: str, collection: str = "scenes", project: str | None = None) -> str:
    return f"/collab/yjs/{project or installation.pid}/{collection}/{doc_id}"


class Refused(Exception):
    """The handshake was answered with an HTTP status, not a 101."""


class Closed(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(f"closed: {code} {reason}")
        self.code, self.reason = code, reason


class Socket:
    """A WebSocket client that also reads the frames arriving with the handshake's answer: a
    server may write them with its 101 (this one writes the document's state there), and
    simple-websocket's client leaves such frames unread until more data arrives."""

    def __init__(self, url: str, headers: dict | None = None):
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT)
        self.ws, self.events, self.lock = WSConnection(ConnectionType.CLIENT), collections.deque(), threading.Lock()
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.sock.sendall(self.ws.send(Request(host=parts.netloc, target=target, extra_headers=[
            (name.encode(), value.encode()) for name, value in (headers or {}).items()])))
        while not self.events:
            self._read()
        answer = self.events.popleft()
        if isinstance(answer, RejectConnection):
            self.sock.close()
            raise Refused(answer.status_code)
        assert isinstance(answer, AcceptConnection), answer
        self.sock.settimeout(None)

    def _read(self) -> None:
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        self.ws.receive_data(data or None)  # None: the connection ended (wsproto reports 1006)
        self.events.extend(self.ws.events())

    def receive(self) -> bytes:
        """The next binary message; Closed once the server closed (its close is answered)."""
        parts = []
        while True:
            while not self.events:
                self._read()
            event = self.events.popleft()
            if isinstance(event, Message):
                parts.append(event.data if isinstance(event, BytesMessage) else event.data.encode())
                if event.message_finished:
                    return b"".join(parts)
            elif isinstance(event, Ping):
                self._write(event.response())
            elif isinstance(event, CloseConnection):
                self._write(event.response())
                raise Closed(event.code, event.reason or "")

    def send(self, data: bytes) -> None:
        self._write(BytesMessage(data=data))

    def _write(self, event) -> None:
        with self.lock:
            try:
                self.sock.sendall(self.ws.send(event))
            except LocalProtocolError as exc:  # closed already
                raise Closed(1006, str(exc))

    def close(self) -> None:
        try:
            self._write(CloseConnection(code=1000))
        except (Closed, OSError):
            pass
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Plain:
    """A y-websocket peer: one document, binary frames, sync answered as y-protocols does."""

    def __init__(self, server, token: str, where: str, **headers):
        url = server.url.replace("http", "ws", 1) + where + (f"?token={token}" if token else "")
        self.ws = Socket(url, headers)
        self.doc = Doc()
        self.frames: "queue.Queue[bytes]" = queue.Queue()
        self.seen: list[bytes] = []
        self.closed = threading.Event()
        self.synced = threading.Event()
        self.close_code = self.close_reason = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                frame = self.ws.receive()
            except Closed as exc:
                self.close_code, self.close_reason = exc.code, exc.reason
                self.closed.set()
                return
            if frame[0] == SYNC:
                reply = handle_sync_message(frame[1:], self.doc)
                try:
                    if reply is not None:
                        self.send(reply)
                except (Closed, OSError):  # closing meanwhile: the next
                    pass                                                  # receive says how
                if frame[1] == 1:
                    self.synced.set()
            self.seen.append(frame)
            self.frames.put(frame)

    def send(self, frame: bytes) -> None:
        self.ws.send(frame)

    def sync(self) -> "Plain":
        self.send(create_sync_message(self.doc))
        assert self.synced.wait(TIMEOUT), f"no sync step 2 (closed: {self.close_code} {self.close_reason})"
        return self

    def edit(self, change) -> None:
        before = self.doc.get_state()
        change(self.doc)
        self.send(create_update_message(self.doc.get_update(before)))

    def title(self) -> str:
        return str(self.doc.get("content", type=Map).get("title", ""))

    def denied(self) -> list[str]:
        """The reasons of the ``permission-denied`` frames received."""
        return [f[3:].decode() for f in list(self.seen) if f[0] == AUTH and f[1] == 0]

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass


def append(text: str):
    return lambda doc: (lambda title: title.insert(len(title), text))(doc.get("content", type=Map).get("title"))


def new_member(installation, role: str):
    from core.models import ApiToken, User
    from core.projects import add_member

    label = uuid.uuid4().hex[:8]
    user = User(email=f"{role}-{label}@example.com", name=f"{role} {label}").save()
    user.token = ApiToken.issue(user)
    add_member(installation.app, installation.project, user, role, installation.users["owner"])
    return user


def test_stock_protocol_and_socketio_peers_type_to_each_other_and_typing_is_saved(installation, servers, clients):
    a, b = servers
    doc_id = installation.create_doc(title="Opening")
    typist = Plain(a, installation.token("owner"), path(installation, doc_id)).sync()
    other = Plain(b, installation.token("collaborator"), path(installation, doc_id)).sync()
    ref = {"projectId": installation.pid, "collection": "scenes", "documentId": doc_id}
    clients.extend([typist, other])
    sio = opened(b, installation.token("editor"), ref, clients)
    assert typist.title() == other.title() == "Opening"

    typist.edit(append(" night"))
    wait_for(lambda: other.title() == "Opening night", message="the plain peer on B to get the typing")
    sio.wait_for("yjs", lambda d: b" night" in bytes(d["message"]))
    assert sio.edit(append(", exterior")) == {"ok": True}
    wait_for(lambda: typist.title() == "Opening night, exterior", message="Socket.IO typing to reach the plain peer")
    # Saved by itself (autosave) through the versioned write path: REST readers see it.
    wait_for(lambda: installation.get_doc(doc_id)["content"]["title"] == "Opening night, exterior",
             message="the typing to be saved")
    # The project URL may name the project by its slug.
    late = Plain(a, installation.token("editor"), path(installation, doc_id, project=installation.project.slug)).sync()
    clients.append(late)
    assert late.title() == "Opening night, exterior"


def test_the_document_comes_with_the_handshake_and_a_later_step_1_is_answered(installation, servers, clients):
    a, _b = servers
    doc_id = installation.create_doc(title="Opening")
    plain = Plain(a, installation.token("owner"), path(installation, doc_id))
    clients.append(plain)
    assert plain.synced.wait(TIMEOUT)  # it sent nothing: the state left with the 101
    assert plain.title() == "Opening"
    step1s = lambda: [f for f in list(plain.seen) if f[:2] == bytes([SYNC, 0])]  # noqa: E731
    step2s = lambda: [f for f in list(plain.seen) if f[:2] == bytes([SYNC, 1])]  # noqa: E731
    time.sleep(0.3)  # whatever came with the 101 has been read by now: the state alone
    assert not step1s()
    plain.send(create_sync_message(plain.doc))  # its own step 1 asks for what it was sent: no answer
    wait_for(step1s, message="the server's step 1 after the client's first frame")
    plain.edit(append(" night"))
    wait_for(lambda: installation.get_doc(doc_id)["content"]["title"] == "Opening night", message="the edit saved")
    assert len(step2s()) == 1
    plain.send(create_sync_message(plain.doc))  # a later one (y-websocket's resync option) is answered
    wait_for(lambda: len(step2s()) == 2, message="the second step 1 to be answered")


def test_the_peers_awareness_follows_the_clients_first_frame(installation, servers, clients):
    """The 101 carries the document's state alone: a client reads what arrives together before it
    is synced. The peers' awareness states follow its first frame (a stock provider's step 1)."""
    a, _b = servers
    doc_id = installation.create_doc(title="Aware")
    first = Plain(a, installation.token("owner"), path(installation, doc_id)).sync()
    clients.append(first)
    update = awareness_update(first.doc.client_id, {"cursor": 3}, clock=1)
    frame = bytes([AWARENESS]) + bytes([len(update)]) + update
    first.send(frame)
    wait_for(lambda: frame in first.seen, message="the first client's state to be taken in")
    # A collaborator, who may not edit the owner's scene: the server asks it nothing (no step 1).
    second = Plain(a, installation.token("collaborator"), path(installation, doc_id))
    clients.append(second)
    assert second.synced.wait(TIMEOUT)
    assert [f[:2] for f in list(second.seen) if f[0] == SYNC] == [bytes([SYNC, 1])]
    states = lambda: [f for f in list(second.seen) if f[0] == AWARENESS and b'"cursor":3' in f]  # noqa: E731
    time.sleep(0.3)  # whatever came with the 101 has been read by now
    assert not states()
    second.send(create_sync_message(second.doc))
    wait_for(lambda: states(), message="the peer's awareness state after the client's first frame")


def test_the_handshake_is_refused_over_http_like_a_rest_request(installation, servers):
    a, _b = servers
    doc_id = installation.create_doc(title="Closed set")
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}

    def status(where: str, token: str | None = None, **headers) -> tuple[int, str]:
        answer = requests.get(a.url + where, params={"token": token} if token else None,
                              headers={**upgrade, **headers}, timeout=TIMEOUT)
        return answer.status_code, answer.text

    assert status(path(installation, doc_id))[0] == 401                                   # no token
    assert status(path(installation, doc_id), "ald_not-a-token")[0] == 401
    assert status(path(installation, doc_id), installation.token("outsider"))[0] == 404  # no role: not found
    assert status(path(installation, doc_id, project="0" * 24), installation.token("owner"))[0] == 404
    assert status(path(installation, doc_id), installation.token("owner"), Origin="https://evil.example")[0] == 403
    bad_key = status(path(installation, doc_id), installation.token("owner"), **{"Sec-WebSocket-Key": "short"})
    assert bad_key[0] == 400 and "handshake" in bad_key[1]
    assert requests.get(a.url + path(installation, doc_id), params={"token": installation.token("owner")},
                        timeout=TIMEOUT).status_code == 400  # not an upgrade at all
    # A bearer header works as the query does (Node clients can send one).
    with pytest.raises(Refused):
        Socket(a.url.replace("http", "ws") + path(installation, doc_id))
    peer = Plain(a, "", path(installation, doc_id), Authorization=f"Bearer {installation.token('owner')}")
    try:
        assert peer.sync().title() == "Closed set"
    finally:
        peer.close()


def test_a_hidden_document_closes_the_connection_for_good(installation, servers, clients):
    a, _b = servers
    doc_id = installation.create_doc(title="Scene")  # viewers never see scenes
    viewer = Plain(a, installation.token("viewer"), path(installation, doc_id))
    clients.append(viewer)
    assert viewer.closed.wait(TIMEOUT)  # at once: the document is opened with the handshake
    assert viewer.close_code == 4404 and not viewer.synced.is_set()
    assert not [f for f in viewer.seen if f[0] == SYNC]  # nothing of the document reached it


def test_a_viewers_edit_is_denied_and_it_keeps_watching(installation, servers, clients):
    a, b = servers
    doc_id = installation.create_doc(collection="characters", name="Mole")
    where = path(installation, doc_id, "characters")
    viewer = Plain(a, installation.token("viewer"), where)
    owner = Plain(b, installation.token("owner"), where)
    clients.extend([viewer, owner])
    viewer.sync()
    owner.sync()
    viewer.edit(lambda doc: doc.get("content", type=Map).__setitem__("name", "Ratty"))
    wait_for(lambda: viewer.denied(), message="the viewer's edit to be denied")
    assert viewer.denied()[0].startswith("forbidden: ")
    owner.edit(lambda doc: doc.get("content", type=Map).__setitem__("role", "lead"))
    wait_for(lambda: viewer.doc.get("content", type=Map).get("role") == "lead", message="the viewer to keep watching")
    assert not viewer.closed.is_set()
    assert str(owner.doc.get("content", type=Map).get("name")) == "Mole"  # the refused edit went nowhere


def test_an_update_over_the_limit_is_answered_and_a_fresh_document_carries_on(installation, servers, clients):
    a, b = servers
    doc_id = installation.create_doc(title="Paste")
    paster = Plain(a, installation.token("editor"), path(installation, doc_id)).sync()
    peer = Plain(b, installation.token("owner"), path(installation, doc_id)).sync()
    clients.extend([paster, peer])
    paster.edit(append("x" * (1200 * 1024)))  # over the 1 MiB message limit
    assert paster.closed.wait(TIMEOUT), "an update that can never apply must end the session"
    assert paster.close_code == 4409 and paster.close_reason.startswith("too_large")
    assert paster.denied() and paster.denied()[0].startswith("too_large")
    # A fresh Y.Doc (what the application does on 4409) syncs and types; the peer gets it all.
    again = Plain(a, installation.token("editor"), path(installation, doc_id)).sync()
    clients.append(again)
    again.edit(append(" pasted again"))
    wait_for(lambda: peer.title() == "Paste pasted again", message="typing after the refusal to reach the peer")
    assert "x" * 100 not in peer.title()


def test_awareness_reaches_socketio_peers_and_comes_back_to_its_sender(installation, servers, clients):
    a, b = servers
    doc_id = installation.create_doc(title="Aware")
    ref = {"projectId": installation.pid, "collection": "scenes", "documentId": doc_id}
    watcher = opened(b, installation.token("owner"), ref, clients)
    plain = Plain(a, installation.token("editor"), path(installation, doc_id)).sync()
    clients.append(plain)
    update = awareness_update(plain.doc.client_id, {"cursor": 7}, clock=1)
    frame = bytes([AWARENESS]) + bytes([len(update)]) + update
    plain.send(frame)
    watcher.wait_for("awareness", lambda d: b'"cursor":7' in bytes(d["message"]).replace(b" ", b""))
    # Back to the sender too (as y-websocket's server does: stock clients reconnect after 30 s
    # without a message, and a lone editor's only messages are its own awareness renewals).
    wait_for(lambda: frame in plain.seen, message="the awareness frame to come back")


@pytest.mark.parametrize("change", ["demoted", "removed", "revoked"])
def test_losing_access_closes_the_connection_with_a_final_code(installation, servers, clients, change):
    from core.models import ApiToken
    from core.projects import remove_member, set_role

    a, b = servers
    user = new_member(installation, "editor")
    doc_id = installation.create_doc(title="Backstage")
    victim = Plain(b, user.token, path(installation, doc_id)).sync()
    typist = Plain(a, installation.token("owner"), path(installation, doc_id)).sync()
    clients.extend([victim, typist])
    owner = installation.users["owner"]
    if change == "demoted":  # a viewer now, and viewers never see scenes
        set_role(installation.app, installation.project, str(user.id), "viewer", owner)
    elif change == "removed":
        remove_member(installation.app, installation.project, str(user.id), owner)
    else:
        ApiToken.revoke(user)
    assert victim.closed.wait(TIMEOUT), f"{change}: the connection stayed open"
    assert victim.close_code == {"demoted": 4404, "removed": 4404, "revoked": 4401}[change], victim.close_code
    typist.edit(append(" after"))
    settled = Plain(a, installation.token("owner"), path(installation, doc_id)).sync()
    clients.append(settled)
    wait_for(lambda: settled.title().endswith(" after"), message="the typing to be stored")
    assert " after" not in victim.title()


# --- stock y-websocket (npm) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def stock_peer():
    reason = npm_ready()
    if reason is not None:
        pytest.fail(f"the stock JavaScript clients are not installed: {reason}")
    return JS_DIR / "ywebsocket_peer.mjs"


def run_stock(stock_peer, server, token: str, installation, collection: str, doc_id: str, *args: str):
    return subprocess.Popen(["node", str(stock_peer), server.url, token, installation.pid, collection, doc_id, *args],
                            cwd=JS_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def answer(proc) -> dict:
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_stock_y_websocket_providers_on_two_processes_converge_and_are_saved(installation, servers, stock_peer):
    a, b = servers
    doc_id = installation.create_doc(title="Stock:")
    peers = [run_stock(stock_peer, server, installation.token(role), installation, "scenes", doc_id, label, "15", "30")
             for server, role, label in ((a, "owner", "a"), (b, "editor", "b"))]
    titles = [answer(p)["title"] for p in peers]
    assert titles[0] == titles[1]
    assert titles[0].startswith("Stock:")
    assert sorted(re.findall(r"[ab]\d+", titles[0])) == sorted([f"a{n}" for n in range(15)] + [f"b{n}" for n in range(15)])
    wait_for(lambda: installation.get_doc(doc_id)["content"]["title"] == titles[0], message="the typing to be saved")


def test_stock_y_websocket_does_not_reconnect_after_a_final_close(installation, servers, stock_peer):
    a, _b = servers
    doc_id = installation.create_doc(title="Scene")  # viewers never see scenes
    closed = answer(run_stock(stock_peer, a, installation.token("viewer"), installation, "scenes", doc_id, "closed", "3"))
    assert closed["code"] == 4404 and closed["reason"].startswith("not_found")
    assert closed["reconnects"] == 0 and closed["synced"] is False


def entries(message: bytes) -> list[tuple[int, dict | None]]:
    """An awareness update's (client id, state) entries, without the server's identity fields."""
    decoder, out = Decoder(bytes(message)), []
    for _ in range(decoder.read_var_uint()):
        client, _clock = decoder.read_var_uint(), decoder.read_var_uint()
        state = json.loads(decoder.read_var_string())
        out.append((client, None if state is None else {k: v for k, v in state.items()
                                                          if k not in ("user", "userId", "userName")}))
    return out


def test_a_peer_echoing_a_departure_does_not_take_the_departed_clients_id(installation, servers, clients):
    """Stock y-websocket clients send back every awareness change they receive, removals
    included. The peer that echoes a departed client's removal must not become that id's holder:
    the client, back with the same Y.Doc on a new connection, is shown again, not dropped as
    another user's."""
    a, b = servers
    doc_id = installation.create_doc(title="Echo")
    ref = {"projectId": installation.pid, "collection": "scenes", "documentId": doc_id}

    leaving = opened(a, installation.token("editor"), ref, clients)
    peer = opened(b, installation.token("owner"), ref, clients)
    assert leaving.call("awareness", {**ref, "message": awareness_update(4747, {"cursor": 1}, clock=1)}) == {"ok": True}
    peer.wait_for("awareness", lambda d: (4747, {"cursor": 1}) in entries(d["message"]))
    leaving.close()
    peer.wait_for("awareness", lambda d: (4747, None) in entries(d["message"]))  # the removal came
    # The echo is nothing to remove: not another user's id (no "dropped"), and no holder made.
    assert peer.call("awareness", {**ref, "message": awareness_update(4747, None, clock=1)}) == {"ok": True}
    back = opened(a, installation.token("editor"), ref, clients)
    assert back.call("awareness", {**ref, "message": awareness_update(4747, {"cursor": 2}, clock=2)}) == {"ok": True}
    peer.wait_for("awareness", lambda d: (4747, {"cursor": 2}) in entries(d["message"]))


def test_malformed_frames_are_answered_and_the_connection_keeps_serving(installation, servers, clients):
    a, _b = servers
    doc_id = installation.create_doc(title="Garbled")
    client = Plain(a, installation.token("editor"), path(installation, doc_id)).sync()
    clients.append(client)
    client.send(bytes([SYNC, 9, 1, 0]))      # no such sync message type
    client.send(bytes([AWARENESS, 5, 1]))    # an awareness frame shorter than it says
    wait_for(lambda: len(client.denied()) >= 2, message="both frames to be answered")
    assert all(reason.startswith("invalid: ") for reason in client.denied()), client.denied()
    client.edit(append(" still here"))
    again = Plain(a, installation.token("owner"), path(installation, doc_id)).sync()
    clients.append(again)
    wait_for(lambda: again.title() == "Garbled still here", message="typing after the bad frames to be kept")
    assert not client.closed.is_set()


def test_stock_clients_echoing_awareness_show_only_live_clients(installation, servers, stock_peer):
    """Stock y-websocket providers send back every awareness change they receive. Over ten
    reloads of one editor's page, both pages show exactly the two live clients: an echo of a
    departed client's state does not bring it back (under the echoing user's name, handed on to
    every later page). Two tabs of one user echoing each other's states fall quiet."""
    a, _b = servers
    doc_id = installation.create_doc(title="Reloads")
    done = subprocess.run(["node", str(JS_DIR / "ywebsocket_presence.mjs"), a.url, installation.token("editor"),
                           installation.token("owner"), installation.pid, "scenes", doc_id, "10"],
                          cwd=JS_DIR, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["seenByA"] == seen["live"] and seen["seenByB"] == seen["live"], seen
    # Nothing changed in the quiet window: renewals (each client's every 15 s: three clients) may
    # fall in it, an endless exchange may not (it was hundreds).
    assert max(seen["tabUpdates"]) <= 4, seen


def test_a_reload_is_no_departure_and_leaving_is_announced(installation, servers, clients):
    """A page reloading closes its connection and opens another at once: within the presence
    grace the user never left (no ``user_left``, no second ``user_joined``), on any process.
    Leaving for good is announced at once."""
    from core.projects import add_member, create_project

    a, b = servers
    owner, user = installation.users["owner"], installation.users["editor"]
    project = create_project(installation.app, owner, "Reload Film", f"reload-{uuid.uuid4().hex[:6]}")
    add_member(installation.app, project, user, "editor", owner)
    pid = str(project.id)  # nobody's presence lingers here from an earlier test's grace
    watcher = Collab(b.url, installation.token("owner"))
    clients.append(watcher)
    assert watcher.call("join", {"projectId": pid})["ok"]
    editor = str(user.id)
    mine = lambda d: d["userId"] == editor  # noqa: E731
    first = Collab(a.url, installation.token("editor"))
    clients.append(first)
    assert first.call("join", {"projectId": pid})["ok"]
    watcher.wait_for("user_joined", mine)
    first.close()
    reloaded = Collab(b.url, installation.token("editor"))
    clients.append(reloaded)
    assert reloaded.call("join", {"projectId": pid})["ok"]
    users = watcher.call("presence", {"projectId": pid})["users"]
    assert editor in [u["userId"] for u in users]
    assert reloaded.call("leave", {"projectId": pid}) == {"ok": True}
    watcher.wait_for("user_left", mine)  # the positive control: anything sent before it has arrived
    assert len([d for d in watcher.received("user_joined") if mine(d)]) == 1
    assert len([d for d in watcher.received("user_left") if mine(d)]) == 1
