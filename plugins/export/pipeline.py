"""The segmented export: hash and probe the scenes, plan the timeline, reuse every cached
segment, render only the missing ones, join them, verify the result, make the previews.

Progress counts frames actually encoded (a reused segment costs nothing) plus a small share
for the join. No Flask request state here; the job layer passes the app for storage."""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .ffmpeg import RenderError
from .ffmpeg_args import scene_duration
from .posters import Caption, make_contact_sheet, make_poster
from .presets import Preset
from .probe import MediaInfo, Scene, probe, probe_scenes
from .render import _remove, _Throttle, run_ffmpeg, verify
from .segment_store import SegmentStore
from .segments import batch_command, concat_list, crossfade_command, join_command
from .timeline import Source, Timeline, Unit, frames_for, plan

# The join (stream copy + one audio encode) weighs this much per output frame in progress,
# against 1 for a frame encoded in a segment.
JOIN_COST = 0.03


@dataclass
class ExportRender:
    info: MediaInfo
    timeline: Timeline
    rendered: list[Unit] = field(default_factory=list)
    reused: list[Unit] = field(default_factory=list)
    poster: Path | None = None
    contact_sheet: Path | None = None

    def _scenes(self, units: list[Unit]) -> int:
        return sum(1 for u in units if u.kind == "scene")

    def counts(self) -> dict:
        """What the job answer says about the work done."""
        return {"scenesRendered": self._scenes(self.rendered), "scenesReused": self._scenes(self.reused),
                "segmentsRendered": len(self.rendered), "segmentsReused": len(self.reused)}


