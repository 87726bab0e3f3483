"""The ffmpeg binary, the demuxer/protocol guard put before every input, and RenderError
(which carries the tail of ffmpeg's stderr)."""
from __future__ import annotations

import functools
import shutil

TAIL_LINES = 15

# Demuxers an export may read. Anything else (HLS/concat playlists, lavfi, ...) is refused:
# those can make ffmpeg open other local files or URLs named inside an uploaded "video".
INPUT_FORMATS = (
    "mov", "matroska", "avi", "mpegts", "mpeg", "flv", "ogg", "gif", "image2",
    "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe",
)
_INPUT_GUARD = ("-format_whitelist", ",".join(INPUT_FORMATS), "-protocol_whitelist", "file")


class RenderError(Exception):
    """A render failed. `scene` names the culprit when known; `ffmpeg_tail` holds the last
    lines of ffmpeg's stderr (also included in str(e))."""

    def __init__(self, message: str, *, scene: str | None = None, ffmpeg_tail: str = ""):
        self.scene = scene
        self.ffmpeg_tail = ffmpeg_tail
        self.message = message
        text = f"scene {scene!r}: {message}" if scene else message
        if ffmpeg_tail:
            text += "\n--- ffmpeg ---\n" + ffmpeg_tail
        super().__init__(text)


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """The ffmpeg binary: imageio-ffmpeg's bundled one (honours IMAGEIO_FFMPEG_EXE), else PATH."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # pragma: no cover - depends on the install
        found = shutil.which("ffmpeg")
        if not found:
            raise RenderError("no ffmpeg binary found (install imageio-ffmpeg)")
        return found


def _tail(text: str, n: int = TAIL_LINES) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines[-n:])
