"""The segment planner: what a change to media, preset, order, transition or title invalidates."""
from __future__ import annotations

import dataclasses

import pytest

from plugins.export import timeline
from plugins.export.presets import BUILTIN_PRESETS
from plugins.export.timeline import Source, frames_for, plan

GOOD = BUILTIN_PRESETS["mp4-good"]
A, B, C, D = (Source(d * 64, 72) for d in "abcd")
FADE = {"type": "crossfade", "duration": 0.5}


def _keys(tl) -> list[str]:
    return [u.key for u in tl.units]


def _new(before, after) -> int:
    """How many segments of ``after`` a cache holding ``before`` would have to render."""
    return len(set(_keys(after)) - set(_keys(before)))


def test_frames_are_whole_preset_frames():
    assert frames_for(3.0, 24) == 72 and frames_for(1.02, 24) == 25 and frames_for(0.01, 24) == 1
    tl = plan([A, B], GOOD)
    assert tl.total_frames == 144 and tl.duration == 6.0 and [u.kind for u in tl.units] == ["scene", "scene"]


def test_a_media_change_invalidates_its_scene_only():
    before = plan([A, B, C], GOOD)
    assert _new(before, plan([A, D, C], GOOD)) == 1
    assert _new(before, plan([A, B, C], GOOD)) == 0
    assert _new(before, plan([A, Source(B.digest, 60), C], GOOD)) == 1  # a trimmed scene is new pixels


def test_order_of_cuts_reuses_everything_but_crossfades_follow_their_neighbours():
    assert _new(plan([A, B, C], GOOD), plan([C, A, B], GOOD)) == 0
    before = plan([A, B, C], GOOD, transition=FADE)
    assert [u.kind for u in before.units] == ["scene", "crossfade", "scene", "crossfade", "scene"]
    assert before.total_frames == 3 * 72 - 2 * 12
    # B in the middle changes: its body and both crossfades.
    assert _new(before, plan([A, D, C], GOOD, transition=FADE)) == 3
    # The last scene changes: its body and one crossfade.
    assert _new(before, plan([A, B, D], GOOD, transition=FADE)) == 2
    # Swapping the last two: B and C bodies (now first/last differently faded) and both crossfades.
    assert _new(before, plan([A, C, B], GOOD, transition=FADE)) == 4


def test_preset_fps_and_render_version_are_part_of_every_key(monkeypatch):
    before = plan([A, B], GOOD)
    assert _new(before, plan([A, B], BUILTIN_PRESETS["mp4-better"])) == 2
    assert _new(before, plan([A, B], dataclasses.replace(GOOD, fps=25))) == 2
    assert _new(before, plan([A, B], dataclasses.replace(GOOD, video_bitrate="3000k"))) == 2
    monkeypatch.setattr(timeline, "RENDER_VERSION", "segments-next")
    assert _new(before, plan([A, B], GOOD)) == 2


def test_title_card_is_its_own_segment():
    before = plan([A, B], GOOD, title_card={"text": "Pilot", "duration": 1.0})
    assert before.units[0].kind == "title" and before.units[0].frames == 24 and before.title_frames == 24
    assert before.scene_start(0) == 24 and before.scene_start(1) == 96
    assert _new(before, plan([A, B], GOOD, title_card={"text": "Pilot 2", "duration": 1.0})) == 1
    assert _new(before, plan([A, B], GOOD, title_card={"text": "Pilot", "background": "white"})) == 1
    assert _new(before, plan([A, B], GOOD)) == 0


def test_impossible_options_are_refused():
    with pytest.raises(ValueError, match="unknown transition"):
        plan([A, B], GOOD, transition={"type": "wipe"})
    with pytest.raises(ValueError, match="shorter"):
        plan([A, Source("x", 20), B], GOOD, transition=FADE)  # 20 frames, 12 faded at each end
    with pytest.raises(ValueError, match="title card"):
        plan([A], GOOD, title_card={"text": "x", "duration": 0})
    with pytest.raises(ValueError, match="no scenes"):
        plan([], GOOD)
    assert plan([A], GOOD, transition=FADE).fade_frames == 0  # one scene: nothing to fade
