"""The storyboards content type, the checks every write gets, and the project summary."""

from __future__ import annotations

import marshmallow as ma

from core.content import ContentType
from core.errors import WriteRefused

COLLECTION = "storyboards"
STATUSES = ("draft", "review", "approved")
MAX_PANEL_SECONDS = 600


def content_type() -> ContentType:
    return ContentType(
        COLLECTION, "Storyboard",
        fields={
            "sceneNumber": ma.fields.Integer(allow_none=True, validate=ma.validate.Range(min=0, max=1_000_000)),
            "status": ma.fields.String(validate=ma.validate.OneOf(STATUSES)),
            "confidential": ma.fields.Boolean(),
        },
        # A board belongs to the scene content.sceneId names: a deep clone of the scene brings
        # its boards, pointing at the new scene (belongs_to is also a reference field).
        belongs_to=(("content.sceneId", "scenes"),),
        indexes=(("sceneNumber",), ("status",)),
        description="Drawn panels of a scene: content.panels = [{caption, duration}].",
    )


def prepare(document: dict) -> None:
    """Default the workflow fields and refuse panels the summary could not add up.

    Runs in the before-write hook, so a bad board is refused with 422 before anything is stored."""
    document.setdefault("status", "draft")
    document.setdefault("confidential", False)
    panels = (document.get("content") or {}).get("panels")
    if panels is None:
        return
    if not isinstance(panels, list):
        raise WriteRefused("content.panels must be a list of {caption, duration}", status=422)
    for index, panel in enumerate(panels):
        duration = panel.get("duration", 0) if isinstance(panel, dict) else None
        if isinstance(duration, bool) or not isinstance(duration, (int, float)) \
                or not 0 <= duration <= MAX_PANEL_SECONDS:
            raise WriteRefused(
                f"content.panels[{index}] needs a duration between 0 and {MAX_PANEL_SECONDS} seconds",
                status=422, panel=index)


def summarize(docs) -> dict:
    """Boards by status, panels, running time, confidential boards and the scenes covered."""
    by_status = {status: 0 for status in STATUSES}
    total = panels = confidential = 0
    seconds = 0.0
    scenes = set()
    for doc in docs:
        total += 1
        status = doc.get("status") or "draft"
        by_status[status] = by_status.get(status, 0) + 1
        confidential += bool(doc.get("confidential"))
        board_panels = (doc.get("content") or {}).get("panels") or []
        panels += len(board_panels)
        seconds += sum(p.get("duration", 0) for p in board_panels if isinstance(p, dict))
        if doc.get("sceneNumber") is not None:
            scenes.add(doc["sceneNumber"])
    return {"total": total, "byStatus": by_status, "panels": panels, "durationSeconds": round(seconds, 3),
            "confidential": confidential, "scenes": sorted(scenes)}
