"""The studio page in a real browser: Debian's Chromium driven by playwright-core, through Node's
test runner (``tests/browser/studio.test.mjs``), against a served Aladdin that the Node suite
starts, restarts and stops itself (a restart must come back on the same port).

What a person sees there: signing in, two people co-editing a scene's script bound to CodeMirror 6
(concurrent typing converges, presence and remote cursors with the server's names), a viewer who
reads but cannot write, a REST PATCH appearing live, a reload keeping the text, a server restart
survived, an export watched to its poster and contact sheet, an invited person signing up and
co-editing with no operator step, and no request leaving the server's origin. Screenshots are
kept under ``test-artifacts/browser``.

Chromium and the npm packages are installed by this module when missing (``apt-get`` needs
root, as on CI); elsewhere the module is skipped and says why."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.installing import npm_ci
from tests.e2e.realtime_support import ROOT, installed

HERE = Path(__file__).resolve().parent
STUDIO = ROOT / "clients" / "studio"
BUNDLE = ROOT / "plugins" / "studio" / "static" / "studio.js"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
PASSWORDS = {"owner": "owner-pass-123", "editor": "editor-pass-123", "viewer": "viewer-pass-123"}


@pytest.fixture(scope="module")
def installation(tmp_path_factory, redis_server):
    yield from installed(tmp_path_factory, redis_server, "studio")


def seeded(installation) -> dict:
    """The demo project with its three scene videos (so an export has something to render), and
    an owner, an editor and a viewer who sign in with passwords."""
    from core.demo import seed_demo
    from core.projects import add_member
    from core.sessions import set_password

    app = installation.app
    info = seed_demo(app, "http://unused")
    from core.models import Project, User

    project = Project.objects(id=info["project"]["id"]).first()
    director = User.objects(email="director@demo.aladdin").first()
    people = {"owner": director, "editor": installation.users["editor"], "viewer": installation.users["viewer"]}
    for role in ("editor", "viewer"):
        add_member(app, project, people[role], role, director)
    users = {}
    for role, user in people.items():
        set_password(user, PASSWORDS[role])
        users[role] = {"email": user.email, "password": PASSWORDS[role], "name": user.name}
    scenes, _ = app.extensions["aladdin"].content.list(project, "scenes", reader=director, limit=10)
    scene_ids = {doc["content"]["title"]: str(doc["_id"]) for doc in scenes}
    return {"projectId": str(project.id), "scenes": scene_ids, "users": users}


def run_node(script: str, cwd: Path, env: dict, log: Path, timeout: float = 600) -> tuple[int, str]:
    """``node --test script`` in its own process group: whatever it started (the served Aladdin,
    Chromium) is stopped with it, even when it hangs or fails."""
    with log.open("w") as out:
        node = subprocess.Popen(["node", "--test", "--test-reporter=tap", "--test-concurrency=1", script], cwd=cwd,
                                env=env, stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            code = node.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = -1
        finally:
            try:
                os.killpg(node.pid, signal.SIGKILL)  # the group: node's children included
            except ProcessLookupError:
                pass
            node.wait()
    return code, log.read_text()


@pytest.mark.timeout(900)
def test_the_studio_works_in_chromium(installation, chromium, tmp_path):
    reason = npm_ci(HERE)
    if reason:
        pytest.fail(reason)
    data = seeded(installation)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALADDIN_")}
    env.update(installation.env)
    env.update({"STUDIO_PYTHON": sys.executable, "STUDIO_ROOT": str(ROOT), "STUDIO_CHROMIUM": chromium,
                "STUDIO_ARTIFACTS": str(ARTIFACTS), "STUDIO_LOGS": str(tmp_path), "STUDIO_DATA": json.dumps(data),
                "PYTHONUNBUFFERED": "1"})
    code, output = run_node("studio.test.mjs", HERE, env, tmp_path / "node.log")
    print(output[-6000:])
    assert code == 0, output[-12000:]
    assert "# fail 0" in output and "# pass 0" not in output
    assert sorted(p.name for p in ARTIFACTS.glob("*.png")), "the suite keeps screenshots"


def test_the_committed_bundle_is_built_from_clients_studio(tmp_path):
    """``plugins/studio/static/studio.js`` is what ``npm run build`` makes of ``clients/studio``
    on the locked packages: the page a fresh install serves is the source in the repository."""
    reason = npm_ci(STUDIO)
    if reason:
        pytest.skip(reason) if "not on PATH" in reason else pytest.fail(reason)
    out = tmp_path / "studio.js"
    built = subprocess.run(["node", "build.mjs", str(out)], cwd=STUDIO, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    assert out.read_bytes() == BUNDLE.read_bytes(), "rebuild the studio: cd clients/studio && npm ci && npm run build"
