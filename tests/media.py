"""Tiny real media files for tests, generated with the bundled ffmpeg (no fixtures on disk)."""
from __future__ import annotations

import os
import subprocess

import imageio_ffmpeg


def _ffmpeg(*args: str) -> None:
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {proc.stderr[-2000:]}")


def _out(path) -> str:
    path = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def make_scene(path, width: int = 160, height: int = 90, seconds: float = 1.0, fps: int = 25,
               audio: bool = True, color: str | None = None) -> str:
    """Write a short H.264 (+ AAC sine tone) MP4: testsrc2 pattern, or a flat `color`."""
    out = _out(path)
    if color:
        video = f"color=c={color}:size={width}x{height}:rate={fps}:duration={seconds}"
    else:
        video = f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}"
    args = ["-f", "lavfi", "-i", video]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac", "-b:a", "64k"] if audio else ["-an"]
    args += ["-t", str(seconds), "-f", "mp4", out]
    _ffmpeg(*args)
    return out


def make_image(path, w: int = 32, h: int = 32) -> str:
    """Write a single-frame PNG test pattern."""
    out = _out(path)
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate=1", "-frames:v", "1",
            "-f", "image2", "-c:v", "png", out)
    return out


def make_corrupt(path) -> str:
    """Write garbage bytes under a video-looking name."""
    out = _out(path)
    with open(out, "wb") as fh:
        fh.write(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4096))
    return out
