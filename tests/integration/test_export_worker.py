"""A real forking RQ worker (``cli.py worker``) SIGKILLed mid-render: the export is retried and completes.

The test process and the workers share one installation: the test process's document server, the session's
Redis and local storage under the same data dir, exactly as ``serve`` and ``worker`` would."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from core.app import create_app
from core.models import JobRecord
from plugins.export.probe import probe
from tests.conftest import make_settings
from tests.integration.test_export_helpers import add_scene
from tests.media import make_scene
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
WAIT = 240  # seconds; generous for a loaded CI machine, never an assertion on speed


def _env(settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALADDIN_")}
    env.update({f"ALADDIN_{k}": str(v) for k, v in settings.extra.items()})
    env.update({"ALADDIN_MONGODB_URI": settings.mongodb_uri, "ALADDIN_REDIS_URL": settings.redis_url,
                "ALADDIN_DATA_DIR": str(settings.data_dir), "ALADDIN_SECRET_KEY": settings.secret_key,
                "ALADDIN_PLATFORM_DB": settings.platform_db, "PYTHONUNBUFFERED": "1"})
    return env


class Installation:
    """An app in this process plus ``cli.py worker`` processes sharing its data."""

    def __init__(self, tmp_path, redis_url, backoff_base):
        data = tmp_path / "data"
        self.queue = "exports-" + uuid.uuid4().hex[:10]
        self.settings = make_settings(tmp_path, redis_url, export_queue=self.queue, export_backoff_base=backoff_base,
                                      export_cleanup_interval=0)
        self.app = create_app(self.settings, load_entry_points=False)
        self.workers: list[subprocess.Popen] = []
        self.logs = tmp_path

    def start_worker(self) -> subprocess.Popen:
        log = open(self.logs / f"worker-{len(self.workers)}.log", "wb")
        proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "worker", "--queue", self.queue],
                                cwd=ROOT, env=_env(self.settings), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own process group: work-horse and scheduler too
        self.workers.append(proc)
        return proc

    def worker_log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.logs.glob("worker-*.log")))

    def close(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        self.app.extensions["aladdin"].db.close()


@pytest.fixture(scope="module")
def long_scenes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long")
    return [make_scene(folder / f"scene{i}.mp4", 320, 180, 3.0, 25, audio=i != 1) for i in range(3)]


def _setup(inst: Installation, scenes) -> str:
    from core.models import User
    from core.projects import create_project
    from plugins.export import service

    with inst.app.app_context():
        owner = User(email="owner@example.com", name="owner").save()
        project = create_project(inst.app, owner, "Long Film", "long-film")
        for n, path in enumerate(scenes, start=1):
            add_scene(inst.app, project, owner, path, n)
        record = service.queue_export(inst.app, project, owner, preset_id="mp4-good", output_filename="long cut")
        return str(record.id)


def _record(inst, job_id) -> JobRecord:
    with inst.app.app_context():
        return JobRecord.objects(id=job_id).first()


def _wait_for(predicate, what: str, inst: Installation):
    return wait_for(predicate, WAIT, lambda: f"{what}\n{inst.worker_log()}", interval=0.2)


def _ffmpeg_rendering(job_id: str) -> list[tuple[int, int]]:
    """(pid, parent pid) of ffmpeg processes writing this job's render (found through /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if cmdline and b"ffmpeg" in Path(cmdline[0].decode(errors="replace")).name.encode() and any(
                f"/tmp/exports/{job_id}-".encode() in arg and b"render." in arg for arg in cmdline):
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            found.append((int(entry.name), ppid))
    return found


def _mid_render(inst, job_id):
    record = _record(inst, job_id)
    if record.status == "processing" and record.progress >= 20 and _ffmpeg_rendering(job_id):
        return record
    return None


def _assert_completed_with_valid_file(inst, job_id, attempts):
    record = _wait_for(lambda: (r := _record(inst, job_id)).status in ("completed", "failed") and r,
                       "the export to finish", inst)
    assert record.status == "completed", f"{record.error}\n{inst.worker_log()}"
    assert record.attempts == attempts and record.error is None and record.progress == 100
    storage = inst.app.extensions["aladdin"].storage
    with inst.app.app_context():
        assert storage.list("projects/long-film/exports/") == [record.result["storageKey"]]
        info = probe(storage.path_for(record.result["storageKey"]))
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (1280, 720, "h264", "aac")
    assert info.duration == pytest.approx(9.0, abs=0.3)
    leftovers = list((inst.settings.data_dir / "tmp" / "exports").glob(f"{job_id}-*"))
    assert leftovers == []  # the killed attempt's work directory was cleared by the retry