def file_digest(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Deadline:
    def __init__(self, timeout: float | None):
        self.end = time.monotonic() + timeout if timeout else None

    def left(self) -> float | None:
        if self.end is None:
            return None
        left = self.end - time.monotonic()
        if left <= 0:
            raise RenderError("ffmpeg timed out: the export took longer than its time limit")
        return left


def _check_segment(path: Path, unit: Unit, preset: Preset, label: str | None) -> None:
    """A segment goes into the cache only if it is what the preset asked for."""
    try:
        info = probe(path)
    except RenderError as exc:
        raise RenderError(f"rendered segment is unreadable: {exc.message}", scene=label,
                          ffmpeg_tail=exc.ffmpeg_tail) from None
    if (info.width, info.height, info.video_codec) != (preset.width, preset.height, preset.video_codec_name) \
            or abs(info.duration - unit.frames / preset.fps) > 1.5 / preset.fps + 0.05:
        raise RenderError(f"rendered segment failed verification ({info.width}x{info.height} "
                          f"{info.video_codec}, {info.duration:.3f}s)", scene=label)


def _title_image(unit: Unit, preset: Preset, path: Path) -> Path:
    from PIL import Image

    from .compose import title_frame

    Image.fromarray(title_frame(unit.text, preset.width, preset.height, unit.background)).save(path)
    return path


def _probe(scenes: list[Scene], digests: list[str], store: SegmentStore) -> list[tuple[Scene, MediaInfo]]:
    """Probe each scene, or take what probing the same bytes found before."""
    if not scenes:
        raise ValueError("nothing to render: no scenes")
    known = store.probed(digests)
    probed = []
    for scene, digest in zip(scenes, digests):
        if digest in known:
            try:
                probed.append((scene, MediaInfo(**known[digest])))
                continue
            except TypeError:  # recorded by another version of MediaInfo: probe again
                pass
        probed.extend(probe_scenes([scene]))
        store.remember_probe(digest, dataclasses.asdict(probed[-1][1]))
        known[digest] = dataclasses.asdict(probed[-1][1])
    return probed


class _Work:
    """Progress over the frames this export really encodes."""

    def __init__(self, progress: _Throttle, total: float):
        self.progress, self.total, self.done = progress, max(total, 1e-9), 0.0

    def reporter(self, frames: float) -> Callable[[float], None]:
        base = self.done
        return lambda pct: self.progress((base + frames * min(pct, 100.0) / 100.0) / self.total * 100.0)

    def add(self, frames: float) -> None:
        self.done += frames
        self.progress(self.done / self.total * 100.0)


def _render_batch(batch: list[int], timeline: Timeline, preset: Preset, probed, files, workdir: Path,
                  store: SegmentStore, work: _Work, deadline: _Deadline, *, final: Path | None = None,
                  metadata: dict | None = None) -> None:
    """Render the missing scene and title segments in one ffmpeg run, check each segment's
    frame-exact length in the segment muxer's list, then cache them. With ``final`` (every unit
    of the film is in the batch) that run also writes the finished film there."""
    units = [timeline.units[n] for n in batch]
    inputs = [probed[u.scene] if u.kind == "scene" else None for u in units]
    titles = [str(_title_image(u, preset, workdir / f"title-{n:04d}.png")) if u.kind == "title" else None
              for n, u in zip(batch, units)]
    pattern = f"render.batch-%04d.{preset.extension}"
    list_path = workdir / "render.batch.csv"
    cmd = batch_command(units, timeline, preset, [(x[0].path, x[1]) if x else None for x in inputs], titles,
                        str(workdir / pattern), str(workdir / "still-batch-%04d.png"), list_path,
                        final=final, metadata=metadata)
    named = [x[0] if x else Scene(titles[i], "the title card") for i, x in enumerate(inputs)]
    frames = sum(u.frames for u in units)
    try:
        run_ffmpeg(cmd, total_seconds=frames / preset.fps, scenes=named, on_progress=work.reporter(frames),
                   timeout=deadline.left(), output_path=str(list_path))
    except BaseException:
        if final is not None:
            _remove(str(final))
        raise
    rows = [line.rsplit(",", 2) for line in list_path.read_text().splitlines() if line.strip()]
    if len(rows) != len(units):
        raise RenderError(f"the render was split into {len(rows)} segments, expected {len(units)}")
    stills = 0
    for i, (n, unit, row) in enumerate(zip(batch, units, rows)):
        length = (float(row[2]) - float(row[1])) * preset.fps
        if abs(length - unit.frames) > 0.5:
            raise RenderError(f"a segment of {unit.frames} frames came out {length:.1f} frames long",
                              scene=named[i].name)
        seg, still = files[n]
        os.replace(workdir / (pattern % i), seg)
        if still is not None:
            os.replace(workdir / f"still-batch-{stills:04d}.png", still)
            stills += 1
        store.keep(unit.key, unit.kind, unit.frames, seg, preset.extension, still)
    work.add(frames)


def _render_single(n: int, timeline: Timeline, preset: Preset, probed, files, store: SegmentStore,
                   work: _Work, deadline: _Deadline) -> None:
    """Render one segment on its own (a crossfade, which reads two scenes), check and cache it."""
    unit = timeline.units[n]
    seg, still = files[n]
    inputs = [probed[unit.scene], probed[unit.scene + 1]]
    label = inputs[0][0].name
    cmd = crossfade_command(unit, timeline, preset, [(s.path, i) for s, i in inputs], seg)
    try:
        run_ffmpeg(cmd, total_seconds=unit.frames / preset.fps, scenes=[s for s, _ in inputs],
                   on_progress=work.reporter(unit.frames), timeout=deadline.left(), output_path=str(seg))
        _check_segment(seg, unit, preset, label)
    except RenderError as exc:
        _remove(str(seg))
        if exc.scene:
            raise
        raise RenderError(exc.message, scene=label, ffmpeg_tail=exc.ffmpeg_tail) from None
    store.keep(unit.key, unit.kind, unit.frames, seg, preset.extension, still)
    work.add(unit.frames)


def render_export(app, project, scenes: list[Scene], preset: Preset, workdir: Path, output: Path, *,
                  metadata: dict, captions: list[Caption], title_card: dict | None = None,
                  transition: dict | None = None, on_progress: Callable[[float], None] | None = None,
                  timeout: float | None = None) -> ExportRender:
    """Render the export into ``output`` (in ``workdir``, which the caller owns and removes).
    On failure nothing is left at ``output`` and only verified segments were cached."""
    deadline = _Deadline(timeout)
    store = SegmentStore(app, project)
    digests = [file_digest(s.path) for s in scenes]
    probed = _probe(scenes, digests, store)
    sources = [Source(d, frames_for(scene_duration(s, i), preset.fps)) for d, (s, i) in zip(digests, probed)]
    timeline = plan(sources, preset, title_card=title_card, transition=transition)
    fps = preset.fps
    known = store.known([u.key for u in timeline.units])
    result = ExportRender(info=None, timeline=timeline)  # type: ignore[arg-type]
    files: list[tuple[Path, Path | None]] = []
    todo: list[int] = []
    for n, unit in enumerate(timeline.units):
        seg = workdir / f"render.unit-{n:04d}.{preset.extension}"
        still = workdir / f"still-{n:04d}.png" if unit.kind == "scene" else None
        files.append((seg, still))
        entry = known.get(unit.key)
        if entry is not None and store.fetch(entry, seg, still):
            result.reused.append(unit)
        else:
            todo.append(n)

    first_of: dict[str, int] = {}
    fresh, copies = [], []
    for n in todo:  # the same media twice in one film is rendered once
        (copies if timeline.units[n].key in first_of else fresh).append(n)
        first_of.setdefault(timeline.units[n].key, n)
    batch = [n for n in fresh if timeline.units[n].kind in ("scene", "title")]
    # Nothing to reuse and no crossfade: the one run that renders the segments writes the film too.
    fused = len(batch) == len(timeline.units)
    work = _Work(_Throttle(on_progress), sum(timeline.units[n].frames for n in fresh) +
                 (0 if fused else JOIN_COST * timeline.total_frames))
    if batch:
        _render_batch(batch, timeline, preset, probed, files, workdir, store, work, deadline,
                      final=output if fused else None, metadata=metadata)
    for n in fresh:
        if n not in batch:
            _render_single(n, timeline, preset, probed, files, store, work, deadline)
    for n in copies:
        (seg, still), (first_seg, first_still) = files[n], files[first_of[timeline.units[n].key]]
        shutil.copyfile(first_seg, seg)
        if still is not None and first_still is not None:
            shutil.copyfile(first_still, still)
    result.rendered = [timeline.units[n] for n in fresh]
    result.reused += [timeline.units[n] for n in copies]

    if not fused:
        list_path = workdir / "segments.ffconcat"
        list_path.write_text(concat_list([(str(seg), u.frames) for (seg, _), u in zip(files, timeline.units)],
                                         fps))
        audio_inputs = [s for s, i in probed if i.has_audio and i.audio_index is not None]
        run_ffmpeg(join_command(list_path, timeline, preset, [(s.path, i) for s, i in probed], output, metadata),
                   total_seconds=timeline.duration,
                   scenes=[Scene(str(list_path), "the joined segments"), *audio_inputs],
                   on_progress=work.reporter(JOIN_COST * timeline.total_frames), timeout=deadline.left(),
                   output_path=str(output))
    try:
        result.info = verify(output, preset, timeline.duration)
    except RenderError:
        _remove(str(output))
        raise
    store.touch([u.key for u in result.reused])
    stills = [files[timeline.scene_units[k]][1] for k in range(len(probed))]
    result.poster = make_poster(stills[0], workdir / "poster.png")
    result.contact_sheet = make_contact_sheet(stills, captions, workdir / "contact-sheet.png")
    work.progress.done()
    return result
