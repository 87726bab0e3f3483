"""Making user-supplied values safe for ffmpeg and the filesystem: file names, metadata,
output paths."""
from __future__ import annotations

import os
import re
import unicodedata

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}


def sanitize_filename(name: str, default: str = "export") -> str:
    """A safe single-component file name: no directories, no control characters or quotes,
    only [A-Za-z0-9._ -], no leading '-' or '.', at most 100 characters, never empty."""
    name = "" if name is None else str(name)
    name = re.split(r"[\\/]", name)[-1]  # the last path component only: no traversal
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[\x00-\x1f\x7f\"'`]", "", name)
    name = re.sub(r"[^A-Za-z0-9._ -]+", "_", name)
    name = re.sub(r"_{2,}", "_", re.sub(r" {2,}", " ", name))
    name = re.sub(r"\.{2,}", ".", name)
    name = name.lstrip("-. _").rstrip(". ")
    name = name[:100].rstrip(". ")
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:
        name = "_" + name
    if not name:
        return sanitize_filename(default, "export") if default != "export" else "export"
    return name


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
