"""Incremental export benchmark: 10 scenes x 3 s at 1280x720 to mp4-good through the plugin's job
function. Each round starts from an empty segment cache, times a full export, replaces one
scene's media (as regenerating that scene does) and times the same export again.

Run ``python -m bench.export_incremental``. The headline, last, is the median over rounds of
second/first wall time: ``export_incremental ratio X (goal 0.25)``."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench.export import bench_project, clear_segments, install, through_plugin, upload

SCENES, SECONDS, WIDTH, HEIGHT = 10, 3.0, 1280, 720


def make_clip(path: Path, n: int) -> Path:
    """A 1280x720 25 fps clip with a tone: a test pattern tinted differently per ``n``."""
    from plugins.export.ffmpeg import ffmpeg_exe

    hue = (n * 37) % 360
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate=25:duration={SECONDS}",
           "-f", "lavfi", "-i", f"sine=frequency={220 + 20 * n}:sample_rate=48000:duration={SECONDS}",
           "-vf", f"hue=h={hue}", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-b:a", "128k", "-t", str(SECONDS), "-f", "mp4", str(path)]
    subprocess.run(cmd, check=True, capture_output=True)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (full export, one-scene change)")
    args = parser.parse_args(argv)

    from plugins.export.probe import probe

    with tempfile.TemporaryDirectory(prefix="aladdin-bench-incremental-") as tmp:
        folder = Path(tmp)
        app, ext = install(folder)
        with app.app_context():
            user, project = bench_project(app)
            videos = []
            for n in range(SCENES):
                media_id = upload(app, project, user, make_clip(folder / f"scene{n + 1}.mp4", n))
                videos.append(ext.content.create(project, "videos", {
                    "sceneNumber": n + 1, "status": "completed",
                    "content": {"mediaId": media_id, "title": f"Scene {n + 1}"}}, user))
            replacements = [upload(app, project, user, make_clip(folder / f"retake{r}.mp4", 100 + r))
                            for r in range(args.rounds)]
            print(f"{SCENES} scenes x {SECONDS:g} s at {WIDTH}x{HEIGHT} -> mp4-good (1280x720, libx264 "
                  f"medium 2500k, aac 128k, 24 fps); then one scene's media replaced")
            ratios, firsts, seconds = [], [], []
            for r in range(args.rounds):
                clear_segments(app, project)
                first, a = through_plugin(app, project, user, cold=True)
                target = videos[(3 + 4 * r) % SCENES]
                ext.content.collection(project, "videos").update_one(
                    {"_id": target["_id"]}, {"$set": {"content.mediaId": replacements[r]}})
                second, b = through_plugin(app, project, user, cold=False)
                counts = (b["scenesRendered"], b["scenesReused"])
                assert (a["scenesRendered"], a["scenesReused"]) == (SCENES, 0), a
                assert counts == (1, SCENES - 1), b
                info = probe(ext.storage.path_for(b["storageKey"]))
                assert (info.width, info.height, info.video_codec, info.audio_codec) == (1280, 720, "h264", "aac")
                assert abs(info.duration - a["duration"]) <= 1 / 24 + 1e-3, (info.duration, a["duration"])
                ratios.append(second.wall / first.wall)
                firsts.append(first)
                seconds.append(second)
                print(f"round {r + 1}: full export {first.wall:.2f}s ({first.cpu:.2f} cpu-s), after one "
                      f"scene changed {second.wall:.2f}s ({second.cpu:.2f} cpu-s; {counts[0]} rendered, "
                      f"{counts[1]} reused); ratio {ratios[-1]:.3f}")
            cpu = statistics.median(s.cpu / f.cpu for f, s in zip(firsts, seconds))
            print(f"ratios {', '.join(f'{x:.3f}' for x in sorted(ratios))} (spread {min(ratios):.3f}.."
                  f"{max(ratios):.3f}); cpu ratio {cpu:.3f}")
            ext.db.close()
        try:
            ext.jobs.redis.shutdown()
        except Exception:
            pass
        print(f"export_incremental ratio {statistics.median(ratios):.3f} (goal 0.25)")


if __name__ == "__main__":
    main()
