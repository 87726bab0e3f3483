"""Pure ffmpeg rendering for exports: probe scenes, concatenate them in one ffmpeg run, verify.

No Flask and no database here; the job layer passes paths, a Preset and a progress callback.
"""
from __future__ import annotations

import collections
import os
import re
import subprocess
import threading
from typing import Callable

from .ffmpeg import RenderError, _tail
from .ffmpeg_args import build_concat_command, scene_duration
from .presets import Preset
from .probe import MediaInfo, Scene, probe, probe_scenes
from .sanitize import check_output_path


_INPUT_INDEX_RES = (
    re.compile(r"\b(?:in|vist|aist|ist)#(\d+)"),
    re.compile(r"Input #(\d+)"),
    re.compile(r"(?:decoding|[Ii]nput) stream #(\d+):\d+"),
    re.compile(r"\[(\d+):\d+\]"),
)


def culprit_scene(stderr_tail: str, scenes: list[Scene]) -> str | None:
    """Name the scene ffmpeg complains about, from an input index or its path in the message."""
    for line in reversed(stderr_tail.splitlines()):
        for scene in scenes:
            if os.path.abspath(scene.path) in line:
                return scene.name
        for rx in _INPUT_INDEX_RES:
            m = rx.search(line)
            if m and int(m.group(1)) < len(scenes):
                return scenes[int(m.group(1))].name
    return None


class _Throttle:
    """Forward progress only when it advanced by at least one point; never past 99 until done."""

    def __init__(self, callback: Callable[[float], None] | None):
        self.callback = callback
        self.last = -1.0

    def __call__(self, pct: float) -> None:
        if self.callback is None:
            return
        pct = max(0.0, min(99.0, round(pct, 1)))
        if pct - self.last >= 1.0:
            self.last = pct
            self.callback(pct)

    def done(self) -> None:
        if self.callback is not None and self.last < 100.0:
            self.last = 100.0
            self.callback(100.0)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def run_ffmpeg(cmd: list[str], *, total_seconds: float, scenes: list[Scene],
               on_progress: Callable[[float], None] | None, timeout: float | None,
               output_path: str) -> None:
    """Run an ffmpeg command that writes `-progress pipe:1`; raise RenderError on failure.
    on_progress gets raw percentages (wrap it in a throttle); an exception it raises (e.g. a
    cancelled job) stops ffmpeg, removes the partial output and propagates."""
    stderr_lines: collections.deque[str] = collections.deque(maxlen=200)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)

    def drain() -> None:
        for raw in proc.stderr:  # type: ignore[union-attr]
            stderr_lines.append(raw.decode("utf-8", "replace").rstrip())

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.daemon = True
        timer.start()
    try:
        for raw in proc.stdout:  # type: ignore[union-attr]
            key, _, value = raw.decode("ascii", "replace").strip().partition("=")
            if key == "out_time_us" and value.lstrip("-").isdigit() and total_seconds > 0:
                if on_progress is not None:
                    on_progress(int(value) / 1e6 / total_seconds * 100.0)
        proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        _remove(output_path)
        raise
    finally:
        if timer:
            timer.cancel()
        reader.join(timeout=5)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    tail = _tail("\n".join(stderr_lines))
    if timed_out.is_set():
        _remove(output_path)
        raise RenderError(f"ffmpeg timed out after {timeout:g}s", ffmpeg_tail=tail)
    if proc.returncode != 0:
        _remove(output_path)
        raise RenderError(f"ffmpeg failed with exit code {proc.returncode}",
                          scene=culprit_scene(tail, scenes), ffmpeg_tail=tail)


def render_concat(scenes: list[Scene], preset: Preset, output_path, *, metadata: dict,
                  on_progress: Callable[[float], None] | None = None,
                  timeout: float | None = None) -> MediaInfo:
    """Render scenes back to back into output_path (a temp file the caller owns) and verify it.
    On failure nothing is left at output_path."""
    output_path = check_output_path(output_path)
    probed = probe_scenes(scenes)
    total = sum(scene_duration(s, i) for s, i in probed)
    cmd = build_concat_command(probed, preset, output_path, metadata)
    progress = _Throttle(on_progress)
    run_ffmpeg(cmd, total_seconds=total, scenes=[s for s, _ in probed],
               on_progress=progress, timeout=timeout, output_path=output_path)
    try:
        info = verify(output_path, preset, total)
    except RenderError:
        _remove(output_path)
        raise
    progress.done()
    return info


def verify(output_path, preset: Preset, expected_duration: float,
           tolerance: float = 0.5) -> MediaInfo:
    """Check a rendered file: readable, preset resolution and codecs, duration within tolerance."""
    output_path = os.fspath(output_path)
    try:
        info = probe(output_path)
    except RenderError as exc:
        raise RenderError(f"output is not a readable video: {exc.message}",
                          ffmpeg_tail=exc.ffmpeg_tail) from None
    problems = []
    if (info.width, info.height) != (preset.width, preset.height):
        problems.append(f"resolution {info.width}x{info.height}, expected {preset.resolution}")
    if abs(info.duration - expected_duration) > tolerance:
        problems.append(f"duration {info.duration:.2f}s, expected {expected_duration:.2f}s")
    if info.video_codec != preset.video_codec_name:
        problems.append(f"video codec {info.video_codec}, expected {preset.video_codec_name}")
    if info.audio_codec != preset.audio_codec_name:
        problems.append(f"audio codec {info.audio_codec}, expected {preset.audio_codec_name}")
    if problems:
        raise RenderError("output failed verification: " + "; ".join(problems))
    return info
