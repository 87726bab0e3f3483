"""Media storage behind one interface: local files, or any S3-compatible service via boto3.

Pick a backend with :func:`create_storage` from ``ALADDIN_STORAGE_URL``.
"""

from __future__ import annotations

import abc
import contextlib
import os
import secrets
import shutil
import stat
import time
import typing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from itsdangerous import BadData, URLSafeTimedSerializer

__all__ = [
    "StorageError",
    "SignedUrlError",
    "Storage",
    "LocalStorage",
    "S3Storage",
    "SignedToken",
    "create_storage",
]

SIGNED_URL_SALT = "aladdin-media"
SIGNED_URL_PATH = "/api/v1/files/"
_CHUNK = 1024 * 1024
# Temporary files live beside their destination so os.replace stays atomic (same
# filesystem); the prefix lets list() skip them while a write is in flight.
_TMP_PREFIX = ".aladdin-tmp-"
# SigV4 presigned URLs cannot outlive seven days; failing early beats a URL S3 rejects.
S3_MAX_EXPIRES = 7 * 24 * 3600

Data = typing.Union[bytes, bytearray, memoryview, typing.BinaryIO]


class StorageError(Exception):
    """A backend failed; the message names the key so operators can find the object."""


class SignedUrlError(StorageError):
    """A local signed-URL token was tampered with (``expired=False``) or is past its expiry."""

    def __init__(self, message: str, *, expired: bool) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class SignedToken:
    """What a verified local token grants: one key, an optional download name, an expiry."""

    key: str
    filename: str | None
    expires_at: int


def content_disposition(filename: str) -> str:
    """An ``attachment`` header value that survives quotes and non-ASCII names (RFC 6266)."""
    fallback = filename.encode("ascii", "replace").decode("ascii").replace("?", "_")
    fallback = fallback.replace("\\", "_").replace('"', "_").replace("\r", "").replace("\n", "")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


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
    ) -> str:
        """A URL that lets anyone holding it download ``key`` until ``expires_in`` seconds pass."""

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


def _copy_stream(src: typing.BinaryIO, dst: typing.BinaryIO) -> int:
    total = 0
    while True:
        chunk = src.read(_CHUNK)
        if not chunk:
            return total
        dst.write(chunk)
        total += len(chunk)


