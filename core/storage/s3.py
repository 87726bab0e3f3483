"""``S3Storage``: media in one bucket of AWS S3 or an S3-compatible service, through boto3."""

from __future__ import annotations

import os
import typing

from .base import Data, Storage, StorageError, _validate_key
from .signing import content_disposition, served_type

# SigV4 presigned URLs cannot outlive seven days; failing early beats a URL S3 rejects.
S3_MAX_EXPIRES = 7 * 24 * 3600


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
        content_type: str | None = None,
    ) -> str:
        """A SigV4 presigned GET; ``base_url`` is ignored because S3 serves the bytes itself."""
        if expires_in > S3_MAX_EXPIRES:
            raise ValueError(f"S3 signed URLs expire within {S3_MAX_EXPIRES} seconds")
        params: dict[str, str] = {"Bucket": self.bucket, "Key": self._full(key)}
        params["ResponseContentDisposition"] = content_disposition(filename or key.rsplit("/", 1)[-1])
        params["ResponseContentType"] = served_type(content_type, filename or key)
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
