"""FFmpeg commands of the segmented export: render units of a Timeline to video-only segments
(closed GOP, the preset's codec settings), and join segments by stream copy while the audio of
the whole timeline is encoded in that same, single pass (so no join can gap or click).

No Flask, no storage: paths in, files out; the caller runs commands through render.run_ffmpeg."""
from __future__ import annotations

import os

from .ffmpeg import _INPUT_GUARD, ffmpeg_exe
from .ffmpeg_args import AUDIO_RATE, metadata_args
from .presets import Preset
from .probe import MediaInfo
from .sanitize import check_output_path
from .timeline import Timeline, Unit

STILL_WIDTH = 1280  # the largest still kept per scene segment (poster and contact sheet source)
_AUDIO_FORMAT = f"aformat=sample_fmts=fltp:sample_rates={AUDIO_RATE}:channel_layouts=stereo"


def _base_cmd() -> list[str]:
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "warning", "-nostats",
            "-progress", "pipe:1"]


def _merge_params(args: list[str], option: str, extra: str) -> list[str]:
    """Add ``extra`` to an ``-x264-params``-style option, keeping a preset's own values."""
    if option in args and args.index(option) + 1 < len(args):
        i = args.index(option) + 1
        args[i] = f"{args[i]}:{extra}"
        return args
    return [*args, option, extra]


def video_args(preset: Preset) -> list[str]:
    """The preset's encoder settings plus what makes segments joinable by stream copy: closed
    GOPs (every segment opens on an IDR frame nothing before it is referenced from) and, for
    x264, headers that do not depend on the content (``stitchable``)."""
    args = ["-c:v", preset.video_codec, *preset.codec_args]
    if preset.video_bitrate:
        args += ["-b:v", preset.video_bitrate]
    if preset.video_codec == "libx264":
        args = _merge_params(args + ["-flags", "+cgop"], "-x264-params", "stitchable=1")
    elif preset.video_codec == "libx265":
        args = _merge_params(args + ["-flags", "+cgop"], "-x265-params", "open-gop=0")
    return args


def normalise_chain(label_in: str, preset: Preset, frames: int, label_out: str) -> str:
    """Letterbox a scene into the preset frame on the preset clock, exactly ``frames`` long
    (the same filters as the one-run render, cut by frame count instead of by seconds)."""
    w, h, fps = preset.width, preset.height, preset.fps
    return (f"[{label_in}]setpts=PTS-STARTPTS,"
            f"scale=w={w}:h={h}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
            f"pad=w={w}:h={h}:x=(ow-iw)/2:y=(oh-ih)/2:color=black,setsar=1,"
            f"fps={fps},format={preset.pix_fmt},"
            f"tpad=stop_mode=clone:stop_duration={frames / fps + 1:.6f},"
            f"trim=end_frame={frames},setpts=PTS-STARTPTS[{label_out}]")


def crossfade_command(unit: Unit, timeline: Timeline, preset: Preset,
                      inputs: list[tuple[str, MediaInfo]], output_path) -> list[str]:
    """One ffmpeg run rendering a crossfade segment: the last ``unit.frames`` of the outgoing
    scene blended into the first ``unit.frames`` of the incoming one (``inputs``: both
    (path, info)), each normalised exactly as its scene segment is."""
    if unit.kind != "crossfade":
        raise ValueError(f"not a crossfade: {unit.kind!r}")
    output_path = check_output_path(output_path)
    (a_path, a_info), (b_path, b_info) = inputs
    cmd = _base_cmd() + [*_INPUT_GUARD, "-i", os.path.abspath(a_path), *_INPUT_GUARD, "-i", os.path.abspath(b_path)]
    a_len, b_len = timeline.scene_frames[unit.scene], timeline.scene_frames[unit.scene + 1]
    chains = [normalise_chain(f"0:{a_info.video_index}", preset, a_len, "na"),
              normalise_chain(f"1:{b_info.video_index}", preset, b_len, "nb"),
              f"[na]trim=start_frame={a_len - unit.frames},setpts=PTS-STARTPTS[ta]",
              f"[nb]trim=end_frame={unit.frames},setpts=PTS-STARTPTS[hb]",
              f"[ta][hb]xfade=transition=fade:duration={unit.frames / preset.fps:.6f}:offset=0,"
              f"trim=end_frame={unit.frames},setpts=PTS-STARTPTS[v]"]
    return cmd + ["-filter_complex", ";".join(chains), "-map", "[v]", *video_args(preset), "-an",
                  "-map_metadata", "-1", "-map_chapters", "-1", "-f", preset.muxer, output_path]


def _forced_idr(preset: Preset) -> list[str]:
    return ["-forced-idr", "1"] if preset.video_codec in ("libx264", "libx265") else []


