"""Autosave (issue 21, point 7): typed text reaches REST without a commit, one version and one
``content_change`` per save, attributed to the editors since the last save, never reverting a
write made elsewhere, on the last socket's departure, and never past the write rules. Real
``cli.py serve`` processes, pycrdt peers typing, REST readers."""

from __future__ import annotations

import pytest
import requests
from pycrdt import Map

from tests.e2e.realtime_support import Collab, installed, serving_pair, Server, YClient
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def installation(tmp_path_factory, redis_server):
    yield from installed(tmp_path_factory, redis_server, "realtime-autosave")  # default delays


@pytest.fixture(scope="module")
def servers(installation):
    yield from serving_pair(installation)


def one_server(installation):
    """For a module fixture (``yield from``): one server of ``installation``, stopped after."""
    server = Server(installation.env, installation.tmp).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def patient(tmp_path_factory, redis_server):
    """An installation whose debounce never fires within a test: only a departure saves."""
    yield from installed(tmp_path_factory, redis_server, "realtime-autosave-leave",
                         ALADDIN_REALTIME_AUTOSAVE_IDLE_SECONDS="600", ALADDIN_REALTIME_AUTOSAVE_MAX_SECONDS="600")


@pytest.fixture(scope="module")
def patient_server(patient):
    yield from one_server(patient)


@pytest.fixture(scope="module")
def typing_on(tmp_path_factory, redis_server):
    """An installation whose idle debounce never fires within a test: only the longest delay
    between saves while typing goes on (one second here) saves."""
    yield from installed(tmp_path_factory, redis_server, "realtime-autosave-max",
                         ALADDIN_REALTIME_AUTOSAVE_IDLE_SECONDS="600", ALADDIN_REALTIME_AUTOSAVE_MAX_SECONDS="1")


@pytest.fixture(scope="module")
def typing_server(typing_on):
    yield from one_server(typing_on)