def test_sigkilled_work_horse_is_retried_and_completes(tmp_path, redis_server, long_scenes):
    """The process rendering (RQ's forked work-horse) dies by SIGKILL; the worker that forked it
    sees the horse die, and RQ's Retry (1 s backoff, through the worker's scheduler) runs it again."""
    inst = Installation(tmp_path, redis_server, backoff_base=1)
    try:
        job_id = _setup(inst, long_scenes)
        worker = inst.start_worker()
        _wait_for(lambda: _mid_render(inst, job_id), "the render to be under way", inst)
        (ffmpeg_pid, horse_pid), = _ffmpeg_rendering(job_id)
        assert horse_pid != worker.pid  # the fork, not the worker itself
        os.kill(horse_pid, signal.SIGKILL)
        _assert_completed_with_valid_file(inst, job_id, attempts=2)
        assert worker.poll() is None  # the same worker carried on
    finally:
        inst.close()


def test_sigkilled_worker_leaves_an_abandoned_job_that_a_new_worker_retries(tmp_path, redis_server, long_scenes):
    """The whole worker (and its work-horse) dies by SIGKILL and a new worker starts at once.
    The job stays in RQ's StartedJobRegistry until its execution's heartbeat lease lapses (RQ
    grants JOB_MONITORING_INTERVAL + 60 s); the new worker's registry maintenance (at start and
    every MAINTENANCE_INTERVAL, tuned in ``core.jobs``) then handles it as abandoned: retried while
    attempts remain (``StartedJobRegistry.cleanup``). Nothing is shortened by hand: the retry
    must start within two minutes of the kill, and the killed attempt stays in the history."""
    from rq.registry import StartedJobRegistry

    inst = Installation(tmp_path, redis_server, backoff_base=0)
    try:
        job_id = _setup(inst, long_scenes)
        first = inst.start_worker()
        _wait_for(lambda: _mid_render(inst, job_id), "the render to be under way", inst)
        # Everything dies at once, as when the machine or container goes: the worker with its
        # scheduler (one process group), the work-horse (RQ puts it in its own session) and ffmpeg.
        (ffmpeg_pid, horse_pid), = _ffmpeg_rendering(job_id)
        for group in {os.getpgid(pid) for pid in (first.pid, horse_pid, ffmpeg_pid)}:
            os.killpg(group, signal.SIGKILL)
        killed_at = time.monotonic()
        first.wait(timeout=30)
        assert _record(inst, job_id).status == "processing"  # nobody could record anything

        ext = inst.app.extensions["aladdin"]
        registry = StartedJobRegistry(queue=ext.jobs.queue(inst.queue))
        entries = ext.jobs.redis.zrange(registry.key, 0, -1, withscores=True)
        # The dead worker's execution, under its heartbeat lease, or nothing: on a machine so
        # busy that the worker missed its heartbeats for the lease's 70 s, RQ's own maintenance
        # already took the execution as abandoned (CI run of 2026-12-07 under three suites).
        # Either way the retry below must come, and the history must say what happened.
        assert [e.decode().split(":")[0] for e, _ in entries] in ([f"export-{job_id}"], [])
        assert all(score > time.time() for _, score in entries)
        reached = _record(inst, job_id).progress

        inst.start_worker()  # at once, as a process manager would
        retried = _wait_for(lambda: (r := _record(inst, job_id)).attempts == 2 and r, "the retry", inst)
        recovery = time.monotonic() - killed_at
        print(f"abandoned export re-queued and restarted {recovery:.1f} s after its worker was killed")
        assert recovery < 120, recovery
        # A progress write the work-horse sent just before the kill may still land after the read
        # above (the document server is another process, alive): at least what was read is kept.
        assert retried.history == [{"attempt": 1, "startedAt": retried.history[0]["startedAt"],
                                    "progress": retried.history[0]["progress"], "outcome": "abandoned",
                                    "error": "its worker stopped before the attempt finished"}]
        assert reached <= retried.history[0]["progress"] < 100, (reached, retried.history)
        _assert_completed_with_valid_file(inst, job_id, attempts=2)
    finally:
        inst.close()
