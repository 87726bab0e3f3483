"""The storage contract, run against LocalStorage and S3Storage (moto over HTTP) alike."""

from __future__ import annotations

import io
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from core.storage import (
    LocalStorage,
    S3Storage,
    SignedUrlError,
    Storage,
    StorageError,
    create_storage,
)
from tests.fixtures.s3 import REGION, s3_server, s3_storage  # noqa: F401

SECRET = "test-secret-key"


@pytest.fixture
def local_storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media", secret_key=SECRET)


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> Storage:
    return request.getfixturevalue(f"{request.param}_storage")


KEY = "projects/demo/media/abc123/poster.png"


# -- the shared contract -------------------------------------------------------------


def test_put_get_round_trip(storage: Storage) -> None:
    payload = bytes(range(256)) * 10
    assert storage.put(KEY, payload, "image/png") == len(payload)
    assert storage.get(KEY) == payload


def test_put_accepts_streams_and_overwrites(storage: Storage) -> None:
    storage.put(KEY, b"old")
    assert storage.put(KEY, io.BytesIO(b"new contents"), "image/png") == len(b"new contents")
    assert storage.get(KEY) == b"new contents"
    assert storage.size(KEY) == len(b"new contents")


def test_put_empty_object(storage: Storage) -> None:
    assert storage.put("projects/demo/empty.txt", b"") == 0
    assert storage.exists("projects/demo/empty.txt")
    assert storage.get("projects/demo/empty.txt") == b""


def test_put_file_and_download_to(storage: Storage, tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(200_000))
    assert storage.put_file(src, KEY, "video/mp4") == 200_000
    dest = tmp_path / "out" / "copy.bin"
    dest.parent.mkdir()
    storage.download_to(KEY, dest)
    assert dest.read_bytes() == src.read_bytes()


def test_exists_size_list_delete(storage: Storage) -> None:
    keys = [
        "projects/a/media/1/x.png",
        "projects/a/media/2/y.png",
        "projects/a/media/20/z.png",
        "projects/ab/media/1/w.png",
        "projects/b/media/1/v.png",
    ]
    for i, key in enumerate(keys):
        storage.put(key, b"x" * (i + 1))

    assert storage.exists(keys[0])
    assert not storage.exists("projects/a/media/1/missing.png")
    assert storage.size(keys[2]) == 3
    assert storage.list() == sorted(keys)
    assert storage.list("projects/a/") == keys[:3]
    # A plain string prefix, not a folder: "projects/a" also matches "projects/ab".
    assert storage.list("projects/a") == keys[:4]
    assert storage.list("projects/a/media/2") == keys[1:3]
    assert storage.list("projects/zzz/") == []

    storage.delete(keys[0])
    assert not storage.exists(keys[0])
    storage.delete(keys[0])  # idempotent

    assert storage.delete_prefix("projects/a/") == 2
    assert storage.list() == keys[3:]
    assert storage.delete_prefix("projects/a/") == 0
    assert storage.delete_prefix("") == 2
    assert storage.list() == []


def test_copy(storage: Storage) -> None:
    storage.put(KEY, b"original", "image/png")
    dst = "projects/clone/media/abc123/poster.png"
    storage.copy(KEY, dst)
    assert storage.get(dst) == b"original"
    # The copy is independent: rewriting or deleting the source leaves it intact.
    storage.put(KEY, b"changed")
    assert storage.get(dst) == b"original"
    storage.delete(KEY)
    assert storage.get(dst) == b"original"
    # Copying onto an existing key replaces it.
    storage.put(KEY, b"again")
    storage.copy(KEY, dst)
    assert storage.get(dst) == b"again"
    storage.copy(dst, dst)  # copy onto itself is a harmless no-op
    assert storage.get(dst) == b"again"


def test_missing_key_raises_key_error(storage: Storage, tmp_path: Path) -> None:
    missing = "projects/demo/media/none/nothing.bin"
    with pytest.raises(KeyError):
        storage.get(missing)
    with pytest.raises(KeyError):
        storage.size(missing)
    with pytest.raises(KeyError):
        storage.download_to(missing, tmp_path / "never.bin")
    assert not (tmp_path / "never.bin").exists()
    with pytest.raises(KeyError):
        storage.copy(missing, "projects/demo/elsewhere.bin")
    assert not storage.exists("projects/demo/elsewhere.bin")
    storage.delete(missing)  # no error
    assert not storage.exists(missing)


@pytest.mark.parametrize(
    "bad_key", ["", "../escape", "a/../../escape", "/etc/passwd", "a\\b", "a\x00b", "a//b", "./a"]
)
def test_unsafe_keys_rejected(storage: Storage, bad_key: str) -> None:
    with pytest.raises(ValueError):
        storage.put(bad_key, b"x")
    with pytest.raises(ValueError):
        storage.get(bad_key)


