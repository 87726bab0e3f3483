"""Pure ffmpeg rendering for exports: probe scenes, concatenate them in one ffmpeg run, verify.

No Flask and no database here; the job layer passes paths, a Preset and a progress callback.
There is no ffprobe in the supported installs, so probing parses `ffmpeg -i` output.
"""
from __future__ import annotations

import collections
import functools
import os
import re
import shutil
import subprocess
import threading
import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterable

from .presets import Preset

TAIL_LINES = 15
PROBE_TIMEOUT = 60.0
DEFAULT_STILL_SECONDS = 3.0
AUDIO_RATE = 48000

# Demuxers an export may read. Anything else (HLS/concat playlists, lavfi, ...) is refused:
# those can make ffmpeg open other local files or URLs named inside an uploaded "video".
INPUT_FORMATS = (
    "mov", "matroska", "avi", "mpegts", "mpeg", "flv", "ogg", "gif", "image2",
    "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe",
)
_STILL_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe"}
_INPUT_GUARD = ("-format_whitelist", ",".join(INPUT_FORMATS), "-protocol_whitelist", "file")


class RenderError(Exception):
    """A render failed. `scene` names the culprit when known; `ffmpeg_tail` holds the last
    lines of ffmpeg's stderr (also included in str(e))."""

    def __init__(self, message: str, *, scene: str | None = None, ffmpeg_tail: str = ""):
        self.scene = scene
        self.ffmpeg_tail = ffmpeg_tail
        self.message = message
        text = f"scene {scene!r}: {message}" if scene else message
        if ffmpeg_tail:
            text += "\n--- ffmpeg ---\n" + ffmpeg_tail
        super().__init__(text)


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


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """The ffmpeg binary: imageio-ffmpeg's bundled one (honours IMAGEIO_FFMPEG_EXE), else PATH."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # pragma: no cover - depends on the install
        found = shutil.which("ffmpeg")
        if not found:
            raise RenderError("no ffmpeg binary found (install imageio-ffmpeg)")
        return found


def _tail(text: str, n: int = TAIL_LINES) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines[-n:])


# ---------------------------------------------------------------------------------- probing

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


# ---------------------------------------------------------------------------- sanitising

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}


def sanitize_filename(name: str, default: str = "export") -> str:
    """A safe single-component file name: no directories, no control characters or quotes,
    only [A-Za-z0-9._ -], no leading '-' or '.', at most 100 characters, never empty."""
    name = "" if name is None else str(name)
    name = re.split(r"[\\/]", name)[-1]  # the last path component only: no traversal
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[\x00-\x1f\x7f\"'`]", "", name)
    name = re.sub(r"[^A-Za-z0-9._ -]+", "_", name)
    name = re.sub(r"_{2,}", "_", re.sub(r" {2,}", " ", name))
    name = re.sub(r"\.{2,}", ".", name)
    name = name.lstrip("-. _").rstrip(". ")
    name = name[:100].rstrip(". ")
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:
        name = "_" + name
    if not name:
        return sanitize_filename(default, "export") if default != "export" else "export"
    return name


_METADATA_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
MAX_METADATA_VALUE = 1024


def sanitize_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    """Keys must be plain identifiers; values lose control characters and line breaks."""
    clean: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not _METADATA_KEY_RE.match(key):
            raise ValueError(f"invalid metadata key: {key!r}")
        if value is None:
            continue
        text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
                       for ch in str(value))
        text = re.sub(r"\s+", " ", text).strip()[:MAX_METADATA_VALUE]
        if text:
            clean[key] = text
    return clean


def metadata_args(metadata: dict[str, str] | None) -> list[str]:
    args: list[str] = []
    for key, value in sanitize_metadata(metadata).items():
        args += ["-metadata", f"{key}={value}"]  # one argv item: a value can never be an option
    return args


def check_output_path(output_path) -> str:
    output_path = os.fspath(output_path)
    if not (os.path.isabs(output_path) or output_path.startswith("./")):
        raise ValueError("output_path must be absolute or start with './'")
    return output_path


# -------------------------------------------------------------------------------- command

def _fmt(seconds: float) -> str:
    return f"{seconds:.6f}"


def scene_duration(scene: Scene, info: MediaInfo) -> float:
    """How long a scene lasts in the export."""
    if info.is_still:
        return float(scene.duration or DEFAULT_STILL_SECONDS)
    if scene.duration:
        return min(float(scene.duration), info.duration)
    return info.duration


def output_args(preset: Preset) -> list[str]:
    """Encoder, bitrate and container options shared by the ffmpeg and MoviePy paths."""
    args = ["-c:v", preset.video_codec, *preset.codec_args]
    if preset.video_bitrate:
        args += ["-b:v", preset.video_bitrate]
    args += ["-c:a", preset.audio_codec, "-b:a", preset.audio_bitrate,
             "-ar", str(AUDIO_RATE), "-ac", "2"]
    if preset.muxer in ("mp4", "mov"):
        args += ["-movflags", "+faststart"]
    return args


def build_concat_command(scenes: list[tuple[Scene, MediaInfo]], preset: Preset, output_path,
                         metadata: dict[str, str]) -> list[str]:
    """One ffmpeg invocation that normalises every scene to the preset and concatenates them."""
    if not scenes:
        raise ValueError("nothing to render: no scenes")
    output_path = check_output_path(output_path)
    w, h, fps = preset.width, preset.height, preset.fps
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "warning",
           "-nostats", "-progress", "pipe:1"]
    chains: list[str] = []
    pads: list[str] = []
    for i, (scene, info) in enumerate(scenes):
        cmd += [*_INPUT_GUARD, "-i", os.path.abspath(scene.path)]
        d = _fmt(scene_duration(scene, info))
        # Letterbox into the frame, then force every scene onto the same clock and length so
        # the concat filter never drifts: tpad+trim gives each scene exactly d seconds.
        chains.append(
            f"[{i}:{info.video_index}]setpts=PTS-STARTPTS,"
            f"scale=w={w}:h={h}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
            f"pad=w={w}:h={h}:x=(ow-iw)/2:y=(oh-ih)/2:color=black,setsar=1,"
            f"fps={fps},format={preset.pix_fmt},"
            f"tpad=stop_mode=clone:stop_duration={d},trim=duration={d},setpts=PTS-STARTPTS[v{i}]"
        )
        audio_format = f"aformat=sample_fmts=fltp:sample_rates={AUDIO_RATE}:channel_layouts=stereo"
        if info.has_audio and info.audio_index is not None:
            chains.append(
                f"[{i}:{info.audio_index}]asetpts=PTS-STARTPTS,aresample={AUDIO_RATE},{audio_format},"
                f"apad,atrim=duration={d},asetpts=PTS-STARTPTS[a{i}]"
            )
        else:
            chains.append(
                f"anullsrc=channel_layout=stereo:sample_rate={AUDIO_RATE},"
                f"atrim=duration={d},{audio_format},asetpts=PTS-STARTPTS[a{i}]"
            )
        pads.append(f"[v{i}][a{i}]")
    chains.append(f"{''.join(pads)}concat=n={len(scenes)}:v=1:a=1[vout][aout]")
    cmd += ["-filter_complex", ";".join(chains), "-map", "[vout]", "-map", "[aout]"]
    cmd += output_args(preset)
    cmd += ["-map_metadata", "-1", "-map_chapters", "-1", *metadata_args(metadata)]
    cmd += ["-f", preset.muxer, output_path]
    return cmd


# -------------------------------------------------------------------------------- running

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


def probe_scenes(scenes: Iterable[Scene]) -> list[tuple[Scene, MediaInfo]]:
    """Probe every scene up front so a bad one fails fast, named by its label."""
    probed = []
    for scene in scenes:
        try:
            probed.append((scene, probe(scene.path)))
        except RenderError as exc:
            raise RenderError(exc.message, scene=scene.name, ffmpeg_tail=exc.ffmpeg_tail) from exc
    if not probed:
        raise ValueError("nothing to render: no scenes")
    return probed


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
