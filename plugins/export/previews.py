"""Where an export's poster and contact sheet live in storage, and their signed URLs.

Kept under ``projects/<slug>/export-previews/<jobId>/`` (beside, not inside, the exports
prefix): removed when the export expires and with the project."""
from __future__ import annotations

from pathlib import Path

from core.media import download_url

from .posters import Caption

POSTER_NAME = "poster.png"
CONTACT_SHEET_NAME = "contact-sheet.png"


def scene_caption(video: dict, position: int) -> Caption:
    """A scene's label on the contact sheet: its ``sceneNumber`` (else its place in the film,
    1-based) and its title."""
    content = video.get("content") or {}
    number = video.get("sceneNumber")
    if isinstance(number, bool) or not isinstance(number, int):
        number = position + 1
    return Caption(number=number, title=content.get("title") or content.get("name"))


def preview_prefix(project, job_id: str) -> str:
    return f"projects/{project.slug}/export-previews/{job_id}/"


def store_previews(app, project, job_id: str, poster: Path | None, contact_sheet: Path | None) -> dict:
    """Upload the PNGs; the keys go into the job's result."""
    storage = app.extensions["aladdin"].storage
    keys: dict = {}
    prefix = preview_prefix(project, job_id)
    if poster is not None:
        keys["posterKey"] = prefix + POSTER_NAME
        storage.put_file(poster, keys["posterKey"], content_type="image/png")
    if contact_sheet is not None:
        keys["contactSheetKey"] = prefix + CONTACT_SHEET_NAME
        storage.put_file(contact_sheet, keys["contactSheetKey"], content_type="image/png")
    return keys


def preview_urls(app, result: dict) -> dict:
    """``posterUrl`` and ``contactSheetUrl``: signed and expiring like ``downloadUrl``."""
    urls = {"posterUrl": None, "contactSheetUrl": None}
    if result.get("posterKey"):
        urls["posterUrl"] = download_url(app, result["posterKey"], POSTER_NAME, "image/png")
    if result.get("contactSheetKey"):
        urls["contactSheetUrl"] = download_url(app, result["contactSheetKey"], CONTACT_SHEET_NAME, "image/png")
    return urls


def delete_previews(app, result: dict) -> None:
    storage = app.extensions["aladdin"].storage
    for name in ("posterKey", "contactSheetKey"):
        if result.get(name):
            storage.delete(result[name])
