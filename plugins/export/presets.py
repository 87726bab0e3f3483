"""Export presets: the product's built-in output formats and validation of plugin-supplied ones."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

# Encoder-specific arguments the product ships with; a preset may override them.
CODEC_ARGS: dict[str, tuple[str, ...]] = {
    "libx264": ("-preset", "medium", "-profile:v", "high", "-level", "4.0", "-pix_fmt", "yuv420p"),
    "libx265": ("-preset", "medium", "-tag:v", "hvc1", "-pix_fmt", "yuv420p"),
    "libvpx-vp9": ("-row-mt", "1", "-tile-columns", "2", "-cpu-used", "2"),
    "prores_ks": ("-profile:v", "2", "-vendor", "apl0", "-pix_fmt", "yuv422p10le"),
}

# Codec name as a decoder/prober reports it, per encoder.
CODEC_FAMILY: dict[str, str] = {
    "libx264": "h264", "libx265": "hevc", "libvpx-vp9": "vp9", "prores_ks": "prores",
    "aac": "aac", "libopus": "opus",
}

# container -> (ffmpeg muxer, file extension without dot, MIME type, video codecs, audio codecs)
CONTAINERS: dict[str, tuple[str, str, str, frozenset[str], frozenset[str]]] = {
    "mp4": ("mp4", "mp4", "video/mp4", frozenset({"libx264", "libx265"}), frozenset({"aac", "libopus"})),
    "webm": ("webm", "webm", "video/webm", frozenset({"libvpx-vp9"}), frozenset({"libopus"})),
    "mov": ("mov", "mov", "video/quicktime", frozenset({"libx264", "libx265", "prores_ks"}),
            frozenset({"aac"})),
}

DEFAULT_AUDIO_CODEC = {"mp4": "aac", "webm": "libopus", "mov": "aac"}

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}\Z")
_BITRATE_RE = re.compile(r"^[1-9][0-9]{0,6}k\Z")
_RESOLUTION_RE = re.compile(r"^([1-9][0-9]{1,4})x([1-9][0-9]{1,4})\Z")
_ARG_RE = re.compile(r"^[A-Za-z0-9:._+=/-]{1,64}\Z")
MAX_WIDTH, MAX_HEIGHT = 7680, 4320


@dataclass(frozen=True)
class Preset:
    """One output format. `extension` has no leading dot; `video_bitrate` is None for
    intra/quality-driven codecs (ProRes)."""

    id: str
    width: int
    height: int
    video_bitrate: str | None
    audio_bitrate: str
    video_codec: str
    fps: int
    container: str
    audio_codec: str
    codec_args: tuple[str, ...]
    extension: str
    mime_type: str

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def muxer(self) -> str:
        """ffmpeg output format name, always passed with -f."""
        return CONTAINERS[self.container][0]

    @property
    def pix_fmt(self) -> str:
        args = list(self.codec_args)
        if "-pix_fmt" in args and args.index("-pix_fmt") + 1 < len(args):
            return args[args.index("-pix_fmt") + 1]
        return "yuv420p"

    @property
    def video_codec_name(self) -> str:
        """The codec name a prober reports for this preset's video (h264, hevc, vp9, prores)."""
        return CODEC_FAMILY.get(self.video_codec, self.video_codec)

    @property
    def audio_codec_name(self) -> str:
        return CODEC_FAMILY.get(self.audio_codec, self.audio_codec)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resolution": self.resolution,
            "width": self.width,
            "height": self.height,
            "videoBitrate": self.video_bitrate,
            "audioBitrate": self.audio_bitrate,
            "videoCodec": self.video_codec,
            "audioCodec": self.audio_codec,
            "fps": self.fps,
            "container": self.container,
        }


def _make(pid: str, resolution: str, vbr: str | None, abr: str, codec: str, fps: int,
          container: str) -> Preset:
    return preset_from_dict({"id": pid, "resolution": resolution, "videoBitrate": vbr,
                             "audioBitrate": abr, "videoCodec": codec, "fps": fps,
                             "container": container})


