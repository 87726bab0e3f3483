"""Incremental export with real FFmpeg on tiny media: the segment cache gives the same film as a
full render, audio stays continuous at the joins, changes re-render exactly what they must,
progress counts real work, and every export has a poster and a contact sheet over HTTP."""
from __future__ import annotations

import io
import subprocess

import av
import imageio_ffmpeg
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from core.hookspecs import hookimpl
from core.models import JobRecord
from plugins.export import pipeline
from plugins.export.posters import Caption
from plugins.export.probe import Scene, probe
from plugins.export.render import render_concat
from plugins.export.segment_store import ExportSegment
from tests.integration.test_export_helpers import add_scene, export_settings, local_path, run_jobs

FPS = 24
COLORS = {"red": (255, 0, 0), "green": (0, 128, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0)}


def _ffmpeg(*args: str) -> None:
    proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
                           "-y", *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]


def tone_scene(path, color: str, part: int, seconds: float = 1.0) -> str:
    """A flat-colour clip whose PCM audio is slice ``part`` of one continuous 440 Hz tone, frame-
    and sample-exact: played back to back the slices are one unbroken sine, so any gap or click
    at a join is the export's doing."""
    start, end = int(part * seconds * 48000), int((part + 1) * seconds * 48000)
    _ffmpeg("-f", "lavfi", "-i", f"color=c={color}:size=160x90:rate={FPS}:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration=30,"
                                 f"atrim=start_sample={start}:end_sample={end},asetpts=PTS-STARTPTS",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le",
            "-t", str(seconds), "-f", "mov", str(path))
    return str(path)


class TinyPresets:
    @hookimpl
    def aladdin_export_presets(self):
        return [{"id": "tiny", "resolution": "320x180", "videoBitrate": "400k", "audioBitrate": "96k",
                 "videoCodec": "libx264", "fps": FPS, "container": "mp4"},
                {"id": "tiny-wide", "resolution": "384x160", "videoBitrate": "400k", "audioBitrate": "96k",
                 "videoCodec": "libx264", "fps": FPS, "container": "mp4"}]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tones")
    return {name: tone_scene(folder / f"{name}.mov", name, part)
            for part, name in enumerate(("red", "green", "blue", "yellow"))}


@pytest.fixture
def settings(tmp_path, redis_server):
    return export_settings(tmp_path, redis_server, export_rate_limit="100/hour")


@pytest.fixture
def film(app, team, media):
    app.extensions["aladdin"].pm.register(TinyPresets())
    project, owner = team["project"], team["owner"]
    videos = [add_scene(app, project, owner, media[c], n, title=f"The {c} room")
              for n, c in enumerate(("red", "green", "blue"), start=1)]
    return {"project": project, "owner": owner, "videos": videos, "media": media,
            "base": f"/api/v1/projects/{project.slug}/exports", **team}


def _export(app, client, film, preset="tiny", **body) -> dict:
    r = client.post(film["base"], json={"preset": preset, **body}, headers=film["owner"].headers)
    assert r.status_code == 202, r.json
    run_jobs(app)
    answer = client.get(r.json["statusUrl"], headers=film["owner"].headers).json
    assert answer["status"] == "completed", answer["error"]
    return answer


def _counts(answer) -> tuple[int, int, int, int]:
    return (answer["scenesRendered"], answer["scenesReused"], answer["segmentsRendered"], answer["segmentsReused"])


def _file(app, answer):
    record = JobRecord.objects(id=answer["id"]).first()
    return app.extensions["aladdin"].storage.path_for(record.result["storageKey"])


def _replace_media(app, film, index: int, path) -> None:
    """Point scene ``index`` at a new upload (what regenerating a scene does)."""
    ext = app.extensions["aladdin"]
    fresh = add_scene(app, film["project"], film["owner"], path, 99, status="generating")
    media_id = fresh["content"]["mediaId"]
    video = film["videos"][index]
    ext.content.collection(film["project"], "videos").update_one(
        {"_id": video["_id"]}, {"$set": {"content.mediaId": media_id}})
    ext.content.collection(film["project"], "videos").delete_one({"_id": fresh["_id"]})


