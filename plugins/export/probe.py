"""Inspecting media: Scene and MediaInfo, probing a file and probing every scene of an export.

There is no ffprobe in the supported installs, so probing parses `ffmpeg -i` output.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from typing import Iterable

from .ffmpeg import _INPUT_GUARD, RenderError, _tail, ffmpeg_exe

PROBE_TIMEOUT = 60.0

_STILL_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe"}


@dataclass
class Scene:
    """One input clip. `name` is the label used in errors (a scene title or id).
    `duration`, when set, trims a video to at most that long and sets a still image's length."""

    path: str
    name: str
    duration: float | None = None


@dataclass
class MediaInfo:
    duration: float
    width: int
    height: int
    fps: float
    has_audio: bool
    video_codec: str
    audio_codec: str | None
    format_name: str = ""
    is_still: bool = False
    video_index: int = 0
    audio_index: int | None = None


_INPUT_RE = re.compile(r"^Input #0, (.+?), from ", re.M)
_DURATION_RE = re.compile(r"^\s*Duration: (?:(\d+):(\d+):(\d+(?:\.\d+)?)|N/A)", re.M)
_STREAM_RE = re.compile(r"^\s*Stream #0:(\d+)(?:\[[^\]]*\])?(?:\([^)]*\))?: (\w+): (.*)$")
_SIZE_RE = re.compile(r"(?<![0-9A-Za-z])([1-9]\d*)x([1-9]\d*)(?![0-9A-Za-z])")
_FPS_RE = re.compile(r"([\d.]+)(k?) (fps|tbr)\b")
_ROTATION_RE = re.compile(r"rotation of (-?[\d.]+) degrees")


def _rate(text: str, unit: str) -> float | None:
    for value, kilo, kind in _FPS_RE.findall(text):
        if kind == unit:
            return float(value) * (1000 if kilo else 1)
    return None


def parse_probe_output(stderr: str, path: str) -> MediaInfo:
    """Parse the stream summary ffmpeg prints for input #0."""
    m = _INPUT_RE.search(stderr)
    if not m:
        raise RenderError("not a readable media file", scene=path, ffmpeg_tail=_tail(stderr))
    format_name = m.group(1)
    block = stderr[m.start():]

    duration = None
    dm = _DURATION_RE.search(block)
    if dm and dm.group(1) is not None:
        duration = int(dm.group(1)) * 3600 + int(dm.group(2)) * 60 + float(dm.group(3))

    video = audio = None
    rotation = 0.0
    current = None
    for line in block.splitlines():
        sm = _STREAM_RE.match(line)
        if sm:
            index, kind, rest = int(sm.group(1)), sm.group(2), sm.group(3)
            current = None
            if kind == "Video" and video is None and "(attached pic)" not in rest:
                size = _SIZE_RE.search(rest)
                if size:
                    video = (index, rest, int(size.group(1)), int(size.group(2)))
                    current = "video"
            elif kind == "Audio" and audio is None:
                audio = (index, rest)
            continue
        if current == "video":
            rm = _ROTATION_RE.search(line)
            if rm:
                rotation = float(rm.group(1))
        if line.startswith(("Output #", "Stream mapping:")):
            break

    if video is None:
        raise RenderError("has no video stream", scene=path, ffmpeg_tail=_tail(stderr))
    vindex, vrest, width, height = video
    if round(abs(rotation)) % 180 == 90:  # ffmpeg autorotates, so the frames arrive turned
        width, height = height, width
    fps = _rate(vrest, "fps") or _rate(vrest, "tbr") or 0.0
    is_still = format_name in _STILL_FORMATS
    if duration is None:
        if not is_still:
            raise RenderError("has no known duration", scene=path, ffmpeg_tail=_tail(stderr))
        duration = 0.0
    return MediaInfo(
        duration=duration, width=width, height=height, fps=fps,
        has_audio=audio is not None,
        video_codec=re.split(r"[ ,]", vrest.strip(), maxsplit=1)[0],
        audio_codec=re.split(r"[ ,]", audio[1].strip(), maxsplit=1)[0] if audio else None,
        format_name=format_name, is_still=is_still, video_index=vindex,
        audio_index=audio[0] if audio else None,
    )


def probe(path) -> MediaInfo:
    """Describe a media file; decodes its first video frame so a file with a valid header
    but undecodable data is caught here rather than halfway through a render."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise RenderError("file not found", scene=path)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", *_INPUT_GUARD, "-i", os.path.abspath(path),
           "-map", "0:v:0?", "-frames:v", "1", "-f", "null", "-"]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RenderError("probing timed out", scene=path) from None
    stderr = proc.stderr.decode("utf-8", "replace")
    info = parse_probe_output(stderr, path)
    if proc.returncode != 0:
        raise RenderError("cannot be decoded", scene=path, ffmpeg_tail=_tail(stderr))
    return info


DECODE_TIMEOUT = 600.0
_OUT_TIME_RE = re.compile(rb"^out_time_us=(\d+)\s*$", re.M)


def decode_check(path, info: MediaInfo) -> None:
    """Decode the whole file (video and audio, to nowhere): a source with decode errors, or
    whose streams end before the duration its header declares (a truncated file keeps the
    header of the whole one), raises ``RenderError`` instead of rendering frozen and silent."""
    if info.is_still:
        return
    path = os.fspath(path)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-v", "error", *_INPUT_GUARD,
           "-i", os.path.abspath(path), "-map", "0:v:0", "-map", "0:a:0?", "-f", "null", "-",
           "-progress", "pipe:1"]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=DECODE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RenderError("decoding timed out", scene=path) from None
    errors = [ln for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    if proc.returncode != 0 or errors:
        raise RenderError("has decode errors (a damaged or truncated file)", scene=path,
                          ffmpeg_tail=_tail("\n".join(errors)))
    times = [int(t) for t in _OUT_TIME_RE.findall(proc.stdout)]
    decoded = max(times) / 1e6 if times else 0.0
    # Frame and packet granularity, and audio a little shorter than video, are normal.
    tolerance = max(0.5, 0.05 * info.duration)
    if info.duration - decoded > tolerance:
        raise RenderError(f"decodes to {decoded:.2f}s of the {info.duration:.2f}s it declares "
                          "(a truncated file)", scene=path)


def probe_scenes(scenes: Iterable[Scene]) -> list[tuple[Scene, MediaInfo]]:
    """Probe every scene up front so a bad one fails fast, named by its label: readable, and
    decoding cleanly to the duration it declares (``decode_check``)."""
    probed = []
    for scene in scenes:
        try:
            info = probe(scene.path)
            decode_check(scene.path, info)
            probed.append((scene, info))
        except RenderError as exc:
            raise RenderError(exc.message, scene=scene.name, ffmpeg_tail=exc.ffmpeg_tail) from exc
    if not probed:
        raise ValueError("nothing to render: no scenes")
    return probed