class Rest:
    def __init__(self, server, installation, role: str = "owner"):
        self.base = f"{server.url}/api/v1/projects/{installation.pid}"
        self.headers = {"Authorization": f"Bearer {installation.token(role)}"}

    def get(self, doc_id: str) -> dict:
        answer = requests.get(f"{self.base}/content/scenes/{doc_id}", headers=self.headers, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def patch(self, doc_id: str, **content) -> dict:
        version = self.get(doc_id)["version"]
        answer = requests.patch(f"{self.base}/content/scenes/{doc_id}", json={"content": content, "baseVersion": version},
                                headers=self.headers, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def role(self, user, role: str) -> None:
        answer = requests.patch(f"{self.base}/team/{user.id}", json={"role": role}, headers=self.headers, timeout=60)
        assert answer.status_code == 200, answer.text


def peer(server, installation, role: str, doc_id: str, clients) -> YClient:
    client = YClient(server.url, installation.token(role), {"projectId": installation.pid, "collection": "scenes",
                                                            "documentId": doc_id})
    clients.append(client)
    assert client.call("join", {"projectId": installation.pid})["ok"]
    client.sync()
    return client


def observer(server, installation, clients) -> Collab:
    watcher = Collab(server.url, installation.token("owner"))
    clients.append(watcher)
    assert watcher.call("join", {"projectId": installation.pid})["ok"]
    return watcher


def type_at_end(client: YClient, text: str, name: str = "title") -> None:
    def change(doc):
        field = doc.get("content", type=Map)[name]
        field.insert(len(str(field).encode()), text)

    assert client.edit(change) == {"ok": True}


def autosaves(watcher: Collab, doc_id: str) -> list[dict]:
    return [e for e in watcher.received("content_change")
            if e.get("documentId") == doc_id and e.get("source") == "autosave"]


def test_typing_reaches_rest_without_a_commit_one_version_per_save(installation, servers, clients):
    one, two = servers
    doc_id = installation.create_doc(title="Harbour")
    rest, watcher = Rest(two, installation), observer(two, installation, clients)
    start = rest.get(doc_id)["version"]
    owner, editor = peer(one, installation, "owner", doc_id, clients), peer(one, installation, "editor", doc_id, clients)
    type_at_end(owner, " at dawn")
    wait_for(lambda: str(editor.doc.get("content", type=Map)["title"]) == "Harbour at dawn",
             message="the editor to see the owner's typing")
    type_at_end(editor, ", in fog")
    expected = "Harbour at dawn, in fog"
    wait_for(lambda: rest.get(doc_id)["content"]["title"] == expected, message="REST to show the typed title")
    stored = rest.get(doc_id)

    def every_save_announced():
        saves = autosaves(watcher, doc_id)
        return saves if saves and saves[-1]["version"] == stored["version"] else None

    saves = wait_for(every_save_announced, message="the autosave's content_change")
    # One version and one content_change per save, each named after the editors it saved.
    assert stored["version"] - start == len(saves)
    assert [s["version"] for s in saves] == list(range(start + 1, stored["version"] + 1))
    ids = {str(installation.users[r].id): r for r in ("owner", "editor")}
    for save in saves:
        names = {e["userId"] for e in save["editors"]}
        assert save["userId"] in names and names <= ids.keys()
    assert {e["userId"] for s in saves for e in s["editors"]} == ids.keys()


def test_autosave_never_reverts_a_write_made_elsewhere(installation, servers, clients):
    one, two = servers
    doc_id = installation.create_doc(title="Storm", mood="calm")
    rest = Rest(two, installation)
    typist = peer(one, installation, "owner", doc_id, clients)
    type_at_end(typist, " rising")
    rest.patch(doc_id, mood="grim")  # on the other process, between typing and the save
    type_at_end(typist, " fast")

    def saved():
        content = rest.get(doc_id)["content"]
        return content if content["title"] == "Storm rising fast" else None

    content = wait_for(saved, message="the typed title to be saved")
    assert content["mood"] == "grim"


def test_typing_that_never_pauses_is_saved_at_the_longest_delay(typing_on, typing_server, clients):
    doc_id = typing_on.create_doc(title="")
    rest = Rest(typing_server, typing_on)
    typist = peer(typing_server, typing_on, "owner", doc_id, clients)
    typed = []

    def keep_typing_until_saved():
        typed.append("x")
        type_at_end(typist, "x")  # no pause reaches the ten-minute idle debounce
        return rest.get(doc_id)["content"]["title"]

    saved = wait_for(keep_typing_until_saved, interval=0, message="a save while typing goes on")
    assert saved == "x" * len(saved) and 0 < len(saved) <= len(typed)
    assert typist.client.connected  # saved while the typist stayed, not on its departure


def test_the_last_socket_leaving_saves_at_once(patient, patient_server, clients):
    doc_id = patient.create_doc(title="Night")
    rest = Rest(patient_server, patient)
    typist = peer(patient_server, patient, "owner", doc_id, clients)
    type_at_end(typist, " shift")
    typist.close()
    # The debounce is ten minutes here: only the departure can have saved it within the wait.
    wait_for(lambda: rest.get(doc_id)["content"]["title"] == "Night shift", message="the departure to save")


def test_a_server_stopped_by_sigterm_saves_what_was_typed_first(patient, clients):
    """The shutdown save runs while the database connection still works (``aladdin_shutdown``,
    before the app lets its connections go): it used to run at interpreter exit, after them,
    and failed with "Connection with alias ... has not been defined"."""
    doc_id = patient.create_doc(title="Dusk")
    server = Server(patient.env, patient.tmp).start()
    try:
        typist = peer(server, patient, "owner", doc_id, clients)
        type_at_end(typist, " falls")
    finally:
        server.stop()  # SIGTERM with the typist still connected: no departure saves it
    assert "autosave of" not in server.log(), server.log()
    assert patient.get_doc(doc_id)["content"]["title"] == "Dusk falls"


def test_autosave_obeys_the_write_rules(patient, patient_server, clients):
    """A collaborator's unsaved text is not saved by the server once the collaborator may no
    longer edit the document; the owner's explicit commit (having seen it) still can."""
    doc_id = patient.create_doc(role="collaborator", title="Draft")
    rest = Rest(patient_server, patient)
    typist = peer(patient_server, patient, "collaborator", doc_id, clients)
    type_at_end(typist, " with a secret")
    rest.role(patient.users["collaborator"], "viewer")
    try:
        typist.close()
        wait_for(lambda: f"autosave of scenes/{doc_id} waits for an explicit commit" in patient_server.log(),
                 message="the autosave to be refused")
        assert rest.get(doc_id)["content"]["title"] == "Draft"
        owner = peer(patient_server, patient, "owner", doc_id, clients)
        ack = owner.call("yjs_commit", {**owner.ref, "baseVersion": rest.get(doc_id)["version"]})
        assert ack.get("ok") and ack["document"]["content"]["title"] == "Draft with a secret", ack
    finally:
        rest.role(patient.users["collaborator"], "collaborator")