# -- local backend ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_key", ["../escape", "a/../../escape", "/etc/passwd", "a\\..\\b", "a\x00b", "..", "a/.."]
)
def test_local_path_for_rejects_traversal(local_storage: LocalStorage, bad_key: str) -> None:
    with pytest.raises(ValueError):
        local_storage.path_for(bad_key)


def test_local_path_for_stays_under_root(local_storage: LocalStorage, tmp_path: Path) -> None:
    path = local_storage.path_for(KEY)
    assert path == local_storage.root / "projects/demo/media/abc123/poster.png"
    # A symlinked folder inside the root must not lead outside it.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (local_storage.root / "link").symlink_to(outside)
    with pytest.raises(ValueError):
        local_storage.path_for("link/secret.txt")


def test_local_put_is_atomic(local_storage: LocalStorage) -> None:
    local_storage.put(KEY, b"complete")

    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def read(self, size: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 1:
                raise OSError("network went away")
            return b"partial"

    with pytest.raises(StorageError, match="poster.png"):
        local_storage.put(KEY, Broken())  # type: ignore[arg-type]
    assert local_storage.get(KEY) == b"complete"
    leftovers = [p.name for p in local_storage.path_for(KEY).parent.iterdir()]
    assert leftovers == ["poster.png"]


def test_local_delete_prunes_empty_folders(local_storage: LocalStorage) -> None:
    local_storage.put("projects/gone/media/1/a.bin", b"a")
    local_storage.delete_prefix("projects/gone/")
    assert not (local_storage.root / "projects").exists()
    assert local_storage.root.is_dir()


def test_local_copy_uses_file_copy_not_read(local_storage: LocalStorage, monkeypatch) -> None:
    local_storage.put(KEY, b"data")
    monkeypatch.setattr(
        LocalStorage, "get", lambda *a, **k: pytest.fail("copy must not read through get()")
    )
    local_storage.copy(KEY, "projects/other/poster.png")
    assert local_storage.path_for("projects/other/poster.png").read_bytes() == b"data"


def test_local_copy_refuses_symlinks_out_of_the_root_and_follows_those_inside(
    local_storage: LocalStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (local_storage.root / "projects").mkdir()
    (local_storage.root / "projects" / "leak").symlink_to(outside)
    with pytest.raises(ValueError):
        local_storage.copy("projects/leak/secret.txt", "projects/mine/secret.txt")
    local_storage.put(KEY, b"data")
    with pytest.raises(ValueError):
        local_storage.copy(KEY, "projects/leak/planted.png")
    assert not (outside / "planted.png").exists() and not local_storage.exists("projects/mine/secret.txt")
    # A symlink that stays inside the root is an ordinary folder.
    (local_storage.root / "projects" / "alias").symlink_to(local_storage.root / "projects" / "demo")
    local_storage.copy("projects/alias/media/abc123/poster.png", "projects/copied/poster.png")
    assert local_storage.get("projects/copied/poster.png") == b"data"
    # Missing sources and folders are not objects.
    with pytest.raises(KeyError):
        local_storage.copy("projects/demo/media/abc123", "projects/x/y.png")
    with pytest.raises(KeyError):
        local_storage.copy("projects/demo/media/nothing/here.png", "projects/x/y.png")
    with pytest.raises(KeyError):
        local_storage.copy("projects/demo/media/abc123/poster.png/below", "projects/x/y.png")


def test_local_signed_url_round_trip(local_storage: LocalStorage) -> None:
    url = local_storage.signed_url(KEY, filename="Poster.png", base_url="https://cms.example/")
    assert url.startswith("https://cms.example/api/v1/files/")
    token = url.rsplit("/", 1)[1]
    assert local_storage.verify_token(token) == KEY
    info = local_storage.read_token(token)
    assert (info.key, info.filename) == (KEY, "Poster.png")

    relative = local_storage.signed_url(KEY)
    assert relative.startswith("/api/v1/files/")


def test_local_signed_url_tampered(local_storage: LocalStorage, tmp_path: Path) -> None:
    token = local_storage.signed_url(KEY).rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (tampered, "not-a-token", ""):
        with pytest.raises(SignedUrlError) as err:
            local_storage.verify_token(bad)
        assert err.value.expired is False
    # A token from another installation (other secret) is not accepted either.
    other = LocalStorage(tmp_path / "other", secret_key="another-secret")
    foreign = other.signed_url(KEY).rsplit("/", 1)[1]
    with pytest.raises(SignedUrlError) as err:
        local_storage.verify_token(foreign)
    assert err.value.expired is False


@pytest.mark.parametrize("expires_in", [-1, 0])
def test_local_signed_url_expired(local_storage: LocalStorage, expires_in: int) -> None:
    token = local_storage.signed_url(KEY, expires_in=expires_in).rsplit("/", 1)[1]
    with pytest.raises(SignedUrlError) as err:
        local_storage.verify_token(token)
    assert err.value.expired is True
    assert isinstance(err.value, StorageError)


def test_local_signed_url_refuses_unsafe_key(local_storage: LocalStorage) -> None:
    with pytest.raises(ValueError):
        local_storage.signed_url("../../etc/passwd")


# -- S3 backend ------------------------------------------------------------------------


def test_s3_presigned_url(s3_storage: S3Storage) -> None:
    s3_storage.put(KEY, b"png bytes", "image/png")
    url = s3_storage.signed_url(KEY, expires_in=300, filename='Shot "1" é.png')

    resp = requests.get(url, timeout=60)
    assert resp.status_code == 200
    assert resp.content == b"png bytes"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''Shot%20%221%22%20%C3%A9.png" in disposition

    sig = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    forged_sig = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    assert requests.get(forged_sig, timeout=60).status_code == 403
    # Pointing a valid signature at another object is refused too.
    s3_storage.put("projects/demo/secret.bin", b"secret")
    other_key = url.replace("media/abc123/poster.png", "secret.bin")
    assert requests.get(other_key, timeout=60).status_code == 403


def test_s3_presigned_url_expiry_is_bounded(s3_storage: S3Storage) -> None:
    with pytest.raises(ValueError):
        s3_storage.signed_url(KEY, expires_in=8 * 24 * 3600)


def test_s3_copy_is_server_side(s3_storage: S3Storage) -> None:
    s3_storage.put(KEY, b"a large video", "video/mp4")
    calls: list[str] = []
    s3_storage.client.meta.events.register(
        "before-call.s3", lambda model, **_: calls.append(model.name)
    )
    s3_storage.copy(KEY, "projects/clone/media/abc123/poster.png")
    assert calls == ["CopyObject"]
    assert "GetObject" not in calls

    head = s3_storage.client.head_object(
        Bucket=s3_storage.bucket, Key="projects/clone/media/abc123/poster.png"
    )
    assert head["ContentType"] == "video/mp4"  # metadata travels with a server-side copy


def test_s3_stores_content_type(s3_storage: S3Storage, tmp_path: Path) -> None:
    s3_storage.put("a/b.png", b"x", "image/png")
    s3_storage.put("a/c.webm", io.BytesIO(b"x"), "video/webm")
    src = tmp_path / "d.mp3"
    src.write_bytes(b"x")
    s3_storage.put_file(src, "a/d.mp3", "audio/mpeg")
    for key, ctype in (("a/b.png", "image/png"), ("a/c.webm", "video/webm"), ("a/d.mp3", "audio/mpeg")):
        head = s3_storage.client.head_object(Bucket=s3_storage.bucket, Key=key)
        assert head["ContentType"] == ctype


def test_s3_prefix_isolates_keys(s3_storage: S3Storage, s3_server: str) -> None:
    scoped = S3Storage(s3_storage.bucket, prefix="/tenant-1/", endpoint_url=s3_server, region=REGION)
    s3_storage.put("outside.txt", b"o")
    scoped.put("media/x.txt", b"x")
    assert scoped.list() == ["media/x.txt"]
    assert s3_storage.list() == ["outside.txt", "tenant-1/media/x.txt"]
    assert scoped.get("media/x.txt") == b"x"
    scoped.copy("media/x.txt", "media/y.txt")
    assert s3_storage.exists("tenant-1/media/y.txt")
    assert scoped.delete_prefix("") == 2
    assert s3_storage.list() == ["outside.txt"]


def test_s3_failure_names_the_key(s3_server: str) -> None:
    missing_bucket = S3Storage("aladdin-no-such-bucket", endpoint_url=s3_server, region=REGION)
    with pytest.raises(StorageError, match="poster.png"):
        missing_bucket.get(KEY)
    with pytest.raises(StorageError, match="poster.png"):
        missing_bucket.put(KEY, b"x")


# -- create_storage --------------------------------------------------------------------


def test_create_storage_file(tmp_path: Path) -> None:
    storage = create_storage(f"file://{tmp_path}/media", secret_key=SECRET)
    assert isinstance(storage, LocalStorage)
    assert storage.scheme == "file"
    assert storage.root == (tmp_path / "media").resolve()


def test_create_storage_s3() -> None:
    storage = create_storage(
        "s3://media-bucket/aladdin/prod", secret_key=SECRET, s3_endpoint_url="http://minio:9000"
    )
    assert isinstance(storage, S3Storage)
    assert storage.scheme == "s3"
    assert (storage.bucket, storage.prefix, storage.endpoint_url) == (
        "media-bucket",
        "aladdin/prod/",
        "http://minio:9000",
    )
    bare = create_storage("s3://media-bucket", secret_key=SECRET)
    assert isinstance(bare, S3Storage) and bare.prefix == "" and bare.endpoint_url is None


@pytest.mark.parametrize(
    "url", ["", "media", "http://example.com/x", "ftp://host/x", "file://relative/path", "s3://", "s3:///prefix"]
)
def test_create_storage_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match="file:///|s3://"):
        create_storage(url, secret_key=SECRET)