def _frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _audio(path) -> np.ndarray:
    with av.open(str(path)) as container:
        chunks = [f.to_ndarray() for f in container.decode(audio=0)]
    return np.concatenate(chunks, axis=1)[0]


def _decodes_cleanly(path) -> None:
    proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error",
                           "-i", str(path), "-f", "null", "-"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


def _mean_color(frame: np.ndarray) -> np.ndarray:
    h, w, _ = frame.shape
    return frame[h // 4: 3 * h // 4, w // 4: 3 * w // 4].reshape(-1, 3).mean(axis=0)


def _assert_same_film(a, b, scene_colors: list[str]) -> None:
    """Duration within a frame, codec properties, scene order and sampled frames agree."""
    ia, ib = probe(a), probe(b)
    assert abs(ia.duration - ib.duration) <= 1 / FPS + 1e-3
    assert (ia.width, ia.height, ia.video_codec, ia.audio_codec, ia.fps) == \
        (ib.width, ib.height, ib.video_codec, ib.audio_codec, ib.fps)
    fa, fb = _frames(a), _frames(b)
    assert abs(len(fa) - len(fb)) <= 1
    for k, color in enumerate(scene_colors):
        n = k * FPS + FPS // 2  # the middle of scene k (1 s scenes, no transitions)
        assert np.abs(_mean_color(fa[n]) - COLORS[color]).max() < 30, (k, color, _mean_color(fa[n]))
        assert np.abs(fa[n].astype(int) - fb[n].astype(int)).mean() < 4
    for n in range(0, min(len(fa), len(fb)), 5):
        assert np.abs(fa[n].astype(int) - fb[n].astype(int)).mean() < 6, n
    _decodes_cleanly(a)
    _decodes_cleanly(b)


def test_incremental_export_equals_a_full_one(app, client, film, tmp_path):
    first = _export(app, client, film)
    assert _counts(first) == (3, 0, 3, 0)
    _replace_media(app, film, 1, film["media"]["yellow"])
    second = _export(app, client, film)
    assert _counts(second) == (1, 2, 1, 2)

    # The same cut from scratch: an empty cache, then the one-run render of the same scenes.
    ExportSegment.objects().delete()
    app.extensions["aladdin"].storage.delete_prefix(f"projects/{film['project'].slug}/export-segments/")
    full = _export(app, client, film)
    assert _counts(full) == (3, 0, 3, 0)
    order = ["red", "yellow", "blue"]
    _assert_same_film(_file(app, second), _file(app, full), order)

    from plugins.export.service import all_presets

    reference = tmp_path / "one-run.mp4"
    render_concat([Scene(film["media"][c], c) for c in order], all_presets(app)["tiny"], reference,
                  metadata={})
    _assert_same_film(_file(app, second), reference, order)
    assert second["duration"] == pytest.approx(3.0, abs=1 / FPS)


def test_audio_is_continuous_at_the_joins(app, client, film, tmp_path):
    """Three slices of one tone, joined: the export's soundtrack is that unbroken tone. Every 5 ms
    window keeps the tone's loudness (no gap), no sample steps further than the sine itself can
    (no click), and the samples match a one-run render of the same scenes."""
    _export(app, client, film)  # fill the cache ...
    answer = _export(app, client, film)  # ... so this one is joined from reused segments only
    assert _counts(answer) == (0, 3, 0, 3)
    mine = _audio(_file(app, answer))
    from plugins.export.service import all_presets

    reference = tmp_path / "one-run.mp4"
    render_concat([Scene(film["media"][c], c) for c in ("red", "green", "blue")], all_presets(app)["tiny"],
                  reference, metadata={})
    full = _audio(reference)
    steady = np.sqrt(np.mean(mine[4800:43200] ** 2))
    assert steady > 0.05
    step = 2 * np.pi * 440 / 48000 * np.abs(mine[4800:43200]).max()  # the largest step of the sine
    for join in (48000, 96000):
        window = mine[join - 2400: join + 2400]
        rms = np.sqrt(np.mean(window.reshape(-1, 240) ** 2, axis=1))
        assert rms.min() > 0.8 * steady, (join, rms.min(), steady)
        assert np.abs(np.diff(window)).max() < 1.5 * step, join
        n = min(len(mine), len(full))
        assert np.abs(mine[join - 2400: join + 2400] - full[join - 2400: join + 2400]).max() < 0.02
    n = min(len(mine), len(full))
    assert abs(len(mine) - len(full)) <= 2048 and np.abs(mine[:n] - full[:n]).max() < 0.02


def test_changes_rerender_exactly_what_must_change(app, client, film):
    ext = app.extensions["aladdin"]
    videos = ext.content.collection(film["project"], "videos")
    assert _counts(_export(app, client, film)) == (3, 0, 3, 0)
    assert _counts(_export(app, client, film)) == (0, 3, 0, 3)
    # The order of hard cuts changes no pixel of any segment: all reused, the film reordered.
    videos.update_one({"_id": film["videos"][0]["_id"]}, {"$set": {"sceneNumber": 9}})
    reordered = _export(app, client, film)
    assert _counts(reordered) == (0, 3, 0, 3)
    frames = _frames(_file(app, reordered))
    assert [np.abs(_mean_color(frames[k * FPS + 12]) - COLORS[c]).max() < 30
            for k, c in enumerate(("green", "blue", "red"))] == [True] * 3
    # Another preset (other geometry) shares nothing.
    other = _export(app, client, film, preset="tiny-wide")
    assert _counts(other) == (3, 0, 3, 0) and probe(_file(app, other)).width == 384

    # Crossfades: scene bodies plus one segment per crossfade; a scene change touches its body
    # and the crossfades on both sides of it, nothing else.
    fade = {"type": "crossfade", "duration": 0.25}
    faded = _export(app, client, film, transition=fade)
    assert _counts(faded) == (3, 0, 5, 0)  # green, green>blue, blue, blue>red, red
    assert faded["duration"] == pytest.approx(3 - 2 * 0.25, abs=1 / FPS)
    _replace_media(app, film, 2, film["media"]["yellow"])  # blue, in the middle
    changed = _export(app, client, film, transition=fade)
    assert _counts(changed) == (1, 2, 3, 2)
    frames = _frames(_file(app, changed))
    assert len(frames) == 3 * FPS - 2 * 6
    assert np.abs(_mean_color(frames[FPS + 6]) - COLORS["yellow"]).max() < 30  # the middle scene
    blend = _mean_color(frames[FPS - 6 + 3])  # halfway through green > yellow
    assert 60 < blend[0] < 200 and blend[2] < 40
    _decodes_cleanly(_file(app, changed))
    # A title card is one more segment; new text re-renders that segment alone.
    titled = _export(app, client, film, transition=fade, titleCard={"text": "Pilot", "duration": 0.5})
    assert _counts(titled) == (0, 3, 1, 5)
    retitled = _export(app, client, film, transition=fade, titleCard={"text": "Pilot, take 2", "duration": 0.5})
    assert _counts(retitled) == (0, 3, 1, 5) and retitled["duration"] == pytest.approx(3.0, abs=1 / FPS)


def test_progress_counts_only_rendered_work(app, client, film, monkeypatch):
    """Where the bar stands when the join starts: near the end when scenes were rendered, at the
    start when every segment was reused (reused segments cost nothing)."""
    at_join: list[float] = []
    seen: list[float] = []
    real_run = pipeline.run_ffmpeg
    real_render = pipeline.render_export

    def recording_render(*args, on_progress=None, **kwargs):
        seen.clear()

        def record(pct):
            seen.append(pct)
            on_progress(pct)
        return real_render(*args, on_progress=record, **kwargs)

    def run(cmd, **kwargs):
        if "concat" in cmd:
            at_join.append(seen[-1] if seen else 0.0)
        return real_run(cmd, **kwargs)

    monkeypatch.setattr(pipeline, "run_ffmpeg", run)
    monkeypatch.setattr(pipeline, "render_export", recording_render)
    _export(app, client, film)
    _replace_media(app, film, 0, film["media"]["yellow"])
    one = _export(app, client, film)
    none = _export(app, client, film)
    assert _counts(one) == (1, 2, 1, 2) and _counts(none) == (0, 3, 0, 3)
    # The full export wrote the film in its one render run (no join); after one change, rendering
    # that scene took the bar (not a third of it); with everything reused the join is all the work.
    assert len(at_join) == 2 and at_join[0] > 85 and at_join[1] == 0.0
    record = JobRecord.objects(id=none["id"]).first()
    assert record.progress == 100 and none["progress"] == 100


def test_poster_and_contact_sheet_over_http(app, client, film, monkeypatch):
    answer = _export(app, client, film)
    poster = client.get(local_path(app, answer["posterUrl"]))
    sheet = client.get(local_path(app, answer["contactSheetUrl"]))
    assert poster.status_code == 200 and sheet.status_code == 200
    assert poster.mimetype == "image/png" and sheet.mimetype == "image/png"
    image = Image.open(io.BytesIO(poster.data)).convert("RGB")
    assert image.size == (320, 180)
    assert np.abs(_mean_color(np.asarray(image)) - COLORS["red"]).max() < 30  # the first scene
    contact = np.asarray(Image.open(io.BytesIO(sheet.data)).convert("RGB"))
    from plugins.export.posters import GAP, THUMB_WIDTH

    assert contact.shape[1] == 3 * THUMB_WIDTH + 4 * GAP  # one column per scene
    thumb_h = 180
    for k, color in enumerate(("red", "green", "blue")):
        x = GAP + k * (THUMB_WIDTH + GAP)
        cell = contact[GAP:GAP + thumb_h, x:x + THUMB_WIDTH]
        assert np.abs(_mean_color(cell) - COLORS[color]).max() < 30
        label = contact[GAP + thumb_h:, x:x + THUMB_WIDTH]
        assert (label > 200).any()  # its caption is drawn beneath it
    from plugins.export.previews import scene_caption

    assert scene_caption(film["videos"][0], 0) == Caption(1, "The red room")
    assert Caption(1, "The red room").text == "1. The red room"
    # Someone outside the project learns nothing of it, pictures included.
    assert client.get(f"{film['base']}/{answer['id']}", headers=film["outsider"].headers).status_code == 404

    # The CLI prints where they are.
    import core.cli
    from plugins.export.cli import export_command

    monkeypatch.setattr(core.cli.context, "_app", app)
    result = CliRunner().invoke(export_command, [film["project"].slug, "--preset", "tiny", "--wait"])
    assert result.exit_code == 0, result.output
    assert "poster: http" in result.output and "contact sheet: http" in result.output
    assert "scenes: 0 rendered, 3 reused" in result.output


def test_cached_segments_follow_retention_and_go_with_the_project(app, client, film):
    import datetime as dt

    from core.projects import delete_project
    from plugins.export.cleanup import expire_exports

    storage = app.extensions["aladdin"].storage
    prefix = f"projects/{film['project'].slug}/export-segments/"
    answer = _export(app, client, film)
    assert ExportSegment.objects(projectId=str(film["project"].id)).count() == 3
    assert len(storage.list(prefix)) == 6  # each scene segment with its still
    # Used within the retention: kept. Unused for longer: removed with the exports.
    assert expire_exports(app, days=7) == 0 and len(storage.list(prefix)) == 6
    later = dt.datetime.utcnow() + dt.timedelta(days=8)
    assert expire_exports(app, days=7, now=later) == 1
    assert storage.list(prefix) == [] and ExportSegment.objects().count() == 0
    record = JobRecord.objects(id=answer["id"]).first()
    assert not storage.exists(record.result["posterKey"]) and not storage.exists(record.result["contactSheetKey"])
    # A new export renders again and the project's deletion takes its segments along.
    assert _counts(_export(app, client, film)) == (3, 0, 3, 0)
    delete_project(app, film["project"], film["owner"])
    assert storage.list(prefix) == [] and ExportSegment.objects().count() == 0


@pytest.mark.parametrize("codec,container,audio", [("libx265", "mp4", "hevc"), ("libvpx-vp9", "webm", "vp9"),
                                                   ("prores_ks", "mov", "prores")])
def test_every_codec_family_joins_by_stream_copy(app, team, media, tmp_path, codec, container, audio):
    """HEVC, VP9 and ProRes segments join as cleanly as H.264: whole film decodes, frame-exact."""
    from plugins.export.presets import preset_from_dict

    preset = preset_from_dict({"id": f"tiny-{container}", "resolution": "192x108", "fps": FPS,
                               "videoBitrate": None if codec == "prores_ks" else "300k",
                               "audioBitrate": "96k", "videoCodec": codec, "container": container})
    scenes = [Scene(media[c], c) for c in ("red", "green", "blue")]
    captions = [Caption(n + 1, c) for n, c in enumerate(("red", "green", "blue"))]
    out = tmp_path / f"film.{preset.extension}"
    made = pipeline.render_export(app, team["project"], scenes, preset, tmp_path, out, metadata={"title": "t"},
                                  captions=captions, transition={"type": "crossfade", "duration": 0.25})
    assert made.counts() == {"scenesRendered": 3, "scenesReused": 0, "segmentsRendered": 5, "segmentsReused": 0}
    assert made.info.video_codec == audio and (made.info.width, made.info.height) == (192, 108)
    frames = _frames(out)
    assert len(frames) == 3 * FPS - 2 * 6
    for n, color in ((9, "red"), (FPS + 6, "green"), (2 * FPS, "blue")):
        assert np.abs(_mean_color(frames[n]) - COLORS[color]).max() < 40, (n, color)
    _decodes_cleanly(out)
    again = pipeline.render_export(app, team["project"], scenes, preset, tmp_path, tmp_path / f"again.{preset.extension}",
                                   metadata={}, captions=captions, transition={"type": "crossfade", "duration": 0.25})
    assert again.counts()["segmentsReused"] == 5 and len(_frames(tmp_path / f"again.{preset.extension}")) == len(frames)


def test_a_reader_who_may_not_see_a_scene_gets_no_previews(app, film, monkeypatch):
    from plugins.export import service

    record = service.queue_export(app, film["project"], film["owner"], preset_id="tiny")
    run_jobs(app)
    record.reload()
    assert service.job_json(app, record, reader=film["owner"], project=film["project"])["posterUrl"]
    monkeypatch.setattr(service, "hides_scenes", lambda *a, **k: True)
    hidden = service.job_json(app, record, reader=film["owner"], project=film["project"])
    assert hidden["downloadUrl"] is None and hidden["posterUrl"] is None and hidden["contactSheetUrl"] is None


def test_a_first_export_with_a_title_card_is_written_in_one_run(app, client, film):
    """Title card and cuts, nothing cached: the render run writes segments and film at once; the
    same export joined from the cache afterwards is the same film."""
    titled = _export(app, client, film, titleCard={"text": "Pilot", "duration": 0.5})
    assert _counts(titled) == (3, 0, 4, 0) and titled["duration"] == pytest.approx(3.5, abs=1 / FPS)
    again = _export(app, client, film, titleCard={"text": "Pilot", "duration": 0.5})
    assert _counts(again) == (0, 3, 0, 4)
    a, b = _frames(_file(app, titled)), _frames(_file(app, again))
    assert len(a) == len(b) == 12 + 3 * FPS
    assert np.abs(_mean_color(a[12 + FPS + 12]) - COLORS["green"]).max() < 30
    assert max(np.abs(x.astype(int) - y.astype(int)).mean() for x, y in zip(a, b)) < 1  # the very same pixels
    sound = _audio(_file(app, titled))
    assert np.abs(sound[:int(0.45 * 48000)]).max() < 0.01  # the title is silent, the scenes are not
    assert np.sqrt(np.mean(sound[48000:96000] ** 2)) > 0.05
    _decodes_cleanly(_file(app, titled))