def preset_from_dict(d: Mapping[str, Any]) -> Preset:
    """Build a validated Preset from a plugin-supplied mapping.

    Accepts the camelCase keys of `Preset.to_json()` (or their snake_case forms);
    `resolution` ("1280x720") or `width`+`height`; `audioCodec` and `codecArgs` are optional
    and default per container/codec. Raises ValueError naming the bad field.
    """
    if not isinstance(d, Mapping):
        raise ValueError("preset must be a mapping")

    def get(camel: str, snake: str | None = None, default: Any = None) -> Any:
        if camel in d:
            return d[camel]
        if snake and snake in d:
            return d[snake]
        return default

    pid = get("id")
    if not isinstance(pid, str) or not _ID_RE.match(pid):
        raise ValueError(f"preset id must match {_ID_RE.pattern}: {pid!r}")

    resolution = get("resolution")
    width, height = get("width"), get("height")
    if resolution is not None:
        m = _RESOLUTION_RE.match(resolution) if isinstance(resolution, str) else None
        if not m:
            raise ValueError(f"preset {pid}: resolution must look like 1280x720: {resolution!r}")
        rw, rh = int(m.group(1)), int(m.group(2))
        if (width is not None and width != rw) or (height is not None and height != rh):
            raise ValueError(f"preset {pid}: resolution disagrees with width/height")
        width, height = rw, rh
    for name, value, limit in (("width", width, MAX_WIDTH), ("height", height, MAX_HEIGHT)):
        if isinstance(value, bool) or not isinstance(value, int) or not 16 <= value <= limit:
            raise ValueError(f"preset {pid}: {name} must be an integer in 16..{limit}: {value!r}")
        if value % 2:
            raise ValueError(f"preset {pid}: {name} must be even (4:2:0 chroma): {value}")

    container = get("container")
    if container not in CONTAINERS:
        raise ValueError(f"preset {pid}: container must be one of {sorted(CONTAINERS)}: {container!r}")
    muxer, extension, mime, video_codecs, audio_codecs = CONTAINERS[container]

    vcodec = get("videoCodec", "video_codec")
    if vcodec not in CODEC_ARGS:
        raise ValueError(f"preset {pid}: videoCodec must be one of {sorted(CODEC_ARGS)}: {vcodec!r}")
    if vcodec not in video_codecs:
        raise ValueError(f"preset {pid}: {vcodec} cannot be stored in {container}")

    acodec = get("audioCodec", "audio_codec", DEFAULT_AUDIO_CODEC[container])
    if acodec not in audio_codecs:
        raise ValueError(f"preset {pid}: audioCodec for {container} must be one of "
                         f"{sorted(audio_codecs)}: {acodec!r}")

    vbr = get("videoBitrate", "video_bitrate")
    if vcodec == "prores_ks":
        if vbr is not None:
            raise ValueError(f"preset {pid}: ProRes is quality-driven; videoBitrate must be null")
    elif not isinstance(vbr, str) or not _BITRATE_RE.match(vbr):
        raise ValueError(f"preset {pid}: videoBitrate must look like 2500k: {vbr!r}")
    abr = get("audioBitrate", "audio_bitrate")
    if not isinstance(abr, str) or not _BITRATE_RE.match(abr) or not 16 <= int(abr[:-1]) <= 512:
        raise ValueError(f"preset {pid}: audioBitrate must be 16k..512k: {abr!r}")

    fps = get("fps")
    if isinstance(fps, bool) or not isinstance(fps, int) or not 1 <= fps <= 120:
        raise ValueError(f"preset {pid}: fps must be an integer in 1..120: {fps!r}")

    args = get("codecArgs", "codec_args")
    if args is None:
        args = CODEC_ARGS[vcodec]
    if isinstance(args, (str, bytes)) or not all(isinstance(a, str) and _ARG_RE.match(a) for a in args):
        raise ValueError(f"preset {pid}: codecArgs must be a list of plain option tokens")
    args = tuple(args)
    # Options that would change inputs/outputs rather than tune the encoder.
    forbidden = {"-i", "-f", "-y", "-n", "-map", "-filter_complex", "-vf", "-af", "-lavfi",
                 "-metadata", "-progress", "-dump_attachment", "-attach"}
    bad = forbidden.intersection(args)
    if bad:
        raise ValueError(f"preset {pid}: codecArgs may not contain {sorted(bad)}")

    return Preset(id=pid, width=width, height=height, video_bitrate=vbr, audio_bitrate=abr,
                  video_codec=vcodec, fps=fps, container=container, audio_codec=acodec,
                  codec_args=args, extension=extension, mime_type=mime)


BUILTIN_PRESETS: dict[str, Preset] = {
    p.id: p
    for p in (
        _make("mp4-good", "1280x720", "2500k", "128k", "libx264", 24, "mp4"),
        _make("mp4-better", "1920x1080", "5000k", "192k", "libx264", 24, "mp4"),
        _make("mp4-best", "1920x1080", "8000k", "256k", "libx265", 24, "mp4"),
        _make("webm-good", "1280x720", "2000k", "128k", "libvpx-vp9", 24, "webm"),
        _make("webm-best", "1920x1080", "6000k", "192k", "libvpx-vp9", 24, "webm"),
        _make("mov-prores", "1920x1080", None, "256k", "prores_ks", 24, "mov"),
        _make("mp4-4k", "3840x2160", "20000k", "320k", "libx265", 24, "mp4"),
    )
}
