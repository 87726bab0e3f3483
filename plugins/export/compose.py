"""MoviePy rendering of a title card and crossfades in one pass (the segmented pipeline replaced it
for jobs; kept as a reference renderer and for title_frame, which draws the title card).

Slower than the segments (frames pass through numpy). Output is checked with render.verify.
"""
from __future__ import annotations

import os
import tempfile
import textwrap
from typing import Callable

import numpy as np
import proglog

from .ffmpeg import RenderError, _tail
from .ffmpeg_args import AUDIO_RATE, metadata_args, output_args, scene_duration
from .presets import Preset
from .probe import MediaInfo, Scene, probe_scenes
from .render import _remove, _Throttle, verify
from .sanitize import check_output_path
from .timeline import parse_options

MAX_TITLE_CHARS = 200


class _CallbackFailed(Exception):
    """Carries an exception raised by the caller's progress callback (e.g. a cancelled job)
    through MoviePy so it is re-raised as is instead of being reported as a render failure."""

    def __init__(self, original: BaseException):
        super().__init__(str(original))
        self.original = original


class _ProgressLogger(proglog.ProgressBarLogger):
    """Maps MoviePy's bars to 0..99: the audio pass ('chunk') to the first 5 points,
    the frame loop ('frame_index' or 't') to the rest."""

    AUDIO_SHARE = 5.0

    def __init__(self, report: Callable[[float], None]):
        super().__init__()
        self._report = report

    def report(self, pct: float) -> None:
        try:
            self._report(pct)
        except Exception as exc:
            raise _CallbackFailed(exc) from exc

    def bars_callback(self, bar, attr, value, old_value=None):
        if attr != "index":
            return
        total = self.bars[bar].get("total") or 0
        if total <= 0:
            return
        fraction = min(1.0, max(0.0, value / total))
        if bar == "chunk":
            self.report(self.AUDIO_SHARE * fraction)
        elif bar in ("frame_index", "t"):
            self.report(self.AUDIO_SHARE + (99.0 - self.AUDIO_SHARE) * fraction)


def _parse_color(value: str) -> tuple[int, int, int]:
    from PIL import ImageColor

    try:
        rgb = ImageColor.getrgb(str(value))
    except ValueError:
        raise ValueError(f"invalid title card background colour: {value!r}") from None
    return tuple(rgb[:3])  # type: ignore[return-value]


