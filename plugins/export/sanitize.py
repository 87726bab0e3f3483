"""Making user-supplied values safe for ffmpeg and the filesystem: file names, metadata,
output paths."""
from __future__ import annotations

import os
import re
import unicodedata

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}


MAX_NAME = 100
_EXTENSION_RE = re.compile(r"\.[A-Za-z0-9]{1,10}\Z")


def _split_extension(name: str) -> tuple[str, str]:
    match = _EXTENSION_RE.search(name)
    if not match or match.start() == 0:
        return name, ""
    return name[:match.start()], match.group()


def sanitize_filename(name: str, default: str = "export") -> str:
    """A safe single-component file name (storage keys): no directories, no control characters
    or quotes, only [A-Za-z0-9._ -], no leading '-' or '.', at most 100 characters, never empty.
    An extension survives: a long name loses the end of its stem, and a stem with nothing
    ASCII left (``東京物語.mp4``) becomes the default's stem (``export.mp4``)."""
    name = "" if name is None else str(name)
    name = re.split(r"[\\/]", name)[-1]  # the last path component only: no traversal
    stem, extension = _split_extension(name)
    if extension:
        clean_ext = _ascii_name(extension.lstrip("."))
        default_stem = _split_extension(default)[0] or "export"
        clean_stem = _ascii_name(stem)[:MAX_NAME - len(clean_ext) - 1].rstrip(". ")
        if not clean_stem:
            clean_stem = _ascii_name(default_stem) or "export"
        return _not_reserved(f"{clean_stem}.{clean_ext}" if clean_ext else clean_stem)
    name = _ascii_name(name)[:MAX_NAME].rstrip(". ")
    if not name:
        return sanitize_filename(default, "export") if default != "export" else "export"
    return _not_reserved(name)


def _not_reserved(name: str) -> str:
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:
        name = "_" + name
    return name[:MAX_NAME]


def display_filename(name: str, default: str = "export") -> str:
    """A download name and title that keeps its letters (``東京物語``, ``Фильм``, accents):
    one path component, NFC, no control/format characters, quotes or characters file systems
    reserve, no leading '-' or '.', at most 100 characters, never empty."""
    name = "" if name is None else str(name)
    name = re.split(r"[\\/]", name)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join("" if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") else ch
                   for ch in name)
    name = re.sub(r"[\"'`]", "", name)
    name = re.sub(r"[<>:|?*]+", "_", name)
    name = re.sub(r"\s+", " ", name)
    name = re.sub(r"_{2,}", "_", name)
    name = re.sub(r"\.{2,}", ".", name)
    name = name.lstrip("-. _").rstrip(". ")
    name = name[:MAX_NAME].rstrip(". ")
    if not name:
        return display_filename(default, "export") if default != "export" else "export"
    return _not_reserved(name)


def _ascii_name(name: str) -> str:
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[\x00-\x1f\x7f\"'`]", "", name)
    name = re.sub(r"[^A-Za-z0-9._ -]+", "_", name)
    name = re.sub(r"_{2,}", "_", re.sub(r" {2,}", " ", name))
    name = re.sub(r"\.{2,}", ".", name)
    return name.lstrip("-. _").rstrip(". ")


_METADATA_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}\Z")
MAX_METADATA_VALUE = 1024


def sanitize_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    """Keys must be plain identifiers; values lose control characters and line breaks."""
    clean: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not _METADATA_KEY_RE.match(key):
            raise ValueError(f"invalid metadata key: {key!r}")
        if value is None:
            continue
        text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
                       for ch in str(value))
        text = re.sub(r"\s+", " ", text).strip()[:MAX_METADATA_VALUE]
        if text:
            clean[key] = text
    return clean


def check_output_path(output_path) -> str:
    output_path = os.fspath(output_path)
    if not (os.path.isabs(output_path) or output_path.startswith("./")):
        raise ValueError("output_path must be absolute or start with './'")
    return output_path
