"""An export as a list of segments (scene bodies, crossfades, a title card), each with its frame
count and the cache key of everything that changes its pixels.

Pure planning, no ffmpeg and no storage, so what a change invalidates can be tested on its own.
Durations are whole frames of the preset: a scene lasts ``ceil(d * fps)`` frames (what the
one-run render's ``trim=duration=d`` keeps), so the video segments and the one-pass audio
track agree at every join."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

from .presets import Preset

# Bump whenever the filters or encoder options of a segment change: old segments stop matching.
RENDER_VERSION = "segments-1"

DEFAULT_TITLE_SECONDS = 2.0
DEFAULT_TRANSITION_SECONDS = 0.5


@dataclass(frozen=True)
class Source:
    """One scene as the planner sees it: its media's content hash and its length in frames."""

    digest: str
    frames: int


@dataclass(frozen=True)
class Unit:
    """One segment of the film. ``kind`` is ``scene`` (frames ``first .. first+frames`` of scene
    ``scene``), ``crossfade`` (the last ``frames`` of scene ``scene`` blended into the first
    ``frames`` of scene ``scene + 1``) or ``title``."""

    kind: str
    frames: int
    key: str
    scene: int | None = None
    first: int = 0
    text: str = ""
    background: str = "#000000"


@dataclass
class Timeline:
    fps: int
    units: list[Unit]
    scene_frames: list[int]
    fade_frames: int = 0
    title_frames: int = 0
    scene_units: dict[int, int] = field(default_factory=dict)  # scene index -> index of its body unit

    @property
    def total_frames(self) -> int:
        return sum(u.frames for u in self.units)

    @property
    def duration(self) -> float:
        return self.total_frames / self.fps

    def scene_start(self, index: int) -> int:
        """The output frame at which scene ``index`` begins (its crossfade in, if any)."""
        body = self.scene_units[index]
        start = sum(u.frames for u in self.units[:body])
        return start - (self.fade_frames if index > 0 else 0)


def frames_for(seconds: float, fps: int) -> int:
    return max(1, math.ceil(seconds * fps - 1e-6))


def preset_fingerprint(preset: Preset) -> dict:
    """Every preset setting that reaches a segment's pixels (the id too: a plugin may redefine one)."""
    return {**preset.to_json(), "codecArgs": list(preset.codec_args), "pixFmt": preset.pix_fmt,
            "muxer": preset.muxer}


def unit_key(preset: Preset, **parts) -> str:
    payload = {"version": RENDER_VERSION, "preset": preset_fingerprint(preset), **parts}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def parse_options(title_card: dict | None, transition: dict | None) -> tuple[float, float]:
    """(title seconds, crossfade seconds), 0 for none; ValueError for options that make no film."""
    fade = 0.0
    if transition:
        kind = transition.get("type", "crossfade")
        if kind not in ("crossfade", "none", "cut"):
            raise ValueError(f"unknown transition type: {kind!r}")
        if kind == "crossfade":
            fade = float(transition.get("duration", DEFAULT_TRANSITION_SECONDS))
            if fade < 0:
                raise ValueError("transition duration must not be negative")
    title = 0.0
    if title_card:
        title = float(title_card.get("duration", DEFAULT_TITLE_SECONDS))
        if not 0 < title <= 60:
            raise ValueError("title card duration must be in (0, 60] seconds")
    return title, fade


def plan(sources: list[Source], preset: Preset, *, title_card: dict | None = None,
         transition: dict | None = None) -> Timeline:
    """The units of an export in film order. A crossfade is its own unit keyed by both scenes it
    blends, so changing one scene re-renders its body and the crossfades touching it, no more."""
    if not sources:
        raise ValueError("nothing to render: no scenes")
    fps = preset.fps
    title_seconds, fade = parse_options(title_card, transition)
    fade_frames = round(fade * fps) if len(sources) > 1 else 0
    n = len(sources)
    for k, src in enumerate(sources):
        overlap = fade_frames * ((k > 0) + (k < n - 1))
        if fade_frames and src.frames <= overlap:
            raise ValueError("transition must be shorter than every scene (and than half of a scene "
                             "with a crossfade on both sides)")
    units: list[Unit] = []
    title_frames = 0
    if title_card:
        title_frames = frames_for(title_seconds, fps)
        text = " ".join(str(title_card.get("text") or "").split())
        background = str(title_card.get("background") or "#000000")
        units.append(Unit("title", title_frames, unit_key(preset, kind="title", text=text,
                                                          background=background, frames=title_frames),
                          text=text, background=background))
    scene_units: dict[int, int] = {}
    for k, src in enumerate(sources):
        head = fade_frames if k > 0 else 0
        tail = fade_frames if k < n - 1 else 0
        count = src.frames - head - tail
        scene_units[k] = len(units)
        units.append(Unit("scene", count, unit_key(preset, kind="scene", media=src.digest,
                                                   length=src.frames, first=head, frames=count),
                          scene=k, first=head))
        if tail:
            nxt = sources[k + 1]
            units.append(Unit("crossfade", fade_frames,
                              unit_key(preset, kind="crossfade", outgoing=[src.digest, src.frames],
                                       incoming=[nxt.digest, nxt.frames], frames=fade_frames),
                              scene=k))
    return Timeline(fps=fps, units=units, scene_frames=[s.frames for s in sources],
                    fade_frames=fade_frames, title_frames=title_frames, scene_units=scene_units)
