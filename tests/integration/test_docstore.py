"""The embedded document server as operators run it: one nx-27017 process per installation,
shared by every process and gone with the last; any collection name a plugin may declare; lists
read from indexes; atomic writes under concurrent processes; the one-time import of litemongo data."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pymongo
import pytest
import requests

from core.embedded_mongo import EmbeddedMongo
from tests.integration.test_operator import servers  # noqa: F401 - the fixture: servers stopped at teardown
from tests.integration.test_processes import ROOT, STARTUP_DEADLINE, Server, _alive, _embedded_env
from tests.waiting import wait_for


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", *args], cwd=ROOT, env=_embedded_env(data_dir),
                          capture_output=True, text=True, timeout=STARTUP_DEADLINE)


def _server_pid(data_dir: Path) -> int | None:
    return EmbeddedMongo(data_dir).pid()


def _serve(servers, data_dir: Path) -> Server:
    server = Server(data_dir, False)
    servers.append(server)
    server.wait_ready(False)
    return server


# --- lifecycle --------------------------------------------------------------------------------

def test_one_server_per_installation_shared_by_every_process_and_stopped_by_the_last(tmp_path):
    data = tmp_path / "data"
    mine = EmbeddedMongo(data)
    uri = mine.join()
    pid = _server_pid(data)
    try:
        assert _alive(pid) and uri == f"mongodb://127.0.0.1:{(data / 'docstore' / 'server.port').read_text()}/"
        # A one-off command joins the same server (no second process) and leaves it running.
        created = _cli(data, "users", "create", "ada@example.com", "--name", "Ada")
        assert created.returncode == 0, created.stderr
        assert _server_pid(data) == pid and _alive(pid)
        client = pymongo.MongoClient(uri)
        assert client["aladdin"]["users"].find_one({"email": "ada@example.com"})["name"] == "Ada"
        client.close()
        servers = [p for p in psutil.process_iter(["cmdline"])
                   if str(data / "docstore") in " ".join(p.info["cmdline"] or ())]
        assert [p.pid for p in servers] == [pid]
    finally:
        assert mine.leave() is True  # the last one out stops it
    assert not _alive(pid)
    assert not (data / "docstore" / "server.port").exists()
    # Its data stays: the next process finds the user again on a new server.
    again = EmbeddedMongo(data)
    client = pymongo.MongoClient(again.join())
    try:
        assert client["aladdin"]["users"].count_documents({"email": "ada@example.com"}) == 1
    finally:
        client.close()
        again.leave()


def test_a_killed_installation_leaves_no_server_behind(tmp_path):
    """SIGKILL gives a process no chance to stop anything: the server's watchdog sees that no
    process of the installation holds its lock any more and stops itself."""
    data = tmp_path / "data"
    code = ("import sys, time; from core.embedded_mongo import EmbeddedMongo; "
            f"print(EmbeddedMongo({str(data)!r}).join(), flush=True); time.sleep(600)")
    user = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert user.stdout.readline().startswith("mongodb://127.0.0.1:")
        pid = _server_pid(data)
        assert _alive(pid)
        user.kill()
        user.wait()
        wait_for(lambda: not _alive(pid), 30, "the orphaned document server to stop itself")
    finally:
        if user.poll() is None:
            user.kill()
            user.wait()
        leftover = _server_pid(data)
        if _alive(leftover):
            os.kill(leftover, signal.SIGKILL)


# --- collection names, indexes ----------------------------------------------------------------

class KeywordTypes:
    """Content types named after SQL keywords, as a third-party plugin may declare them."""

    from core.hookspecs import hookimpl

    @hookimpl
    def aladdin_content_types(self):
        from core.content import ContentType

        return [ContentType(name="order", reference_fields=(("content.sceneId", "scenes"),)),
                ContentType(name="select"), ContentType(name="unique"), ContentType(name="group")]


@pytest.fixture
def keyword_app(settings):
    from core.app import create_app

    app = create_app(settings, plugins=(KeywordTypes(),), load_entry_points=False)
    app.testing = True
    with app.app_context():
        yield app
    app.extensions["aladdin"].close()


def test_collections_named_after_sql_keywords_list_index_and_clone(keyword_app):
    from core.projects import create_project
    from tests.conftest import Actors

    ext = keyword_app.extensions["aladdin"]
    owner = Actors(keyword_app).user("owner@example.com")
    source = create_project(keyword_app, owner, "Source", "keyword-source")
    create_project(keyword_app, owner, "Target", "keyword-target")
    client = keyword_app.test_client()
    for name in ("order", "select", "unique", "group"):
        base = f"/api/v1/projects/keyword-source/content/{name}"
        made = [client.post(base, json={"content": {"n": i}}, headers=owner.headers) for i in range(3)]
        assert all(r.status_code == 201 for r in made), made[0].json
        listed = client.get(base + "?sort=-createdAt", headers=owner.headers).json
        assert listed["total"] == 3 and [d["content"]["n"] for d in listed["items"]] == [2, 1, 0]
        db = ext.db.project(source.slug)
        assert name in db.list_collection_names()  # the product sees the declared name
        assert any(dict(ix["key"]) == {"createdAt": 1} for ix in db[name].index_information().values())
    scene = client.post("/api/v1/projects/keyword-source/content/scenes", json={"content": {"title": "S"}},
                        headers=owner.headers).json
    order = client.post("/api/v1/projects/keyword-source/content/order",
                        json={"content": {"sceneId": scene["id"]}}, headers=owner.headers).json
    cloned = client.post("/api/v1/projects/keyword-source/clone", headers=owner.headers,
                         json={"targetProjectId": "keyword-target", "contentType": "order", "documentId": order["id"]})
    assert cloned.status_code == 201, cloned.json
    copied = client.get("/api/v1/projects/keyword-target/content/order", headers=owner.headers).json
    assert copied["total"] == 1 and copied["items"][0]["clonedFrom"]["documentId"] == order["id"]
    assert client.get("/api/v1/projects/keyword-target/content/scenes", headers=owner.headers).json["total"] == 1


def _plan(data_file: Path, collection: str, query: dict, sort: list) -> list[str]:
    """SQLite's plan for the query the server runs (nx-27017's own explain leaves out the sort)."""
    import neosqlite

    connection = neosqlite.Connection(str(data_file))
    try:
        plan = connection[collection].find(query).sort(sort).limit(50).explain()
        return [step["detail"] for step in plan["queryPlanner"]["winningPlan"]]
    finally:
        connection.close()


def test_lists_are_read_from_indexes_not_sorted_in_memory(app, team):
    from core.content import SYSTEM
    from tests.conftest import _docstore

    ext = app.extensions["aladdin"]
    project, owner = team["project"], team["owner"]
    for i in range(30):
        ext.content.create(project, "scenes", {"content": {"title": f"S{i}", "status": "draft"}}, owner)
    docs, total = ext.content.list(project, "scenes", reader=SYSTEM)
    assert total == 30 and len(docs) == 30
    data_file = _docstore["server"].data / f"open_{project.slug}.db"
    default = _plan(data_file, "scenes", {}, [("createdAt", 1), ("_id", 1)])
    assert any("USING INDEX" in step and "createdAt" in step for step in default), default
    assert not any(step == "USE TEMP B-TREE FOR ORDER BY" for step in default), default  # only ties are sorted
    newest = _plan(data_file, "scenes", {}, [("createdAt", -1), ("_id", -1)])
    assert not any(step == "USE TEMP B-TREE FOR ORDER BY" for step in newest), newest
    for query in ({"createdBy": str(owner.id)}, {"content.status": "draft"}):
        filtered = _plan(data_file, "scenes", query, [("createdAt", 1), ("_id", 1)])
        assert any("USING INDEX" in step for step in filtered), (query, filtered)
        assert not any(step == "USE TEMP B-TREE FOR ORDER BY" for step in filtered), (query, filtered)


# --- atomic writes ------------------------------------------------------------------------------

def _compare_and_set(uri: str, doc_id, writer: str, rounds: int, results) -> None:
    client = pymongo.MongoClient(uri)
    coll = client["aladdin_cas"]["docs"]
    wins = []
    for _ in range(rounds):
        version = coll.find_one({"_id": doc_id})["version"]
        won = coll.find_one_and_update({"_id": doc_id, "version": version},
                                       {"$set": {"version": version + 1}, "$push": {"log": writer}})
        if won is not None:
            wins.append(version)
        coll.update_one({"_id": doc_id}, {"$inc": {"count": 1}})
    client.close()
    results.put((writer, wins))


def _process(uri: str, doc_id, name: str, threads: int, rounds: int, results) -> None:
    workers = [threading.Thread(target=_compare_and_set, args=(uri, doc_id, f"{name}-{t}", rounds, results))
               for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def test_compare_and_set_and_inc_hold_across_processes_and_threads():
    from tests.conftest import docstore_uri

    uri, processes, threads, rounds = docstore_uri(), 4, 3, 25
    client = pymongo.MongoClient(uri)
    coll = client["aladdin_cas"]["docs"]
    doc_id = coll.insert_one({"version": 1, "log": [], "count": 0}).inserted_id
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    started = [context.Process(target=_process, args=(uri, doc_id, f"p{n}", threads, rounds, results))
               for n in range(processes)]
    try:
        for process in started:
            process.start()
        outcomes = [results.get(timeout=STARTUP_DEADLINE) for _ in range(processes * threads)]
    finally:
        for process in started:
            process.join(30)
            if process.is_alive():
                process.kill()
    final = coll.find_one({"_id": doc_id})
    won_versions = [v for _, wins in outcomes for v in wins]
    # Exactly one winner per version, and every acknowledged write is in the document.
    assert sorted(won_versions) == list(range(1, final["version"]))
    assert len(final["log"]) == len(won_versions)
    assert sorted(final["log"]) == sorted(w for w, wins in outcomes for _ in wins)
    assert final["count"] == processes * threads * rounds
    client.drop_database("aladdin_cas")
    client.close()


def test_concurrent_patches_through_two_servers_have_one_winner_per_version(tmp_path, servers):
    data = tmp_path / "data"
    first, second = _serve(servers, data), _serve(servers, data)
    token = first.cli("users", "create", "ada@example.com").stdout.strip().splitlines()[-1]
    assert first.cli("projects", "create", "Race", "--owner", "ada@example.com", "--slug", "race").returncode == 0
    headers = {"Authorization": f"Bearer {token}"}
    base = "/api/v1/projects/race/content/scenes"
    doc = requests.post(first.url + base, json={"content": {"title": "T"}}, headers=headers).json()
    url = f"{base}/{doc['id']}"
    winners = []
    for round_ in range(8):
        version = requests.get(first.url + url, headers=headers).json()["version"]

        def patch(n: int) -> tuple[int, str]:
            server = (first, second)[n % 2]
            body = {"content": {f"w{round_}_{n}": True}, "baseVersion": version}
            return requests.patch(server.url + url, json=body, headers=headers).status_code, f"w{round_}_{n}"

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(patch, range(6)))
        codes = sorted(code for code, _ in answers)
        assert codes == [200, 409, 409, 409, 409, 409], answers
        winners += [key for code, key in answers if code == 200]
    stored = requests.get(second.url + url, headers=headers).json()
    assert stored["version"] == 1 + len(winners)
    assert sorted(k for k in stored["content"] if k.startswith("w")) == sorted(winners)


# --- the old store ------------------------------------------------------------------------------

def _litemongo_installation(data_dir: Path) -> None:
    """What an installation made before the document server left under its data dir."""
    import litemongo

    client = litemongo.MongoClient(litemongo.client.create_store(str(data_dir / "mongo")))
    platform = client["aladdin"]
    platform["users"].insert_one({"email": "old@example.com", "name": "Old"})
    platform["users"].create_index("email", unique=True)
    scenes = client["open_old-film"]["scenes"]
    scenes.insert_many([{"content": {"title": f"Scene {i}"}, "version": 1} for i in range(250)])
    scenes.create_index([("createdAt", 1)])
    client.close()


def test_serve_beside_old_data_refuses_and_the_import_copies_it_once(tmp_path):
    data = tmp_path / "data"
    _litemongo_installation(data)
    refused = _cli(data, "serve", "--port", "0", "--no-worker")
    assert refused.returncode == 1
    assert "aladdin store import-litemongo" in refused.stderr and "litemongo" in refused.stderr
    imported = _cli(data, "store", "import-litemongo")
    assert imported.returncode == 0, imported.stderr
    assert "copied      250  open_old-film.scenes" in imported.stdout
    assert "copied        1  aladdin.users" in imported.stdout
    assert (data / "mongo").is_dir()  # the old files stay until the operator removes them
    again = _cli(data, "store", "import-litemongo")
    assert again.returncode == 1 and "already holds" in again.stderr  # once: nothing is doubled
    listed = _cli(data, "users", "list", "--json")
    assert listed.returncode == 0 and "old@example.com" in listed.stdout
    uri = EmbeddedMongo(data)
    client = pymongo.MongoClient(uri.join())
    try:
        assert client["open_old-film"]["scenes"].estimated_document_count() == 250
        assert any(dict(ix["key"]) == {"email": 1} and ix.get("unique")
                   for ix in client["aladdin"]["users"].index_information().values())
    finally:
        client.close()
        uri.leave()
