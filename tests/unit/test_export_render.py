"""Export rendering layer: presets, ffmpeg concat renders checked with PyAV, MoviePy composition."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

av = pytest.importorskip("av")

from plugins.export.compose import render_composed, title_frame  # noqa: E402
from plugins.export.presets import BUILTIN_PRESETS, Preset, preset_from_dict  # noqa: E402
from plugins.export.ffmpeg import RenderError  # noqa: E402
from plugins.export.ffmpeg_args import build_concat_command  # noqa: E402
from plugins.export.probe import MediaInfo, Scene, probe  # noqa: E402
from plugins.export.render import culprit_scene, render_concat, verify  # noqa: E402
from plugins.export.sanitize import sanitize_filename  # noqa: E402
from tests.media import make_corrupt, make_image, make_scene  # noqa: E402

# Encoding 1080p/4K with x265 or ProRes is slow on small CI machines: those presets get
# half-second scenes, which still exercise every filter and the audio/no-audio mix.
HEAVY = {"mp4-best", "mov-prores", "mp4-4k", "webm-best"}
EXPECTED = {  # preset -> (PyAV format, major brand or None, video codec, audio codec)
    "mp4-good": ("mov,mp4,m4a,3gp,3g2,mj2", "isom", "h264", "aac"),
    "mp4-better": ("mov,mp4,m4a,3gp,3g2,mj2", "isom", "h264", "aac"),
    "mp4-best": ("mov,mp4,m4a,3gp,3g2,mj2", "isom", "hevc", "aac"),
    "webm-good": ("matroska,webm", None, "vp9", "opus"),
    "webm-best": ("matroska,webm", None, "vp9", "opus"),
    "mov-prores": ("mov,mp4,m4a,3gp,3g2,mj2", "qt", "prores", "aac"),
    "mp4-4k": ("mov,mp4,m4a,3gp,3g2,mj2", "isom", "hevc", "aac"),
}


def _mixed_scenes(folder, seconds: float) -> list[Scene]:
    return [
        Scene(make_scene(folder / "wide.mp4", 160, 90, seconds, 25, audio=True), "Opening"),
        Scene(make_scene(folder / "portrait.mp4", 120, 160, seconds, 30, audio=False), "Silent portrait"),
        Scene(make_scene(folder / "flat.mp4", 200, 100, seconds, 24, audio=True, color="red"), "Finale"),
    ]


@pytest.fixture(scope="module")
def scene_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenes")
    (root / "full").mkdir()
    (root / "short").mkdir()
    return {1.0: _mixed_scenes(root / "full", 1.0), 0.5: _mixed_scenes(root / "short", 0.5)}


def pyav_probe(path) -> dict:
    with av.open(str(path)) as container:
        v = container.streams.video[0]
        a = container.streams.audio[0] if container.streams.audio else None
        frames = sum(1 for _ in container.decode(video=0))
        return {
            "format": container.format.name,
            "brand": container.metadata.get("major_brand", "").strip() or None,
            "vcodec": v.codec_context.name,
            "pix_fmt": v.codec_context.pix_fmt,
            "width": v.codec_context.width,
            "height": v.codec_context.height,
            "fps": float(v.average_rate),
            "acodec": a.codec_context.name if a else None,
            "channels": a.codec_context.channels if a else 0,
            "sample_rate": a.codec_context.sample_rate if a else 0,
            "title": {k.lower(): val for k, val in container.metadata.items()}.get("title"),
            "duration": container.duration / 1e6,
            "frames": frames,
        }


# ------------------------------------------------------------------------------ presets

def test_builtin_presets_match_the_product():
    rows = {p.id: (p.resolution, p.video_bitrate, p.audio_bitrate, p.video_codec, p.fps, p.container)
            for p in BUILTIN_PRESETS.values()}
    assert rows == {
        "mp4-good": ("1280x720", "2500k", "128k", "libx264", 24, "mp4"),
        "mp4-better": ("1920x1080", "5000k", "192k", "libx264", 24, "mp4"),
        "mp4-best": ("1920x1080", "8000k", "256k", "libx265", 24, "mp4"),
        "webm-good": ("1280x720", "2000k", "128k", "libvpx-vp9", 24, "webm"),
        "webm-best": ("1920x1080", "6000k", "192k", "libvpx-vp9", 24, "webm"),
        "mov-prores": ("1920x1080", None, "256k", "prores_ks", 24, "mov"),
        "mp4-4k": ("3840x2160", "20000k", "320k", "libx265", 24, "mp4"),
    }
    assert BUILTIN_PRESETS["webm-good"].audio_codec == "libopus"
    assert BUILTIN_PRESETS["mov-prores"].audio_codec == "aac"
    assert BUILTIN_PRESETS["mov-prores"].codec_args == (
        "-profile:v", "2", "-vendor", "apl0", "-pix_fmt", "yuv422p10le")
    assert BUILTIN_PRESETS["mp4-best"].codec_args == (
        "-preset", "medium", "-tag:v", "hvc1", "-pix_fmt", "yuv420p")
    assert BUILTIN_PRESETS["mp4-good"].codec_args == (
        "-preset", "medium", "-profile:v", "high", "-level", "4.0", "-pix_fmt", "yuv420p")
    assert BUILTIN_PRESETS["webm-best"].codec_args == (
        "-row-mt", "1", "-tile-columns", "2", "-cpu-used", "2")
    assert (BUILTIN_PRESETS["mov-prores"].extension, BUILTIN_PRESETS["mov-prores"].mime_type) == (
        "mov", "video/quicktime")


def test_preset_json_is_camel_case():
    assert BUILTIN_PRESETS["mov-prores"].to_json() == {
        "id": "mov-prores", "resolution": "1920x1080", "width": 1920, "height": 1080,
        "videoBitrate": None, "audioBitrate": "256k", "videoCodec": "prores_ks",
        "audioCodec": "aac", "fps": 24, "container": "mov",
    }


def test_preset_from_dict_round_trips_and_validates():
    for preset in BUILTIN_PRESETS.values():
        assert preset_from_dict(preset.to_json()) == preset
    custom = preset_from_dict({"id": "square", "width": 1080, "height": 1080, "videoBitrate": "4000k",
                               "audioBitrate": "128k", "videoCodec": "libx264", "fps": 30,
                               "container": "mp4"})
    assert isinstance(custom, Preset) and custom.audio_codec == "aac"
    base = BUILTIN_PRESETS["mp4-good"].to_json()
    for bad in (
        {"id": "../x"}, {"resolution": "1281x720"}, {"resolution": "big"}, {"videoBitrate": "fast"},
        {"videoBitrate": None}, {"videoCodec": "rm -rf"}, {"container": "avi"},
        {"videoCodec": "libvpx-vp9"}, {"audioCodec": "mp3"}, {"fps": 0}, {"fps": "24"},
        {"codecArgs": ["-i", "/etc/passwd"]}, {"codecArgs": ["-x", "a b"]}, {"audioBitrate": "9000k"},
    ):
        with pytest.raises(ValueError):
            preset_from_dict({**base, **bad})
    with pytest.raises(ValueError):
        preset_from_dict({**BUILTIN_PRESETS["mov-prores"].to_json(), "videoBitrate": "5000k"})


# ----------------------------------------------------------------------------- helpers

def test_sanitize_filename():
    assert sanitize_filename("../../etc/passwd") == "passwd"
    assert sanitize_filename("-y") == "y"
    odd = sanitize_filename('a"b;rm -rf')
    assert odd == "ab_rm -rf"
    assert not set(odd) & set("\"';/\\") and not odd.startswith("-")
    assert sanitize_filename("\n") == "export"
    assert sanitize_filename("") == "export"
    assert sanitize_filename("..") == "export"
    assert sanitize_filename("", default="my film") == "my film"
    assert sanitize_filename("C:\\films\\..\\Épisode 1: Pilot") == "Episode 1_ Pilot"
    assert sanitize_filename(".hidden") == "hidden"
    assert len(sanitize_filename("x" * 500)) == 100
    assert sanitize_filename("CON") == "_CON"


def test_probe_reads_stream_summary(scene_sets, tmp_path):
    wide, portrait, _ = scene_sets[1.0]
    info = probe(wide.path)
    assert (info.width, info.height, info.fps, info.has_audio) == (160, 90, 25.0, True)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert abs(info.duration - 1.0) < 0.05
    p = probe(portrait.path)
    assert (p.width, p.height, p.fps, p.has_audio, p.audio_codec) == (120, 160, 30.0, False, None)
    still = probe(make_image(tmp_path / "still.png"))
    assert still.is_still and (still.width, still.height) == (32, 32)


def test_probe_rejects_corrupt_and_missing_files(tmp_path):
    bad = make_corrupt(tmp_path / "broken.mp4")
    with pytest.raises(RenderError) as err:
        probe(bad)
    assert err.value.scene == bad and err.value.ffmpeg_tail
    with pytest.raises(RenderError):
        probe(tmp_path / "missing.mp4")
    playlist = tmp_path / "playlist.mp4"  # HLS/concat playlists must never be followed
    playlist.write_text("ffconcat version 1.0\nfile /etc/hostname\n")
    with pytest.raises(RenderError):
        probe(playlist)


def test_culprit_scene_from_ffmpeg_messages():
    scenes = [Scene("/m/a.mp4", "Alpha"), Scene("/m/b.mp4", "Bravo")]
    assert culprit_scene("[vist#1:0/h264 @ 0x1] Decoding error: Invalid data", scenes) == "Bravo"
    assert culprit_scene("Error while decoding stream #0:1: Invalid data", scenes) == "Alpha"
    assert culprit_scene("[in#1/mov,mp4 @ 0x2] moov atom not found", scenes) == "Bravo"
    assert culprit_scene("/m/a.mp4: Invalid data found when processing input", scenes) == "Alpha"
    assert culprit_scene("Conversion failed!", scenes) is None
    assert culprit_scene("[out#0/mp4 @ 0x3] Error muxing output stream #0:1", scenes) is None


# ------------------------------------------------------------------------- concat renders

# A 4K or ProRes encode of even 1.5 s takes minutes on a loaded 2-core machine: the deadline only
# catches a hung FFmpeg, so the heavy presets get one far beyond what they need.
RENDER_DEADLINE = 900


@pytest.mark.timeout(RENDER_DEADLINE + 60)
@pytest.mark.parametrize("preset_id", list(BUILTIN_PRESETS))
def test_render_concat_each_preset(preset_id, scene_sets, tmp_path):
    preset = BUILTIN_PRESETS[preset_id]
    seconds = 0.5 if preset_id in HEAVY else 1.0
    scenes = scene_sets[seconds]
    out = tmp_path / f"out.{preset.extension}"
    progress: list[float] = []
    info = render_concat(scenes, preset, str(out), metadata={
        "title": f"Pilot {preset_id}", "comment": "made by tests", "date": "2024-05-01"},
        on_progress=progress.append, timeout=RENDER_DEADLINE)

    assert isinstance(info, MediaInfo)
    got = pyav_probe(out)
    fmt, brand, vcodec, acodec = EXPECTED[preset_id]
    assert got["format"] == fmt
    if brand:
        assert got["brand"] == brand
    assert got["vcodec"] == vcodec
    assert (got["width"], got["height"]) == (preset.width, preset.height)
    assert got["fps"] == pytest.approx(24.0, abs=0.01)
    assert got["acodec"] == acodec
    assert (got["channels"], got["sample_rate"]) == (2, 48000)
    assert got["pix_fmt"] == preset.pix_fmt
    assert got["title"] == f"Pilot {preset_id}"
    total = 3 * seconds
    assert got["duration"] == pytest.approx(total, abs=0.3)
    assert got["frames"] == pytest.approx(total * 24, abs=2)
    assert progress and progress[-1] == 100.0
    assert all(b > a for a, b in zip(progress, progress[1:]))


def test_corrupt_scene_is_named(scene_sets, tmp_path):
    good = scene_sets[0.5][0]
    broken = Scene(make_corrupt(tmp_path / "scene-7.mp4"), "Scene 7: the chase")
    out = tmp_path / "out.mp4"
    with pytest.raises(RenderError) as err:
        render_concat([good, broken], BUILTIN_PRESETS["mp4-good"], str(out), metadata={})
    assert err.value.scene == "Scene 7: the chase"
    assert "Scene 7: the chase" in str(err.value)
    assert not out.exists()


def test_metadata_cannot_inject_options(scene_sets, tmp_path):
    scenes = scene_sets[0.5][:1]
    out = tmp_path / "evil.mp4"
    title = "Evil\n-f null -\r\n-y /tmp/pwned.mp4"
    pairs = [(s, probe(s.path)) for s in scenes]
    cmd = build_concat_command(pairs, BUILTIN_PRESETS["mp4-good"], str(out), {"title": title})
    assert cmd[cmd.index("-metadata") + 1] == "title=Evil -f null - -y /tmp/pwned.mp4"
    assert cmd[-3:] == ["-f", "mp4", str(out)]
    assert "/tmp/pwned.mp4" not in cmd and "null" not in cmd
    assert all("\n" not in arg and "\r" not in arg for arg in cmd)
    render_concat(scenes, BUILTIN_PRESETS["mp4-good"], str(out), metadata={"title": title})
    got = pyav_probe(out)
    assert got["title"] == "Evil -f null - -y /tmp/pwned.mp4"
    assert got["format"].startswith("mov")
    with pytest.raises(ValueError):
        build_concat_command(pairs, BUILTIN_PRESETS["mp4-good"], str(out), {"title=x -y": "a"})


def test_output_path_must_be_absolute_or_dot_slash(scene_sets):
    pairs = [(s, probe(s.path)) for s in scene_sets[0.5][:1]]
    with pytest.raises(ValueError):
        build_concat_command(pairs, BUILTIN_PRESETS["mp4-good"], "-out.mp4", {})
    cmd = build_concat_command(pairs, BUILTIN_PRESETS["mp4-good"], "./-out.mp4", {})
    assert cmd[-1] == "./-out.mp4"


def test_still_image_scene_and_verify(scene_sets, tmp_path):
    still = Scene(make_image(tmp_path / "card.png", 64, 48), "Storyboard", duration=1.0)
    out = tmp_path / "mixed.mp4"
    preset = BUILTIN_PRESETS["mp4-good"]
    info = render_concat([still, scene_sets[0.5][1]], preset, str(out), metadata={})
    assert info.duration == pytest.approx(1.5, abs=0.1)
    with pytest.raises(RenderError, match="duration"):
        verify(str(out), preset, expected_duration=5.0)
    with pytest.raises(RenderError, match="resolution"):
        verify(str(out), BUILTIN_PRESETS["mp4-better"], expected_duration=1.5)
    with pytest.raises(RenderError):
        verify(str(tmp_path / "nope.mp4"), preset, expected_duration=1.5)


def test_timeout_and_cancellation_leave_nothing(scene_sets, tmp_path):
    out = tmp_path / "slow.mp4"
    with pytest.raises(RenderError, match="timed out"):
        render_concat(scene_sets[1.0], BUILTIN_PRESETS["mp4-4k"], str(out), metadata={}, timeout=0.2)
    assert not out.exists()

    class Cancelled(Exception):
        pass

    def cancel(pct):
        raise Cancelled()

    with pytest.raises(Cancelled):
        render_concat(scene_sets[1.0], BUILTIN_PRESETS["mp4-good"], str(out), metadata={},
                      on_progress=cancel)
    assert not out.exists()


# --------------------------------------------------------------------------- composition

def test_title_frame_draws_text():
    frame = title_frame("Hello", 320, 180, "#102030")
    assert frame.shape == (180, 320, 3)
    assert tuple(frame[0, 0]) == (16, 32, 48)
    assert (frame.max(axis=2) > 200).any()  # light text on a dark card


def test_render_composed_title_card_and_crossfades(scene_sets, tmp_path):
    preset = BUILTIN_PRESETS["mp4-good"]
    out = tmp_path / "composed.mp4"
    progress: list[float] = []
    info = render_composed(
        scene_sets[1.0], preset, str(out), metadata={"title": "Composed"},
        title_card={"text": "Episode 1", "duration": 1.0, "background": "#000000"},
        transition={"type": "crossfade", "duration": 0.5}, on_progress=progress.append)
    expected = 1.0 + 3 * 1.0 - 2 * 0.5
    assert info.duration == pytest.approx(expected, abs=0.1)
    got = pyav_probe(out)
    assert (got["width"], got["height"], got["vcodec"], got["acodec"]) == (1280, 720, "h264", "aac")
    assert got["fps"] == pytest.approx(24.0, abs=0.01)
    assert got["duration"] == pytest.approx(expected, abs=0.3)
    assert got["frames"] == pytest.approx(expected * 24, abs=2)
    assert got["title"] == "Composed"
    assert got["pix_fmt"] == "yuv420p"
    assert progress[-1] == 100.0 and all(b > a for a, b in zip(progress, progress[1:]))


def test_render_composed_rejects_bad_options(scene_sets, tmp_path):
    out = str(tmp_path / "x.mp4")
    with pytest.raises(ValueError):
        render_composed(scene_sets[0.5], BUILTIN_PRESETS["mp4-good"], out, metadata={},
                        transition={"type": "crossfade", "duration": 0.6})
    with pytest.raises(ValueError):
        render_composed(scene_sets[0.5], BUILTIN_PRESETS["mp4-good"], out, metadata={},
                        transition={"type": "wipe"})
