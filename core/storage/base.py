"""The storage interface every backend implements, its error, and the key rules they share."""

from __future__ import annotations

import abc
import os
import typing

# Temporary files live beside their destination so os.replace stays atomic (same
# filesystem); the prefix lets list() skip them while a write is in flight.
_TMP_PREFIX = ".aladdin-tmp-"

Data = typing.Union[bytes, bytearray, memoryview, typing.BinaryIO]


class StorageError(Exception):
    """A backend failed; the message names the key so operators can find the object."""


class Storage(abc.ABC):
    """One place to keep media bytes; callers never learn which backend holds them."""

    scheme: str

    @abc.abstractmethod
    def put(self, key: str, data: Data, content_type: str = "application/octet-stream") -> int:
        """Store ``data`` under ``key`` atomically (readers see the old or the new object)."""

    @abc.abstractmethod
    def put_file(
        self, path: str | os.PathLike[str], key: str, content_type: str = "application/octet-stream"
    ) -> int:
        """Store the file at ``path``; streams, so large renders never sit in memory."""

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """The object's bytes; ``KeyError`` if there is none."""

    @abc.abstractmethod
    def download_to(self, key: str, path: str | os.PathLike[str]) -> None:
        """Write the object to a local file (exports and renders need real paths)."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """Size in bytes; ``KeyError`` if there is none."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error (retries are safe)."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Remove every key starting with ``prefix``; returns how many were removed."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Sorted keys starting with ``prefix`` (a plain string prefix, not a folder)."""

    @abc.abstractmethod
    def copy(self, src_key: str, dst_key: str) -> None:
        """Server-side copy: project clones must not stream every video through the app."""

    @abc.abstractmethod
    def signed_url(
        self,
        key: str,
        expires_in: int = 3600,
        filename: str | None = None,
        base_url: str = "",
        content_type: str | None = None,
    ) -> str:
        """A URL that lets anyone holding it download ``key`` until ``expires_in`` seconds pass.

        The download is an attachment of type ``served_type(content_type, filename)`` (see
        ``signing``): never one a browser would render as a page or run as a script."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.scheme}>"


def _validate_key(key: str) -> list[str]:
    """Split a key into path segments, refusing anything that could escape the store."""
    if not isinstance(key, str) or not key:
        raise ValueError("storage key must be a non-empty string")
    if "\x00" in key:
        raise ValueError(f"storage key contains NUL: {key!r}")
    if "\\" in key:
        raise ValueError(f"storage key contains a backslash: {key!r}")
    if key.startswith("/") or os.path.isabs(key):
        raise ValueError(f"storage key must be relative: {key!r}")
    parts = key.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise ValueError(f"storage key has an empty, '.' or '..' segment: {key!r}")
    if parts[-1].startswith(_TMP_PREFIX):
        raise ValueError(f"storage key uses the reserved prefix {_TMP_PREFIX!r}: {key!r}")
    return parts
