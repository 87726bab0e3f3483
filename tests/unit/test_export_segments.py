"""Segment commands and previews without a render: joinable encoder options, the concat script,
the one-pass soundtrack graph and the contact sheet's layout."""
from __future__ import annotations

import dataclasses

from PIL import Image

from plugins.export.posters import GAP, MAX_COLUMNS, THUMB_WIDTH, Caption, make_contact_sheet
from plugins.export.presets import BUILTIN_PRESETS
from plugins.export.probe import MediaInfo
from plugins.export.segments import audio_graph, concat_list, video_args
from plugins.export.timeline import Source, plan

GOOD = BUILTIN_PRESETS["mp4-good"]


def test_segments_get_closed_gops_and_stitchable_headers():
    args = video_args(GOOD)
    assert args[:2] == ["-c:v", "libx264"] and "+cgop" in args and "2500k" in args
    assert args[args.index("-x264-params") + 1] == "stitchable=1"
    own = dataclasses.replace(GOOD, codec_args=GOOD.codec_args + ("-x264-params", "keyint=48"))
    merged = video_args(own)
    assert merged.count("-x264-params") == 1 and merged[merged.index("-x264-params") + 1] == "keyint=48:stitchable=1"
    hevc = video_args(BUILTIN_PRESETS["mp4-best"])
    assert hevc[hevc.index("-x265-params") + 1] == "open-gop=0"
    assert "-flags" not in video_args(BUILTIN_PRESETS["mov-prores"])  # intra-only: every frame closes


def test_tee_specifications_escape_their_separators():
    from plugins.export.segments import _tee_escape

    assert _tee_escape("/data/a:b|c[1]'d',e=f") == "/data/a\\:b\\|c\\[1\\]\\'d\\'\\,e\\=f"


def test_concat_script_quotes_paths_and_gives_exact_durations():
    text = concat_list([("/data/it's/a.mp4", 24), ("/data/b.mp4", 25)], 24)
    assert text.splitlines() == ["ffconcat version 1.0", "file '/data/it'\\''s/a.mp4'", "duration 1.000000",
                                 "file '/data/b.mp4'", "duration 1.041667"]


def _info(audio: bool) -> MediaInfo:
    return MediaInfo(duration=1.0, width=160, height=90, fps=24, has_audio=audio, video_codec="h264",
                     audio_codec="aac" if audio else None, audio_index=1 if audio else None)


def test_soundtrack_graph_covers_the_timeline_once():
    sources = [Source("a", 24), Source("b", 24), Source("c", 24)]
    cut = plan(sources, GOOD)
    graph, used = audio_graph(cut, [_info(True), _info(False), _info(True)], first_input=1)
    assert used == [0, 2] and "[1:1]" in graph and "[2:1]" in graph and "anullsrc" in graph
    assert "atrim=end_sample=48000" in graph and "concat=n=3:v=0:a=1" in graph and "acrossfade" not in graph
    faded = plan(sources, GOOD, transition={"type": "crossfade", "duration": 0.25},
                 title_card={"text": "T", "duration": 1.0})
    graph, _ = audio_graph(faded, [_info(True)] * 3, first_input=1)
    assert graph.count("acrossfade=ns=12000") == 2 and "[title]" in graph


def test_contact_sheet_wraps_rows_and_captions_every_scene(tmp_path):
    stills = []
    for n in range(7):
        path = tmp_path / f"s{n}.png"
        Image.new("RGB", (1280, 720), (30 * n, 0, 0)).save(path)
        stills.append(path)
    captions = [Caption(n + 1, "A very long scene title that cannot fit under a thumbnail at all " * 2)
                for n in range(7)]
    out = make_contact_sheet(stills, captions, tmp_path / "sheet.png")
    with Image.open(out) as sheet:
        assert sheet.width == MAX_COLUMNS * THUMB_WIDTH + (MAX_COLUMNS + 1) * GAP
        assert sheet.height > 2 * 180  # two rows of 320x180 thumbnails with captions
    assert Caption(3, None).text == "3." and Caption(2, "  Two\nwords ").text == "2. Two words"
    assert len(Caption(1, "x" * 200).text) <= 64