def title_frame(text: str, width: int, height: int, background: str = "#000000") -> np.ndarray:
    """A solid frame with centred text, drawn with PIL's built-in font (no font files needed)."""
    from PIL import Image, ImageDraw, ImageFont

    bg = _parse_color(background)
    image = Image.new("RGB", (width, height), bg)
    text = " ".join(str(text or "").split())[:MAX_TITLE_CHARS]
    if text:
        size = max(12, height // 12)
        try:
            font = ImageFont.load_default(size=size)
        except TypeError:  # Pillow without FreeType: fixed-size bitmap font
            font = ImageFont.load_default()
        draw = ImageDraw.Draw(image)
        # Wrap to the frame width using the average glyph width of this font.
        avg = max(1.0, draw.textlength("abcdefghijklmnopqrstuvwxyz", font=font) / 26)
        lines = textwrap.wrap(text, width=max(8, int(width * 0.85 / avg))) or [text]
        block = "\n".join(lines)
        luminance = 0.299 * bg[0] + 0.587 * bg[1] + 0.114 * bg[2]
        fill = (0, 0, 0) if luminance > 140 else (255, 255, 255)
        draw.multiline_text((width / 2, height / 2), block, font=font, fill=fill,
                            anchor="mm", align="center")
    return np.asarray(image, dtype=np.uint8)


def _silence(duration: float):
    from moviepy import AudioClip

    def frame(t):
        return np.zeros((len(t), 2)) if isinstance(t, np.ndarray) else np.zeros(2)

    return AudioClip(frame, duration=duration, fps=AUDIO_RATE).with_duration(duration)


def _fit(src_w: int, src_h: int, w: int, h: int) -> tuple[int, int]:
    scale = min(w / src_w, h / src_h)
    fw = max(2, min(w, int(round(src_w * scale / 2)) * 2))
    fh = max(2, min(h, int(round(src_h * scale / 2)) * 2))
    return fw, fh


def _scene_clip(scene: Scene, info: MediaInfo, preset: Preset):
    """A clip of exactly the preset size and the scene's export length, with audio."""
    from moviepy import ImageClip, VideoFileClip

    d = scene_duration(scene, info)
    size = _fit(info.width, info.height, preset.width, preset.height)
    try:
        if info.is_still:
            clip = ImageClip(os.path.abspath(scene.path)).resized(new_size=size).with_duration(d)
        else:
            # target_resolution makes ffmpeg do the scaling while decoding (much cheaper than
            # resizing numpy frames); MoviePy 2 takes it as (width, height).
            clip = VideoFileClip(os.path.abspath(scene.path), audio=info.has_audio,
                                 target_resolution=size, audio_fps=AUDIO_RATE)
            clip = clip.subclipped(0, min(d, clip.duration)) if clip.duration else clip
            clip = clip.with_duration(d)
    except (OSError, IOError, KeyError, ValueError) as exc:
        raise RenderError(f"cannot be read: {exc}", scene=scene.name) from exc
    if tuple(clip.size) != (preset.width, preset.height):
        clip = clip.with_background_color(size=(preset.width, preset.height), color=(0, 0, 0),
                                          pos="center")
    if clip.audio is None:
        clip = clip.with_audio(_silence(d))
    else:
        clip = clip.with_audio(clip.audio.with_duration(d))
    return clip.with_duration(d)


def render_composed(scenes: list[Scene], preset: Preset, output_path, *, metadata: dict,
                    title_card: dict | None = None, transition: dict | None = None,
                    on_progress: Callable[[float], None] | None = None) -> MediaInfo:
    """Render an optional title card followed by the scenes, crossfading consecutive scenes.

    title_card: {"text", "duration" (2.0), "background" ("#000000")}.
    transition: {"type": "crossfade", "duration" (0.5)}; total length is
    title + sum(scenes) - (n-1) * duration. On failure nothing is left at output_path.
    """
    from moviepy import CompositeVideoClip, ImageClip, afx, vfx

    output_path = check_output_path(output_path)
    probed = probe_scenes(scenes)
    durations = [scene_duration(s, i) for s, i in probed]

    title_seconds, fade = parse_options(title_card, transition)
    if fade and len(durations) > 1 and fade >= min(durations):
        raise ValueError("transition must be shorter than every scene")

    progress = _Throttle(on_progress)
    opened = []
    tmpdir = tempfile.TemporaryDirectory(prefix="aladdin-compose-")
    try:
        layers = []
        start = 0.0
        if title_card:
            frame = title_frame(title_card.get("text", ""), preset.width, preset.height,
                                title_card.get("background", "#000000"))
            card = ImageClip(frame).with_duration(title_seconds)
            layers.append(card.with_audio(_silence(title_seconds)).with_start(0))
            start = title_seconds
        for k, ((scene, info), d) in enumerate(zip(probed, durations)):
            clip = _scene_clip(scene, info, preset)
            opened.append(clip)
            if fade > 0:
                effects, audio_effects = [], []
                if k > 0:
                    effects.append(vfx.CrossFadeIn(fade))
                    audio_effects.append(afx.AudioFadeIn(fade))
                if k < len(probed) - 1:
                    audio_effects.append(afx.AudioFadeOut(fade))
                if audio_effects:
                    clip = clip.with_audio(clip.audio.with_effects(audio_effects))
                if effects:
                    clip = clip.with_effects(effects)
            layers.append(clip.with_start(start))
            start += d - (fade if k < len(probed) - 1 else 0.0)
        total = start
        final = CompositeVideoClip(layers, size=(preset.width, preset.height),
                                   bg_color=(0, 0, 0)).with_duration(total)

        logger = _ProgressLogger(progress)
        audio_path = os.path.join(tmpdir.name, "audio.wav")
        # Audio goes through a lossless temp file so the final mux encodes it once with the
        # preset's codec and bitrate (MoviePy would otherwise pick the codec from the extension).
        final.audio.with_duration(total).write_audiofile(
            audio_path, fps=AUDIO_RATE, nbytes=2, codec="pcm_s16le", logger=logger)
        params = output_args(preset)[2:]  # MoviePy passes -vcodec itself
        params += ["-pix_fmt", preset.pix_fmt, *metadata_args(metadata), "-f", preset.muxer]
        final.write_videofile(
            output_path, fps=preset.fps, codec=preset.video_codec,
            bitrate=preset.video_bitrate, audio=audio_path, audio_codec=preset.audio_codec,
            preset="medium", ffmpeg_params=params, logger=logger,
        )
    except (RenderError, ValueError):
        _remove(output_path)
        raise
    except _CallbackFailed as exc:
        _remove(output_path)
        raise exc.original from None
    except Exception as exc:
        _remove(output_path)
        raise RenderError(f"composition failed: {type(exc).__name__}",
                          ffmpeg_tail=_tail(str(exc))) from exc
    finally:
        for clip in opened:
            try:
                clip.close()
            except Exception:
                pass
        tmpdir.cleanup()

    try:
        info = verify(output_path, preset, total)
    except RenderError:
        _remove(output_path)
        raise
    progress.done()
    return info