class LocalStorage(Storage):
    """Files under one root directory; downloads go through app-signed, expiring tokens."""

    scheme = "file"

    def __init__(self, root: str | Path, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("LocalStorage needs a secret_key to sign download URLs")
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._root_str = str(self.root)
        self._serializer = URLSafeTimedSerializer(secret_key, salt=SIGNED_URL_SALT)

    def __repr__(self) -> str:
        return f"<LocalStorage {self.root}>"

    # -- keys and paths -------------------------------------------------------------
    def path_for(self, key: str) -> Path:
        """The file for ``key``; ``ValueError`` for keys that could point outside the root."""
        return Path(self._checked(key)[0])

    def _checked(self, key: str) -> tuple[str, os.stat_result | None]:
        """``key``'s path under the root, and its ``lstat`` (None when it does not exist).

        A validated key has no ``..`` or absolute part, so only a symlink inside the root could
        lead out of it (a symlinked directory must not become a way out). Walking the key's
        own segments with ``lstat`` proves there is none in a few system calls; only when one
        is found does the full ``realpath`` decide, as ``Path.resolve`` did for every key
        before (pure Python per segment of the whole path: most of a clone's 1,000 copies)."""
        parts = _validate_key(key)
        path = self._root_str
        st = None
        for i, part in enumerate(parts):
            path = f"{path}/{part}"
            try:
                st = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                # Nothing below exists, so nothing below can be a link; the file is to be made.
                return self._root_str + "/" + "/".join(parts), None
            if stat.S_ISLNK(st.st_mode):
                resolved = Path(path).joinpath(*parts[i + 1:]).resolve()
                if resolved != self.root and self.root not in resolved.parents:
                    raise ValueError(f"storage key resolves outside the storage root: {key!r}")
                full = self._root_str + "/" + "/".join(parts)
                try:
                    return full, os.stat(full)
                except OSError:
                    return full, None
        return path, st

    def _tmp_path(self, directory: Path) -> Path:
        return directory / f"{_TMP_PREFIX}{secrets.token_hex(8)}"

    def _open_tmp(self, directory: Path) -> tuple[Path, typing.BinaryIO]:
        directory.mkdir(parents=True, exist_ok=True)
        while True:
            tmp = self._tmp_path(directory)
            try:
                # O_EXCL + 0o666 lets the umask decide permissions, as a plain open() would.
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:  # pragma: no cover - 64 random bits
                continue
            return tmp, os.fdopen(fd, "wb")

    def _write_atomic(self, key: str, writer: typing.Callable[[typing.BinaryIO], int]) -> int:
        target = self.path_for(key)
        tmp: Path | None = None
        try:
            tmp, fh = self._open_tmp(target.parent)
            with fh:
                written = writer(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            tmp = None
            return written
        except OSError as exc:
            raise StorageError(f"could not write {key!r}: {exc}") from exc
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)

    # -- Storage --------------------------------------------------------------------
    def put(self, key: str, data: Data, content_type: str = "application/octet-stream") -> int:
        # content_type is not persisted: the file route derives it from the key's extension.
        if isinstance(data, (bytes, bytearray, memoryview)):
            payload = bytes(data)

            def write(fh: typing.BinaryIO) -> int:
                fh.write(payload)
                return len(payload)

            return self._write_atomic(key, write)
        return self._write_atomic(key, lambda fh: _copy_stream(data, fh))

    def put_file(
        self, path: str | os.PathLike[str], key: str, content_type: str = "application/octet-stream"
    ) -> int:
        try:
            src = open(path, "rb")
        except OSError as exc:
            raise StorageError(f"could not read {os.fspath(path)!r} for {key!r}: {exc}") from exc
        with src:
            return self._write_atomic(key, lambda fh: _copy_stream(src, fh))

    def get(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise KeyError(key) from None
        except OSError as exc:
            raise StorageError(f"could not read {key!r}: {exc}") from exc

    def download_to(self, key: str, path: str | os.PathLike[str]) -> None:
        src = self.path_for(key)
        dest = Path(path)
        if not src.is_file():
            raise KeyError(key)
        tmp: Path | None = None
        try:
            tmp, fh = self._open_tmp(dest.parent)
            with fh, open(src, "rb") as sfh:
                _copy_stream(sfh, fh)
            os.replace(tmp, dest)
            tmp = None
        except FileNotFoundError:
            raise KeyError(key) from None  # deleted between the check and the copy
        except OSError as exc:
            raise StorageError(f"could not download {key!r} to {dest}: {exc}") from exc
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def size(self, key: str) -> int:
        path = self.path_for(key)
        try:
            if not path.is_file():
                raise KeyError(key)
            return path.stat().st_size
        except FileNotFoundError:
            raise KeyError(key) from None
        except OSError as exc:
            raise StorageError(f"could not stat {key!r}: {exc}") from exc

    def delete(self, key: str) -> None:
        path = self.path_for(key)
        try:
            path.unlink(missing_ok=True)
        except IsADirectoryError:
            return  # a "folder" is not an object; nothing stored under this exact key
        except OSError as exc:
            raise StorageError(f"could not delete {key!r}: {exc}") from exc
        self._prune_empty_dirs(path.parent)

    def _prune_empty_dirs(self, directory: Path) -> None:
        # Deleted projects should not leave a skeleton of empty folders behind.
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def delete_prefix(self, prefix: str) -> int:
        count = 0
        for key in self.list(prefix):
            self.delete(key)
            count += 1
        return count

    def list(self, prefix: str = "") -> list[str]:
        start = self.root
        if prefix:
            # Only the complete folders of the prefix narrow the walk; the tail is a
            # plain string prefix ("media/ab" matches "media/abc.png").
            head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
            if head:
                start = self.path_for(head)
            elif "\\" in prefix or "\x00" in prefix or prefix.startswith("/"):
                raise ValueError(f"invalid storage prefix: {prefix!r}")
        if not start.is_dir():
            return []
        keys: list[str] = []
        try:
            for dirpath, _dirnames, filenames in os.walk(start):
                rel_dir = Path(dirpath).relative_to(self.root).as_posix()
                for name in filenames:
                    if name.startswith(_TMP_PREFIX):
                        continue
                    key = name if rel_dir == "." else f"{rel_dir}/{name}"
                    if key.startswith(prefix):
                        keys.append(key)
        except OSError as exc:
            raise StorageError(f"could not list {prefix!r}: {exc}") from exc
        return sorted(keys)

    def copy(self, src_key: str, dst_key: str) -> None:
        src, src_stat = self._checked(src_key)
        dst, _ = self._checked(dst_key)
        if src_stat is None or not stat.S_ISREG(src_stat.st_mode):
            raise KeyError(src_key)
        if src == dst:
            return
        tmp: str | None = None
        try:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            try:
                # A hard link costs nothing and is safe to share because every write replaces
                # the file (new inode) instead of modifying it in place. Linking straight to a
                # new key is atomic; an existing key is replaced through a temporary link.
                os.link(src, dst)
                return
            except FileExistsError:
                tmp = str(self._tmp_path(Path(dst).parent))
                os.link(src, tmp)
            except FileNotFoundError:
                raise
            except OSError:  # no hard links here (another file system): a real copy
                tmp = str(self._tmp_path(Path(dst).parent))
                shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
            tmp = None
        except FileNotFoundError:
            raise KeyError(src_key) from None
        except OSError as exc:
            raise StorageError(f"could not copy {src_key!r} to {dst_key!r}: {exc}") from exc
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    # -- signed URLs ----------------------------------------------------------------
    def signed_url(
        self,
        key: str,
        expires_in: int = 3600,
        filename: str | None = None,
        base_url: str = "",
    ) -> str:
        """``{base_url}/api/v1/files/<token>``; the expiry travels inside the signed token."""
        self.path_for(key)  # refuse to sign a key the file route would refuse to serve
        payload = {"k": key, "f": filename, "e": int(time.time()) + int(expires_in)}
        token = self._serializer.dumps(payload)
        return f"{base_url.rstrip('/')}{SIGNED_URL_PATH}{token}"

    def read_token(self, token: str) -> SignedToken:
        """Verify ``token`` and return everything it grants (the file route wants the filename)."""
        try:
            data = self._serializer.loads(token)
        except BadData as exc:
            raise SignedUrlError("invalid download token", expired=False) from exc
        if not isinstance(data, dict) or not isinstance(data.get("k"), str):
            raise SignedUrlError("invalid download token", expired=False)
        try:
            expires_at = int(data["e"])
        except (KeyError, TypeError, ValueError):
            raise SignedUrlError("invalid download token", expired=False) from None
        # Checked against our own embedded expiry rather than itsdangerous' max_age, so
        # each URL keeps the lifetime it was issued with.
        if time.time() >= expires_at:
            raise SignedUrlError("download link has expired", expired=True)
        filename = data.get("f")
        return SignedToken(
            key=data["k"], filename=filename if isinstance(filename, str) else None, expires_at=expires_at
        )

    def verify_token(self, token: str) -> str:
        """The key a token grants; ``SignedUrlError`` (``expired`` says which) otherwise."""
        return self.read_token(token).key


class S3Storage(Storage):
    """Objects in one bucket (under an optional prefix) on AWS S3, R2, MinIO or similar."""

    scheme = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        client: typing.Any = None,
    ) -> None:
        if not bucket:
            raise ValueError("S3Storage needs a bucket name")
        self.bucket = bucket
        prefix = prefix.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.endpoint_url = endpoint_url
        self.region = region
        self._client = client
        self._client_injected = client is not None
        self._client_pid = os.getpid()

    def __repr__(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"<S3Storage s3://{self.bucket}/{self.prefix}{where}>"

    @property
    def client(self) -> typing.Any:
        """The boto3 S3 client, made lazily and again after a fork (RQ forks per job)."""
        if self._client is None or (
            not self._client_injected and self._client_pid != os.getpid()
        ):
            self._client = self._make_client()
            self._client_pid = os.getpid()
        return self._client

    def _make_client(self) -> typing.Any:
        # Imported here so file-only installs and their start-up never pay for boto3.
        import boto3
        from botocore.config import Config

        s3_options: dict[str, str] = {}
        if self.endpoint_url:
            # MinIO and most self-hosted gateways only understand path-style addressing.
            s3_options["addressing_style"] = "path"
        config = Config(
            signature_version="s3v4",
            s3=s3_options or None,
            retries={"max_attempts": 5, "mode": "standard"},
        )
        session = boto3.session.Session()
        return session.client(
            "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=config
        )

    def _full(self, key: str) -> str:
        _validate_key(key)
        return self.prefix + key

    def _error(self, action: str, key: str, exc: Exception) -> StorageError:
        return StorageError(f"S3 could not {action} {key!r} in bucket {self.bucket!r}: {exc}")

    @staticmethod
    def _is_missing(exc: Exception) -> bool:
        from botocore.exceptions import ClientError

        if not isinstance(exc, ClientError):
            return False
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in ("NoSuchKey", "404", "NotFound") or (status == 404 and code != "NoSuchBucket")

    def _call(self, action: str, key: str, fn: typing.Callable[[], typing.Any]) -> typing.Any:
        """Run one S3 call, turning "no such key" into ``KeyError`` and the rest into StorageError."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn()
        except (ClientError, BotoCoreError) as exc:
            if self._is_missing(exc):
                raise KeyError(key) from None
            raise self._error(action, key, exc) from exc

    def ensure_bucket(self) -> None:
        """Create the bucket if absent; for tests and dev, operators create real buckets."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in ("404", "NoSuchBucket", "NotFound"):
                raise StorageError(f"S3 bucket {self.bucket!r} is not usable: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 bucket {self.bucket!r} is not reachable: {exc}") from exc
        params: dict[str, typing.Any] = {"Bucket": self.bucket}
        region = self.client.meta.region_name
        if region and region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(**params)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise StorageError(f"could not create S3 bucket {self.bucket!r}: {exc}") from exc

    def put(self, key: str, data: Data, content_type: str = "application/octet-stream") -> int:
        full = self._full(key)
        if isinstance(data, (bytes, bytearray, memoryview)):
            payload = bytes(data)
            self._call(
                "put",
                key,
                lambda: self.client.put_object(
                    Bucket=self.bucket, Key=full, Body=payload, ContentType=content_type
                ),
            )
            return len(payload)
        counter = _CountingReader(data)
        self._call(
            "put",
            key,
            lambda: self.client.upload_fileobj(
                counter, self.bucket, full, ExtraArgs={"ContentType": content_type}
            ),
        )
        return counter.count

    def put_file(
        self, path: str | os.PathLike[str], key: str, content_type: str = "application/octet-stream"
    ) -> int:
        full = self._full(key)
        try:
            size = os.path.getsize(path)
        except OSError as exc:
            raise StorageError(f"could not read {os.fspath(path)!r} for {key!r}: {exc}") from exc
        # upload_file switches to multipart for big files, which put_object cannot do.
        self._call(
            "put",
            key,
            lambda: self.client.upload_file(
                os.fspath(path), self.bucket, full, ExtraArgs={"ContentType": content_type}
            ),
        )
        return size

    def get(self, key: str) -> bytes:
        full = self._full(key)

        def fetch() -> bytes:
            body = self.client.get_object(Bucket=self.bucket, Key=full)["Body"]
            with body:
                return body.read()

        return self._call("get", key, fetch)

    def download_to(self, key: str, path: str | os.PathLike[str]) -> None:
        full = self._full(key)
        # s3transfer writes to a temporary name and renames, so a failed download
        # never leaves a truncated file at ``path``.
        self._call(
            "download", key, lambda: self.client.download_file(self.bucket, full, os.fspath(path))
        )

    def _head(self, key: str) -> dict[str, typing.Any]:
        full = self._full(key)
        return self._call("inspect", key, lambda: self.client.head_object(Bucket=self.bucket, Key=full))

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except KeyError:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def delete(self, key: str) -> None:
        full = self._full(key)
        try:
            self._call("delete", key, lambda: self.client.delete_object(Bucket=self.bucket, Key=full))
        except KeyError:
            pass  # some S3 clones answer 404 where AWS answers 204; both mean "gone"

    def _iter_full_keys(self, prefix: str) -> typing.Iterator[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for obj in page.get("Contents", ()):
                    yield obj["Key"]
        except (ClientError, BotoCoreError) as exc:
            raise self._error("list", prefix, exc) from exc

    def list(self, prefix: str = "") -> list[str]:
        cut = len(self.prefix)
        return sorted(full[cut:] for full in self._iter_full_keys(prefix))

    def delete_prefix(self, prefix: str) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        count = 0
        batch: list[str] = []

        def flush() -> int:
            try:
                resp = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            except (ClientError, BotoCoreError) as exc:
                raise self._error("delete objects under", prefix, exc) from exc
            errors = resp.get("Errors") or []
            if errors:
                first = errors[0]
                raise StorageError(
                    f"S3 could not delete {len(errors)} object(s) under {prefix!r}, "
                    f"e.g. {first.get('Key')!r}: {first.get('Code')} {first.get('Message')}"
                )
            return len(batch)

        # Collect first: deleting while paginating can make S3 skip keys.
        for full in list(self._iter_full_keys(prefix)):
            batch.append(full)
            if len(batch) == 1000:  # DeleteObjects' per-request limit
                count += flush()
                batch = []
        if batch:
            count += flush()
        return count

    def copy(self, src_key: str, dst_key: str) -> None:
        from botocore.exceptions import ClientError

        src_full = self._full(src_key)
        dst_full = self._full(dst_key)
        source = {"Bucket": self.bucket, "Key": src_full}
        if src_full == dst_full:
            # S3 refuses a copy onto itself that changes nothing; it would be a no-op anyway.
            if not self.exists(src_key):
                raise KeyError(src_key)
            return
        try:
            self._call(
                "copy",
                src_key,
                lambda: self.client.copy_object(Bucket=self.bucket, Key=dst_full, CopySource=source),
            )
        except StorageError as exc:
            cause = exc.__cause__
            code = (
                str(cause.response.get("Error", {}).get("Code", ""))
                if isinstance(cause, ClientError)
                else ""
            )
            if code not in ("InvalidRequest", "EntityTooLarge"):
                raise
            # CopyObject stops at 5 GB; the managed copy uses UploadPartCopy, still server-side.
            self._call(
                "copy", src_key, lambda: self.client.copy(source, self.bucket, dst_full)
            )

    def signed_url(
        self,
        key: str,
        expires_in: int = 3600,
        filename: str | None = None,
        base_url: str = "",
    ) -> str:
        """A SigV4 presigned GET; ``base_url`` is ignored because S3 serves the bytes itself."""
        if expires_in > S3_MAX_EXPIRES:
            raise ValueError(f"S3 signed URLs expire within {S3_MAX_EXPIRES} seconds")
        params: dict[str, str] = {"Bucket": self.bucket, "Key": self._full(key)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        return self._call(
            "sign",
            key,
            lambda: self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=int(expires_in)
            ),
        )


class _CountingReader:
    """Wraps a stream so we can report the size of what upload_fileobj sent."""

    def __init__(self, raw: typing.BinaryIO) -> None:
        self._raw = raw
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self.count += len(chunk)
        return chunk


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
