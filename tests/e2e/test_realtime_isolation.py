"""Issue 19, hole 1: a Yjs update goes only to the sockets that have its document open and may
view it -- also when the typist is the only socket of its server process with the document
open, where the list of the process's other recipients is empty (python-socketio once read
``to=[]`` as "every socket of the namespace").

Two real ``cli.py serve`` processes, A and B. The typist (the owner) types on A, where nobody
else has the document open; an authorised peer on B receives each update (the positive control).
On A sit an outsider (no role in the project), a viewer the document was hidden from by a read
rule, and an editor who was demoted or removed. After the peer on B has the typed text, each of
them makes a call on its own socket: a frame A had sent it before would have arrived ahead of
the answer, so nothing it received by then, nothing it ever will."""

from __future__ import annotations

import uuid

import pytest
from pycrdt import Text

from tests.e2e.realtime_support import Collab, YClient, installed, opened, serving_pair, until_refused, write_read_rules


@pytest.fixture(scope="module")
def installation(tmp_path_factory, redis_server):
    # Viewers never see scenes; only the owner sees a document whose content.secret is true.
    policies = write_read_rules(tmp_path_factory.mktemp("isolation-policies"))
    yield from installed(tmp_path_factory, redis_server, "realtime-isolation", ALADDIN_POLICY_DIR=str(policies))


@pytest.fixture(scope="module")
def servers(installation):
    yield from serving_pair(installation)


def ref(installation, doc_id: str, collection: str = "scenes") -> dict:
    return {"projectId": installation.pid, "collection": collection, "documentId": doc_id}


def fresh_editor(installation):
    """A new editor of the project (demoting or removing the module's own would touch other tests)."""
    from core.models import ApiToken, User
    from core.projects import add_member

    label = uuid.uuid4().hex[:8]
    user = User(email=f"editor-{label}@example.com", name=f"Editor {label}").save()
    user.token = ApiToken.issue(user)
    add_member(installation.app, installation.project, user, "editor", installation.users["owner"])
    return user


def carries(client: Collab, text: str) -> list:
    """The ``yjs`` frames ``client`` received whose update holds ``text`` (Yjs updates keep
    inserted strings as UTF-8)."""
    return [d for d in client.received("yjs") if text.encode() in bytes(d["message"])]


def type_alone(typist: YClient, peer: YClient, text: str) -> None:
    """The typist, alone with the document on its process, types ``text``; the authorised peer
    on the other process receives it (the update really went out)."""
    assert typist.edit(lambda d: d.get("text", type=Text).insert(0, text)) == {"ok": True}
    peer.wait_for("yjs", lambda d: text.encode() in bytes(d["message"]))
    assert text in peer.text()


def settled(client: Collab, project_id: str) -> None:
    """Everything the server had sent ``client`` before now has arrived: the answer to a call
    on the same socket comes after it (an error answer is an answer too)."""
    ack = client.call("presence", {"projectId": project_id})
    assert isinstance(ack, dict), ack


def assert_untouched(client: YClient, text: str) -> None:
    assert carries(client, text) == [], "typing reached a socket that may not view the document"
    assert text not in client.text()


def test_an_outsider_on_the_typists_process_receives_nothing(installation, servers, clients):
    a, b = servers
    document = ref(installation, installation.create_doc(title="Alone"))
    outsider = Collab(a.url, installation.token("outsider"))
    clients.append(outsider)
    assert outsider.call("join", {"projectId": installation.pid})["error"] == "not_found"
    typist = opened(a, installation.token("owner"), document, clients)
    peer = opened(b, installation.token("editor"), document, clients)

    for text in ("first words ", "second words "):
        type_alone(typist, peer, text)
    settled(outsider, installation.pid)
    assert outsider.seen == [], [name for name, _ in outsider.seen]  # no yjs, nor anything else


def test_a_viewer_the_document_was_hidden_from_receives_no_typing(installation, servers, clients):
    a, b = servers
    doc_id = installation.create_doc(collection="characters", name="Mole")
    document = ref(installation, doc_id, "characters")
    typist = opened(a, installation.token("owner"), document, clients)
    viewer = opened(a, installation.token("viewer"), document, clients)
    peer = opened(b, installation.token("owner"), document, clients)
    type_alone(typist, peer, "while visible ")
    viewer.wait_for("yjs", lambda d: b"while visible " in bytes(d["message"]))  # it did watch

    ext = installation.app.extensions["aladdin"]
    ext.content.update(installation.project, "characters", doc_id, {"content.secret": True},
                       installation.users["owner"])
    until_refused(viewer, document)
    type_alone(typist, peer, "once hidden ")
    settled(viewer, installation.pid)
    assert_untouched(viewer, "once hidden ")


@pytest.mark.parametrize("change", ["demoted", "removed"])
def test_a_demoted_or_removed_editor_receives_no_typing(installation, servers, clients, change):
    from core.projects import remove_member, set_role

    a, b = servers
    editor = fresh_editor(installation)
    document = ref(installation, installation.create_doc(title="Backstage"))
    typist = opened(a, installation.token("owner"), document, clients)
    watcher = opened(a, editor.token, document, clients)
    peer = opened(b, installation.token("editor"), document, clients)
    type_alone(typist, peer, "before the change ")
    watcher.wait_for("yjs", lambda d: b"before the change " in bytes(d["message"]))

    owner = installation.users["owner"]
    if change == "demoted":  # a viewer now, and viewers never see scenes
        set_role(installation.app, installation.project, str(editor.id), "viewer", owner)
        until_refused(watcher, document)
    else:
        remove_member(installation.app, installation.project, str(editor.id), owner)
        watcher.wait_for("access_revoked", lambda d: d.get("projectId") == installation.pid)
    type_alone(typist, peer, "after the change ")
    settled(watcher, installation.pid)
    assert_untouched(watcher, "after the change ")
