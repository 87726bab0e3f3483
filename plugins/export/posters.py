"""Seeing an export without downloading it: a poster (the middle frame of the first scene) and a
contact sheet (one frame per scene, labelled with its number and title), both PNG.

The frames are the stills the scene segments were rendered with (cached beside them), so a
reused scene costs no decoding here either."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

THUMB_WIDTH = 320
MAX_COLUMNS = 5
GAP = 8
MAX_CAPTION_CHARS = 60


@dataclass(frozen=True)
class Caption:
    number: int
    title: str | None = None

    @property
    def text(self) -> str:
        title = " ".join(str(self.title or "").split())
        if len(title) > MAX_CAPTION_CHARS:
            title = title[:MAX_CAPTION_CHARS - 1] + "…"
        return f"{self.number}. {title}" if title else f"{self.number}."


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def make_poster(still: Path, output: Path) -> Path:
    """The poster is the first scene's still, as rendered (at most 1280 pixels wide)."""
    from PIL import Image

    with Image.open(still) as image:
        image.convert("RGB").save(output, format="PNG", optimize=False)
    return output


def make_contact_sheet(stills: list[Path], captions: list[Caption], output: Path,
                       thumb_width: int = THUMB_WIDTH) -> Path:
    """A grid of one thumbnail per scene in film order, each captioned ``N. Title`` beneath."""
    from PIL import Image, ImageDraw

    if not stills or len(stills) != len(captions):
        raise ValueError("a contact sheet needs one still per scene")
    thumbs = []
    for path in stills:
        with Image.open(path) as image:
            image = image.convert("RGB")
            height = max(2, round(image.height * thumb_width / image.width))
            thumbs.append(image.resize((thumb_width, height), Image.Resampling.BILINEAR))
    thumb_height = max(t.height for t in thumbs)
    font = _font(max(11, thumb_width // 22))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    caption_height = probe.textbbox((0, 0), "Ag", font=font)[3] + 2 * GAP
    columns = min(MAX_COLUMNS, len(thumbs))
    rows = math.ceil(len(thumbs) / columns)
    width = columns * thumb_width + (columns + 1) * GAP
    height = rows * (thumb_height + caption_height) + GAP
    sheet = Image.new("RGB", (width, height), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for n, (thumb, caption) in enumerate(zip(thumbs, captions)):
        row, col = divmod(n, columns)
        x = GAP + col * (thumb_width + GAP)
        y = GAP + row * (thumb_height + caption_height)
        sheet.paste(thumb, (x, y + (thumb_height - thumb.height) // 2))
        text = caption.text
        while len(text) > 4 and draw.textlength(text, font=font) > thumb_width:
            text = text[:-2] + "…"
        draw.text((x, y + thumb_height + GAP // 2), text, font=font, fill=(235, 235, 235))
    sheet.save(output, format="PNG")
    return output
