"""Building ffmpeg arguments: encoder/container options, metadata, and the one-run concat
command whose filter graph normalises every scene to the preset."""
from __future__ import annotations

import os

from .ffmpeg import _INPUT_GUARD, ffmpeg_exe
from .presets import Preset
from .probe import MediaInfo, Scene
from .sanitize import check_output_path, sanitize_metadata

DEFAULT_STILL_SECONDS = 3.0
AUDIO_RATE = 48000


def metadata_args(metadata: dict[str, str] | None) -> list[str]:
    args: list[str] = []
    for key, value in sanitize_metadata(metadata).items():
        args += ["-metadata", f"{key}={value}"]  # one argv item: a value can never be an option
    return args


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
