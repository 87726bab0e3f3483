"""Media storage behind one interface: local files, or any S3-compatible service via boto3.

Pick a backend with :func:`create_storage` from ``ALADDIN_STORAGE_URL``.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from .base import Data, Storage, StorageError
from .local import LocalStorage
from .s3 import S3_MAX_EXPIRES, S3Storage
from .signing import SIGNED_URL_PATH, SIGNED_URL_SALT, SignedToken, SignedUrlError, content_disposition, served_type

__all__ = [
    "StorageError",
    "SignedUrlError",
    "Storage",
    "LocalStorage",
    "S3Storage",
    "SignedToken",
    "create_storage",
]


def create_storage(
    storage_url: str, *, secret_key: str, s3_endpoint_url: str | None = None
) -> Storage:
    """Build the backend named by ``ALADDIN_STORAGE_URL``.

    ``file:///abs/path`` gives :class:`LocalStorage`; ``s3://bucket[/prefix]`` gives
    :class:`S3Storage` with credentials from the standard AWS variables/config files and
    ``s3_endpoint_url`` for R2 or MinIO.
    """
    if not storage_url:
        raise ValueError("storage URL is empty; expected file:///abs/path or s3://bucket[/prefix]")
    parts = urlsplit(storage_url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(
                f"storage URL {storage_url!r} must name an absolute path, like file:///var/lib/aladdin/media"
            )
        path = unquote(parts.path)
        if not path or not os.path.isabs(path):
            raise ValueError(
                f"storage URL {storage_url!r} must name an absolute path, like file:///var/lib/aladdin/media"
            )
        return LocalStorage(path, secret_key=secret_key)
    if scheme == "s3":
        bucket = parts.netloc
        if not bucket:
            raise ValueError(f"storage URL {storage_url!r} has no bucket; expected s3://bucket[/prefix]")
        return S3Storage(bucket, prefix=unquote(parts.path), endpoint_url=s3_endpoint_url or None)
    raise ValueError(
        f"unsupported storage URL {storage_url!r}: expected file:///abs/path or s3://bucket[/prefix]"
    )