def _tee_escape(text: str) -> str:
    """Quote a value or file name inside an ffmpeg ``tee`` output specification."""
    return "".join("\\" + c if c in "\\:|[]',=" else c for c in str(text))


def _audio_args(preset: Preset) -> list[str]:
    return ["-c:a", preset.audio_codec, "-b:a", preset.audio_bitrate, "-ar", str(AUDIO_RATE), "-ac", "2"]


def batch_command(units: list[Unit], timeline: Timeline, preset: Preset,
                  inputs: list[tuple[str, MediaInfo] | None], title_images: list[str | None],
                  pattern: str, still_pattern: str, list_path, *, final=None, metadata=None) -> list[str]:
    """One ffmpeg run (one encoder, so no per-segment start-up or drain) rendering several scene
    and title units back to back and splitting them into one segment file each at IDR frames
    forced on their boundaries. ``inputs[i]`` is unit i's scene (None for a title, whose image is
    ``title_images[i]``). Scene units also get their middle frame in ``still_pattern``, in order;
    ``list_path`` receives the segment muxer's CSV list (file, start, end) to check lengths.

    With ``final`` (a path) the units must be the whole timeline: the same run also encodes the
    soundtrack and writes the finished film there (a ``tee`` of the one video encode), so a full
    export costs one encode, exactly like a hand-written single command."""
    fps = preset.fps
    cmd = _base_cmd()
    chains: list[str] = []
    pads, boundaries, stills = [], [], []
    offset = 0
    for i, unit in enumerate(units):
        if unit.kind == "title":
            cmd += [*_INPUT_GUARD, "-loop", "1", "-framerate", str(fps), "-i", os.path.abspath(title_images[i])]
            chains.append(normalise_chain(f"{i}:v:0", preset, unit.frames, f"u{i}"))
        elif unit.kind == "scene":
            path, info = inputs[i]
            cmd += [*_INPUT_GUARD, "-i", os.path.abspath(path)]
            chains.append(normalise_chain(f"{i}:{info.video_index}", preset, timeline.scene_frames[unit.scene], f"n{i}"))
            chains.append(f"[n{i}]trim=start_frame={unit.first}:end_frame={unit.first + unit.frames},"
                          f"setpts=PTS-STARTPTS[u{i}]")
            stills.append(offset + unit.frames // 2)
        else:
            raise ValueError(f"a batch renders scene and title units, not {unit.kind!r}")
        pads.append(f"[u{i}]")
        if offset:
            boundaries.append(offset)
        offset += unit.frames
    chains.append(f"{''.join(pads)}concat=n={len(units)}:v=1:a=0[cat]" if len(units) > 1 else "[u0]null[cat]")
    out = "cat"
    if stills:
        picks = "+".join(f"eq(n\\,{n})" for n in stills)
        chains.append(f"[cat]split[enc][s];[s]select='{picks}',"
                      f"scale=w='min({STILL_WIDTH}\\,iw)':h=-2,format=rgb24[still]")
        out = "enc"
    maps = ["-map", f"[{out}]"]
    if final is not None:
        scene_input = {u.scene: i for i, u in enumerate(units) if u.kind == "scene"}
        graph, _ = audio_graph(timeline, [inputs[scene_input[k]][1] for k in range(len(scene_input))],
                               first_input=0, input_of=scene_input)
        chains.append(graph)
        maps += ["-map", "[aout]"]
    cmd += ["-filter_complex", ";".join(chains), *maps, *video_args(preset), *_forced_idr(preset)]
    if boundaries:
        # Half a frame early, so rounding can never move a key frame onto the next frame.
        cmd += ["-force_key_frames", ",".join(f"{(b - 0.5) / fps:.6f}" for b in boundaries)]
    # Segment timestamps pass through unshifted, so the list's start/end times are their own.
    segment = {"avoid_negative_ts": "disabled", "segment_format": preset.muxer, "reset_timestamps": "1",
               "segment_list": os.path.abspath(list_path), "segment_list_type": "csv"}
    if boundaries:
        segment["segment_frames"] = ",".join(str(b) for b in boundaries)
    else:
        segment["segment_time"] = "100000000"
    if final is None:
        cmd += ["-an", "-map_metadata", "-1", "-map_chapters", "-1", "-f", "segment"]
        for key, value in segment.items():
            cmd += [f"-{key}", value]
        cmd.append(os.path.abspath(pattern))
    else:
        cmd += _audio_args(preset)
        cmd += ["-map_metadata", "-1", "-map_chapters", "-1", *metadata_args(metadata)]
        seg_opts = ":".join(f"{k}={_tee_escape(v)}" for k, v in segment.items())
        film_opts = f"f={preset.muxer}" + (":movflags=+faststart" if preset.muxer in ("mp4", "mov") else "")
        cmd += ["-f", "tee", f"[f=segment:select=v:{seg_opts}]{_tee_escape(os.path.abspath(pattern))}|"
                             f"[{film_opts}]{_tee_escape(check_output_path(final))}"]
    if stills:
        cmd += ["-map", "[still]", "-fps_mode", "passthrough", "-c:v", "png", "-f", "image2",
                "-start_number", "0", os.path.abspath(still_pattern)]
    return cmd


def concat_list(segments: list[tuple[str, int]], fps: int) -> str:
    """An ffconcat script naming each segment with its exact duration (so no container's
    timestamp rounding can shift a join)."""
    lines = ["ffconcat version 1.0"]
    for path, frames in segments:
        quoted = os.path.abspath(path).replace("'", "'\\''")
        lines += [f"file '{quoted}'", f"duration {frames / fps:.6f}"]
    return "\n".join(lines) + "\n"


def _samples(frames: int, fps: int) -> int:
    return round(frames * AUDIO_RATE / fps)


def audio_graph(timeline: Timeline, scenes: list[MediaInfo], first_input: int,
                input_of: dict[int, int] | None = None) -> tuple[str, list[int]]:
    """The filter graph of the whole soundtrack, and which scenes it reads as inputs (from
    ``first_input`` on). Each scene's audio is cut or padded to its frame-exact length;
    crossfades overlap the neighbours linearly, as the picture does."""
    chains: list[str] = []
    used: list[int] = []
    fps = timeline.fps
    for k, info in enumerate(scenes):
        samples = _samples(timeline.scene_frames[k], fps)
        if info.has_audio and info.audio_index is not None:
            index = input_of[k] if input_of is not None else first_input + len(used)
            used.append(k)
            chains.append(f"[{index}:{info.audio_index}]asetpts=PTS-STARTPTS,aresample={AUDIO_RATE},"
                          f"{_AUDIO_FORMAT},apad,atrim=end_sample={samples},asetpts=PTS-STARTPTS[a{k}]")
        else:
            chains.append(f"anullsrc=channel_layout=stereo:sample_rate={AUDIO_RATE},"
                          f"atrim=end_sample={samples},{_AUDIO_FORMAT},asetpts=PTS-STARTPTS[a{k}]")
    last = "a0"
    if timeline.fade_frames:
        overlap = _samples(timeline.fade_frames, fps)
        for k in range(1, len(scenes)):
            chains.append(f"[{last}][a{k}]acrossfade=ns={overlap}:c1=tri:c2=tri[x{k}]")
            last = f"x{k}"
    elif len(scenes) > 1:
        chains.append("".join(f"[a{k}]" for k in range(len(scenes))) +
                      f"concat=n={len(scenes)}:v=0:a=1[x]")
        last = "x"
    if timeline.title_frames:
        chains.append(f"anullsrc=channel_layout=stereo:sample_rate={AUDIO_RATE},"
                      f"atrim=end_sample={_samples(timeline.title_frames, fps)},{_AUDIO_FORMAT},"
                      f"asetpts=PTS-STARTPTS[title]")
        chains.append(f"[title][{last}]concat=n=2:v=0:a=1[y]")
        last = "y"
    chains.append(f"[{last}]anull[aout]")
    return ";".join(chains), used


def join_command(list_path, timeline: Timeline, preset: Preset, scenes: list[tuple[str, MediaInfo]],
                 output_path, metadata: dict) -> list[str]:
    """Copy the video segments named in ``list_path`` and encode the soundtrack once, into the
    preset's container with the export's metadata."""
    output_path = check_output_path(output_path)
    cmd = _base_cmd() + ["-f", "concat", "-safe", "0", "-protocol_whitelist", "file",
                         "-i", os.path.abspath(list_path)]
    graph, used = audio_graph(timeline, [info for _, info in scenes], first_input=1)
    for k in used:
        cmd += [*_INPUT_GUARD, "-i", os.path.abspath(scenes[k][0])]
    cmd += ["-filter_complex", graph, "-map", "0:v:0", "-map", "[aout]", "-c:v", "copy"]
    args = list(preset.codec_args)
    if "-tag:v" in args and args.index("-tag:v") + 1 < len(args):
        cmd += ["-tag:v", args[args.index("-tag:v") + 1]]
    cmd += _audio_args(preset)
    if preset.muxer in ("mp4", "mov"):
        cmd += ["-movflags", "+faststart"]
    cmd += ["-map_metadata", "-1", "-map_chapters", "-1", *metadata_args(metadata),
            "-f", preset.muxer, output_path]
    return cmd
